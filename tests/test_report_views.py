"""The report's interactive view: the jobs it shows, its Vega-Lite specs, the inlined JavaScript. No browser here
(tests/test_report_browser.py draws it)."""

from __future__ import annotations

import json
import re
import sys
import types

import pytest
from test_report import make_seeded_run  # tests/ is on sys.path (pytest's default import mode)

from tuneoff.report import embed, views
from tuneoff.report.figures import looks
from tuneoff.verdict.board import read_run


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    run = read_run(make_seeded_run(tmp_path_factory.mktemp("run"), players=3, seeds=2))
    return run, views.jobs(run.board["ranked"], run.completed), looks(run.names)


def test_one_record_per_job_with_its_numbers_in_rank_order(small):
    _, jobs, _ = small
    assert [(j["player"], j["job"], j["accuracy"], j["seconds"], j["trainable"]) for j in jobs] == [
        ("p01-full", "seed-1", 0.71, 11.0, 1_000_000),
        ("p01-full", "seed-2", 0.72, 12.0, 1_000_000),
        ("p02-lora", "seed-1", 0.69, 21.0, 5_000),
        ("p02-lora", "seed-2", 0.7, 22.0, 5_000),
        ("p03-bitfit", "seed-1", 0.67, 31.0, 1_200),
        ("p03-bitfit", "seed-2", 0.68, 32.0, 1_200),
    ]
    assert {(j["strategy"], j["dataset"], j["collapsed"]) for j in jobs} - {("full", "unit", False)} == {
        ("lora", "unit", False),
        ("bitfit", "unit", False),
    }


def test_charts_follow_the_leaderboard_filter_and_show_each_job_on_hover(small):
    _, jobs, look = small
    for spec in (views.strip(jobs, look), views.pareto(jobs, look)):
        assert spec["params"] == [
            {"name": "f_player", "value": ""},
            {"name": "f_strategy", "value": ""},
            {"name": "f_dataset", "value": ""},
        ]
        layers = spec.get("hconcat", [spec])
        for layer in layers:
            assert layer["data"]["values"] == jobs
            assert layer["transform"] == [{"filter": views.KEEP}]
            assert [t["field"] for t in layer["encoding"]["tooltip"]] == [
                "player",
                "strategy",
                "dataset",
                "job",
                "accuracy",
                "seconds",
                "trainable",
            ]
            assert layer["encoding"]["color"]["scale"] == {
                "domain": ["p01-full", "p02-lora", "p03-bitfit"],
                "range": [look[n].color for n in look],
            }
    assert views.KEEP == (
        "(f_player == '' || datum.player == f_player) && (f_strategy == '' || datum.strategy == "
        "f_strategy) && (f_dataset == '' || datum.dataset == f_dataset)"
    )


def test_cost_axes_go_logarithmic_when_costs_span_decades(small):
    _, jobs, look = small
    time, params = (panel["encoding"]["x"] for panel in views.pareto(jobs, look)["hconcat"])
    assert (time["field"], time["scale"]) == ("seconds", {"zero": True, "padding": 12})  # 11 to 32 s
    assert (params["field"], params["scale"]) == ("trainable", {"type": "log", "padding": 12})  # 1,200 to 10^6


def test_loss_curves_pick_one_player_from_a_dropdown(small):
    run, _, _ = small
    points = views.curves(run.names, run.completed)
    assert len(points) == 3 * 2 * 3 * 2  # players x seeds x epochs x (train, dev)
    assert points[:2] == [
        {"player": "p01-full", "job": "seed-1", "epoch": 1, "loss": "train", "value": 1.48},
        {"player": "p01-full", "job": "seed-1", "epoch": 1, "loss": "dev", "value": 1.4},
    ]
    spec = views.loss_curves(points, "p02-lora")
    assert spec["params"] == [
        {
            "name": "curve_player",
            "value": "p02-lora",
            "bind": {"input": "select", "options": ["p01-full", "p02-lora", "p03-bitfit"], "name": "loss curves of "},
        }
    ]
    assert spec["transform"] == [{"filter": "datum.player == curve_player"}]


def test_the_view_adds_little_to_a_19_player_3_seed_report(tmp_path):
    run = read_run(make_seeded_run(tmp_path, players=19, seeds=3))
    jobs, look = views.jobs(run.board["ranked"], run.completed), looks(run.names)
    assert len(jobs) == 57
    specs = [
        views.strip(jobs, look),
        views.pareto(jobs, look),
        views.loss_curves(views.curves(run.names, run.completed), run.names[0]),
    ]
    size = sum(len(embed.view_html(str(i), s, True)) for i, s in enumerate(specs))
    assert 50_000 < size < 80_000  # measured 65.6 kB; the PNG figures of such a run take 4.2 MB
    assert 800_000 < len(embed.vega_bundle()) < 1_000_000  # Vega, Vega-Lite and vega-embed: 0.9 MB


def test_the_bundle_is_cached_per_version(tmp_path, monkeypatch):
    calls = []
    fake = types.SimpleNamespace(javascript_bundle=lambda vl_version: calls.append(vl_version) or "window.vega=1;")
    monkeypatch.setitem(sys.modules, "vl_convert", fake)
    monkeypatch.setattr(embed, "cache_dir", lambda: tmp_path)
    build = embed.vega_bundle.__wrapped__  # past the in-process cache
    assert build() == build() == "window.vega=1;"
    assert calls == [embed.vegalite_version()]  # bundled once, then read from the cache folder
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith(f"vega-embed-vl{embed.vegalite_version()}-vlconvert")
    assert cached.read_text() == "window.vega=1;"


def test_scripts_and_specs_cannot_end_their_element_early():
    assert embed.script("a < b") == "<script>a < b</script>"
    for bad in ("x = '</script>'", "x = '</SCRIPT '", "<!-- y"):
        with pytest.raises(ValueError, match="cannot inline"):
            embed.script(bad)
    text = embed.view_html("x", {"title": "</script><b>"}, False)
    assert text.count("</script>") == 1
    assert json.loads(re.search(r'id="spec-x">(.*)</script>$', text).group(1)) == {"title": "</script><b>"}
