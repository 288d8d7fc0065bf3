"""The report stage: built from results files alone (no training, no torch), numbers match the JSON."""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from factories import HARDWARE, PROTOCOL, SCRIPT, completed, confusion, failed  # tests/ is on sys.path

from tuneoff.report.build import build_report
from tuneoff.report.figures import pareto_front
from tuneoff.report.render import md_text
from tuneoff.store.files import write_json
from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict import rules as leaderboard


def make_run(folder: Path) -> Path:
    """4 players with results (2 healthy, 1 collapsed, 1 failed) and one listed player without any."""
    results = [
        completed("full", confusion([6, 12, 20, 18, 9]), train_seconds=100.0, trainable=1_000_000),  # 65 %
        completed(
            "lora",
            confusion([5, 10, 18, 16, 8]),
            train_seconds=20.0,
            trainable=5_000,
            total=1_005_000,
            overrides={"learning_rate": 5e-4},
        ),  # 57 %, fastest
        completed(
            "collapsed",
            confusion([0, 0, 30, 0, 0], to=2),
            train_seconds=5.0,
            trainable=1_000,
            dev_acc=(0.3, 0.3, 0.3),
            warnings=[f"random base {SCRIPT}"],
        ),  # 30 % = majority
        failed("broken", "NonFiniteLoss: training loss became nan at epoch 2, step 40", warnings=["lr is high"]),
    ]
    for r in results:
        RunFolder(folder).job(r["player"]["name"], "seed-42").write_result(r)
    players = [dict(r["player"]) for r in results]
    players.append(
        {
            "name": "ghost",
            "description": "",
            "model": {"kind": "random", "size": "tiny"},
            "strategy": {"name": "full"},
            "protocol": {},
        }
    )
    write_json(
        folder / "tournament.json",
        {
            "config": {
                "tournament": {
                    "name": "unit",
                    "description": "unit-test tournament",
                    "fastest_bonus": 10.0,
                    "speed_metric": "train_seconds",
                    "overridable": ["learning_rate"],
                },
                "protocol": PROTOCOL,
                "data": {"dir": None, "verify": False},
                "players": players,
            },
            "config_file": "unit.toml",
            "written_at": "2026-01-01T00:00:00+00:00",
        },
    )
    return folder


STRATEGIES = {"full": 1_000_000, "lora": 5_000, "bitfit": 1_200, "head": 3_845}  # trainable parameters


def make_seeded_run(folder: Path, players: int, seeds: int) -> Path:
    """players x seeds completed jobs, the strategies in turn; accuracy falls with the player's index."""
    results = []
    for i in range(players):
        strategy = list(STRATEGIES)[i % len(STRATEGIES)]
        for s in range(1, seeds + 1):
            share = 0.7 - 0.02 * i + 0.01 * s  # of every test class right
            r = completed(
                f"p{i + 1:02d}-{strategy}",
                confusion([round(share * n) for n in (10, 20, 30, 25, 15)]),
                train_seconds=10.0 * (i + 1) + s,
                trainable=STRATEGIES[strategy],
                seed=s,
            )
            r["player"]["strategy"] = r["job"]["player"]["strategy"] = {"name": strategy}
            for e in r["history"]["epochs"]:
                e["train_loss"] += 0.05 * i - 0.02 * s
            results.append(r)
            RunFolder(folder).job(r["player"]["name"], f"seed-{s}").write_result(r)
    write_json(
        folder / "tournament.json",
        {
            "config": {
                "tournament": {
                    "name": "unit",
                    "seeds": list(range(1, seeds + 1)),
                    "fastest_bonus": 10.0,
                    "speed_metric": "train_seconds",
                    "overridable": ["learning_rate"],
                },
                "protocol": PROTOCOL,
                "data": {"dir": None, "verify": False},
                "players": list({r["player"]["name"]: r["player"] for r in results}.values()),
            },
            "config_file": "unit.toml",
            "written_at": "2026-01-01T00:00:00+00:00",
        },
    )
    return folder


class Page(HTMLParser):
    """What the tests need from report.html: images, resource URLs, leaderboard rows' text."""

    def __init__(self, text: str):
        super().__init__()
        self.images, self.urls, self.rows, self.tags, self.scripts = [], [], {}, set(), []
        self._row = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(a)
        if tag == "script":
            self.scripts.append(a)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "tr" and "data-player" in a:
            self._row = a["data-player"]
            self.rows.setdefault(self._row, [])
        if tag == "span" and self._row and "badge" in a.get("class", ""):
            self.rows[self._row].append(f"[{a['class']}]")

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._row:
            self.rows[self._row].append(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = make_run(tmp_path_factory.mktemp("run"))
    paths = build_report(folder)
    assert paths == {"html": folder / "report.html", "md": folder / "report.md"}
    board = leaderboard.build(RunFolder(folder).results(), 10.0, "train_seconds")
    html_text, md_text = paths["html"].read_text(), paths["md"].read_text()
    return folder, board, html_text, Page(html_text), md_text


def md_row(md: str, player: str) -> str:
    """The player's row of the Markdown verdict table (rank | rank interval | player | ...; "–": not ranked)."""
    rows = [line for line in md.splitlines() if re.match(rf"\| [\d–]+ \| [\d–]+ \| {re.escape(player)} \|", line)]
    assert len(rows) == 1, (player, rows)
    return rows[0]


def md_game_row(md: str, player: str) -> str:
    """The player's row of the Markdown game-score table (game rank | player | points | ...)."""
    rows = [line for line in md.splitlines() if re.match(rf"\| \d+ \| {re.escape(player)} \| [\d.]+ \|", line)]
    assert len(rows) == 1, (player, rows)
    return rows[0]


def test_leaderboard_numbers_match_the_results(run):
    folder, board, html_text, page, md = run
    ranked = {r["player"]: r for r in board["ranked"]}
    assert [r["player"] for r in board["ranked"]] == ["full", "lora", "collapsed"]  # the verdict: by accuracy
    expected = {"lora": ("67.00", "57.00%"), "full": ("65.00", "65.00%"), "collapsed": ("30.00", "30.00%")}
    for name, (points, accuracy) in expected.items():
        r = ranked[name]
        assert f"{r['points']:.2f}" == points and f"{r['test_accuracy']:.2%}" == accuracy
        assert points in md_game_row(md, name)
        for text in [md_row(md, name), " ".join(page.rows[name])]:
            lo, hi = r["test_accuracy_ci95"]
            for value in (
                accuracy,
                f"{r['macro_f1']:.3f}",
                f"{r['trainable_parameters']:,}",
                f"{r['total_parameters']:,}",
                f"{lo:.2%} – {hi:.2%}",
                "900.0 MiB",
            ):
                assert value in text, (name, value, text)
    assert md_row(md, "full").startswith("| 1 | 1 |") and md_row(md, "collapsed").startswith("| – | – |")
    assert md_game_row(md, "lora").startswith("| 1 |") and md_game_row(md, "full").startswith("| 2 |")
    md_order = [md.index(md_row(md, n)) for n in ("full", "lora", "collapsed")]
    assert md_order == sorted(md_order)
    for text in (md, html_text):
        assert "Majority-class rate (always answering the largest test class): 30.00%" in text
        assert "full has the best of the trained models here" in text  # one seed each: trained models


def test_collapsed_badge_and_fastest_marker_only_where_earned(run):
    _, board, html_text, page, md = run
    for r in board["ranked"]:
        html_row, row = " ".join(page.rows[r["player"]]), md_row(md, r["player"])
        assert ("badge collapsed" in html_row) == r["collapsed"] == ("**COLLAPSED, not ranked**" in row)
        assert r["fastest"] == ("⚡ +10" in md_game_row(md, r["player"]))
        reason = f"{r['player']}: {r['collapse_reason']}"
        assert (f"COLLAPSED</span> {html.escape(reason)}</li>" in run[2]) == r["collapsed"]
        assert (f"- **COLLAPSED** {md_text(reason)}\n" in md) == r["collapsed"]
    assert [r["player"] for r in board["ranked"] if r["collapsed"]] == ["collapsed"]
    assert [r["player"] for r in board["ranked"] if r["fastest"]] == ["lora"]  # 'collapsed' is faster
    assert html_text.count('badge fastest">⚡ +10') == 1


def test_failed_and_missing_players_are_listed_with_why(run):
    _, _, html_text, page, md = run
    for text in (html_text, md):
        assert "Incomplete run" in text
        assert "NonFiniteLoss: training loss became nan at epoch 2, step 40" in text
        assert "no results file yet (players/ghost/seed-42/result.json)" in text
    assert "badge failed" in " ".join(page.rows["broken"]) and "badge missing" in " ".join(page.rows["ghost"])
    assert re.search(r"\| broken \| seed-42 \| \*\*failed\*\* \| NonFiniteLoss", md)
    assert re.search(r"\| ghost \| seed-42 \| \*\*missing\*\* \| no results file", md)


def test_html_is_one_self_contained_file(run):
    folder, _, html_text, page, _ = run
    assert len(page.images) == 11  # accuracy, pairwise, 3 x (curves, confusion), overlays, step losses, pareto
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(img["alt"]) > 30
    assert all(u.startswith(("data:", "#")) for u in page.urls), [u[:60] for u in page.urls]
    assert not {"link", "iframe", "object", "embed"} & page.tags
    # Scripts: the three charts' specs (data, never run), then Vega's bundle and view.js, all inline.
    assert page.scripts == [{"type": "application/json", "id": f"spec-{n}"} for n in ("jobs", "cost", "curves")] + [
        {},
        {},
    ]
    static = re.sub(r"<script\b[^>]*>.*?</script>", "", html_text, flags=re.S)
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//|url\(|@import", static)


def test_markdown_figures_exist_with_alt_text_and_captions(run):
    folder, _, html_text, page, md = run
    figures = re.findall(r"!\[([^\]]*(?:\\\][^\]]*)*)\]\(([^)\s]+)\)", md)
    assert len(figures) == len(page.images) == len(list((folder / "figures").glob("*.png")))
    for alt, ref in figures:
        assert not ref.startswith(("/", "http")) and ref.startswith("figures/")
        assert (folder / ref).read_bytes()[:4] == b"\x89PNG" and len(alt) > 30
        assert f"![{alt}]({ref})\n\n*" in md  # a caption follows each figure
    # The same pictures in both files.
    pngs = [base64.b64decode(i["src"].split(",", 1)[1]) for i in page.images]
    assert pngs == [(folder / ref).read_bytes() for _, ref in figures]


def test_sections_in_order_and_user_text_escaped(run):
    _, _, html_text, _, md = run
    for text in (html_text, md):
        heads = [
            text.index(h)
            for h in (
                "Leaderboard",
                "How sure we are",
                "Players",
                "All players compared",
                "Protocol, environment, warnings and failures",
            )
        ]
        assert heads == sorted(heads)
        for fact in ("learning_rate=0.0005", "Test CPU", "NonFiniteLoss", "lr is high", "random base"):
            assert fact in text
    assert SCRIPT not in html_text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html_text
    assert SCRIPT not in md and r"\<script\>alert('x')\</script\>" in md


def test_same_results_give_the_same_files(run, tmp_path):
    folder = run[0]
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    other = make_run(tmp_path / folder.name)
    build_report(other)
    build_report(folder)
    for rel, data in before.items():
        assert (folder / rel).read_bytes() == data, rel
        assert (other / rel).read_bytes() == data, rel


def test_the_card_states_the_board_the_report_rebuilds_never_a_stale_leaderboard_json(tmp_path):
    from tuneoff.report.card import Export, model_card
    from tuneoff.verdict.board import write

    folder = make_run(tmp_path / "run")
    results = RunFolder(folder).results()
    lora = next(r for r in results if r["player"]["name"] == "lora")
    lora = {**lora, "data": {**lora["data"], "name": "sst5"}}
    card = model_card(RunFolder(folder), lora, Export("out", adapter=False))  # no leaderboard.json yet
    # A leaderboard.json written before "full" finished: lora alone at the top.
    write(
        leaderboard.build([r for r in results if r["player"]["name"] != "full"], 10.0, "train_seconds"),
        RunFolder(folder),
    )
    assert model_card(RunFolder(folder), lora, Export("out", adapter=False)) == card
    assert "Rank 2 of 2, rank interval **2**" in card and "- full vs lora: +8.00" in card
    md = build_report(folder)["md"].read_text()
    assert md_row(md, "lora").startswith("| 2 | 2 | lora |")


def test_report_does_not_import_torch(tmp_path):
    folder = make_run(tmp_path / "run")
    code = (
        "import sys, pathlib; import tuneoff.report.build; from tuneoff.report.build import build_report; "
        f"build_report(pathlib.Path({str(folder)!r})); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    subprocess.run(
        [sys.executable, "-c", "import tuneoff.report.build, sys; assert 'torch' not in sys.modules"],
        check=True,
        timeout=60,
    )
    assert (folder / "report.html").is_file()


def minimal_tournament(folder, names):
    players = [
        {"name": n, "model": {"kind": "random", "size": "tiny"}, "strategy": {"name": "full"}, "protocol": {}}
        for n in names
    ]
    write_json(folder / "tournament.json", {"config": {"tournament": {"name": "unit"}, "players": players}})


def test_a_run_with_nothing_completed_still_renders(tmp_path):
    """One running and one interrupted player, one unreadable results file."""
    minimal_tournament(tmp_path, ["a", "b", "c"])
    RunFolder(tmp_path).job("a", "seed-42").write_result(failed("a", None, status="running"))
    RunFolder(tmp_path).job("b", "seed-42").write_result(
        failed("b", "stopped by the user (Ctrl-C)", status="interrupted")
    )
    (tmp_path / "players" / "c" / "seed-42").mkdir(parents=True)
    (tmp_path / "players" / "c" / "seed-42" / "result.json").write_text("{not json")
    paths = build_report(tmp_path)
    html_text, md = paths["html"].read_text(), paths["md"].read_text()
    for text in (html_text, md):
        assert "No player has completed yet" in text and "still training" in text
        assert "stopped by the user (Ctrl-C)" in text and "results file unreadable" in text and "not valid JSON" in text
    assert "<img" not in html_text and not list((tmp_path / "figures").glob("*.png"))


def test_players_on_other_hardware_share_the_verdict_not_the_bonus(tmp_path):
    other = {**HARDWARE, "cpu": "Other CPU"}
    for r in (
        completed("p1", confusion([6, 12, 20, 18, 9]), 10.0, 10),
        completed("p2", confusion([5, 10, 18, 16, 8]), 20.0, 10, hardware=other),
    ):
        RunFolder(tmp_path).job(r["player"]["name"], "seed-42").write_result(r)
    minimal_tournament(tmp_path, ["p1", "p2"])
    md = build_report(tmp_path)["md"].read_text()
    assert md_row(md, "p1").startswith("| 1 |") and md_row(md, "p2").startswith("| 2 |")  # one verdict table
    # one bonus per board, on one device (here the first by name, one player each): the other player gets none
    assert "⚡ +10" in md_game_row(md, "p2") and "⚡" not in md_game_row(md, "p1")
    assert "p1 ran no seed there: no share of the bonus" in md and "not comparable" in md


def test_pareto_front():
    points = [(3, 0.55), (1, 0.5), (2, 0.6), (0.5, 0.4), (2, 0.3), (4, 0.6)]
    assert pareto_front(points) == [(0.5, 0.4), (1, 0.5), (2, 0.6)]


def test_stale_figures_are_removed_but_only_our_own(tmp_path):
    from tuneoff.store.runfolder import RunFolder

    folder = make_run(tmp_path)
    build_report(folder)
    (folder / "figures" / "99-old-curves.png").write_bytes(b"old")  # as if drawn for a player since removed
    RunFolder(folder).record_generated([folder / "figures" / "99-old-curves.png"])
    (folder / "figures" / "holiday.png").write_bytes(b"a user's own picture")
    build_report(folder)
    assert not (folder / "figures" / "99-old-curves.png").exists()
    assert (folder / "figures" / "holiday.png").read_bytes() == b"a user's own picture"


def test_pareto_front_leaves_out_collapsed_players():
    from tuneoff.report import figures

    rows = [
        {
            "player": "cheap-collapsed",
            "train_seconds": 10.0,
            "trainable_parameters": 10,
            "test_accuracy": 0.28,
            "collapsed": True,
            "majority_rate": 0.286,
        },
        {
            "player": "fast",
            "train_seconds": 50.0,
            "trainable_parameters": 1000,
            "test_accuracy": 0.40,
            "collapsed": False,
            "majority_rate": 0.286,
        },
        {
            "player": "slow-better",
            "train_seconds": 300.0,
            "trainable_parameters": 100,
            "test_accuracy": 0.50,
            "collapsed": False,
            "majority_rate": 0.286,
        },
        {
            "player": "dominated",
            "train_seconds": 400.0,
            "trainable_parameters": 5000,
            "test_accuracy": 0.45,
            "collapsed": False,
            "majority_rate": 0.286,
        },
    ]
    assert figures.pareto_front([(1, 0.2), (2, 0.1), (3, 0.5), (3, 0.4)]) == [(1, 0.2), (3, 0.5)]
    chart = figures.pareto(rows, figures.looks([r["player"] for r in rows]))
    assert "Pareto front by time: fast, slow-better;" in chart.alt
    assert "by parameters: slow-better." in chart.alt
    assert chart.png.startswith(b"\x89PNG")
