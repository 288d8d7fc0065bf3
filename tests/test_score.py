"""tuneoff score: a finished run's kept checkpoints scored on another test set, into the run, as a configured
[[eval]] entry would have been."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, write_trees
from test_datasets import SST2_EXTRA

from tuneoff.cli import main
from tuneoff.data import Sst2, Sst5
from tuneoff.run.score import SST5_TO_SST2, label_table, parse_label_map
from tuneoff.store.runfolder import RunFolder

LEARN = ["--set", "protocol.epochs=4", "--set", "protocol.learning_rate=1e-2"]  # so that they do not collapse
CORE = ("dataset", "examples", "accuracy", "macro_f1", "unmapped_predictions", "sha256", "predictions", "labels")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """Two players trained with SST-2 as a configured extra test set (its scores are the reference)."""
    root = tmp_path_factory.mktemp("scored")
    (root / "tiny.toml").write_text(TINY_CONFIG + SST2_EXTRA)
    data = write_trees(root / "sst5")
    assert (
        main(
            ["run", str(root / "tiny.toml"), "--data-dir", str(data), "--out", str(root / "run"), "--no-report", *LEARN]
        )
        == 0
    )
    return root / "run", data


@pytest.fixture
def run(trained, tmp_path) -> tuple[Path, Path]:
    shutil.copytree(trained[0], tmp_path / "run")
    return tmp_path / "run", trained[1]


def results(folder: Path) -> list[dict]:
    return RunFolder(folder).results()


def test_scoring_gives_what_the_configured_eval_gave_and_replaces_it(run):
    folder, data = run
    before = results(folder)
    assert [r["player"]["name"] for r in before] == ["full", "lora"]
    assert main(["score", str(folder), "--dataset", "sst2", "--data-dir", str(data)]) == 0
    after = results(folder)
    for old, new in zip(before, after):
        assert list(new["extra_eval"]) == ["sst2"]  # replaced, not added beside
        entry = new["extra_eval"]["sst2"]
        assert old["extra_eval"]["sst2"].pop("seconds") > 0  # the configured eval's scoring time
        assert {k: entry[k] for k in CORE} == old["extra_eval"]["sst2"]
        assert entry["label_map"] == SST5_TO_SST2 and entry["scored_by"] == "tuneoff score"
        assert new["job_hash"] == old["job_hash"] and new["test"] == old["test"]


def test_the_run_own_test_set_by_name_scores_its_test_accuracy_and_twice_keeps_one_entry(run, capsys):
    folder, data = run
    assert main(["score", str(folder), "--dataset", "sst5", "--data-dir", str(data)]) == 0
    first = results(folder)
    for r in first:  # the same sentences, the same labels, the same weights: the test accuracy itself
        assert r["extra_eval"]["sst5"]["accuracy"] == r["test"]["accuracy"]
        assert r["extra_eval"]["sst5"]["macro_f1"] == pytest.approx(r["test"]["macro_f1"])
        assert r["extra_eval"]["sst5"]["unmapped_predictions"] == 0 and r["extra_eval"]["sst5"]["examples"] == 25
        assert r["extra_eval"]["sst5"]["label_map"] == {n: n for n in r["labels"]}
    assert main(["score", str(folder), "--dataset", "sst5", "--data-dir", str(data)]) == 0
    again = results(folder)
    for a, b in zip(first, again):
        assert sorted(b["extra_eval"]) == ["sst2", "sst5"]
        assert {k: b["extra_eval"]["sst5"][k] for k in CORE} == {k: a["extra_eval"]["sst5"][k] for k in CORE}
    assert main(["leaderboard", str(folder)]) == 0
    board = json.loads((folder / "leaderboard.json").read_text())
    for row in board["ranked"]:
        mine = next(r for r in again if r["player"]["name"] == row["player"])
        assert row["extra_eval"]["sst5"]["mean"] == mine["test"]["accuracy"]
    assert board["stale"] == []
    assert main(["report", str(folder)]) == 0
    md = (folder / "report.md").read_text()
    table = md[md.index("Across data sets") :]
    assert "| sst2 | sst5 |" in table and f"{again[0]['test']['accuracy']:.2%}" in table
    assert "sst5 test accuracy" in capsys.readouterr().out


def test_a_label_map_decides_where_each_label_goes(run):
    folder, data = run
    five_to_two = "very negative=negative, negative=negative,neutral=negative,positive=positive,very positive=positive"
    assert main(["score", str(folder), "--dataset", "sst2", "--data-dir", str(data), "--label-map", five_to_two]) == 0
    sst2 = Sst2(verify=False).load(data)
    for r in results(folder):
        entry = r["extra_eval"]["sst2"]
        # SST-2's test sentences are SST-5's without the neutral ones, in order: the SST-5 predictions mapped by
        # hand (neutral now -> negative) give the score independently of the scoring code.
        kept = [(p, y) for p, y in zip(r["test"]["predictions"], r["test"]["labels"]) if y != 2]
        assert [int(y > 2) for _, y in kept] == list(sst2.test.labels)
        right = sum(int(p > 2) == int(y > 2) for p, y in kept)
        assert entry["accuracy"] == right / len(kept) and entry["unmapped_predictions"] == 0
        assert entry["label_map"]["neutral"] == "negative"


def test_a_label_map_naming_unknown_labels_is_refused_and_writes_nothing(run, capsys):
    folder, data = run
    before = {p: p.read_bytes() for p in sorted(folder.rglob("result.json"))}
    assert (
        main(["score", str(folder), "--dataset", "sst2", "--data-dir", str(data), "--label-map", "very negative=awful"])
        == 2
    )
    out = capsys.readouterr().out
    assert "--label-map: label_map names ['awful']" in out and "sst2's: ['negative', 'positive']" in out
    assert {p: p.read_bytes() for p in sorted(folder.rglob("result.json"))} == before
    assert main(["score", str(folder.parent), "--dataset", "sst2", "--data-dir", str(data)]) == 2
    assert "not a tuneoff run folder" in capsys.readouterr().out


def test_label_tables_default_by_name_or_sst5_onto_sst2_else_refuse(tree_dir):
    sst2, sst5 = Sst2(verify=False).load(tree_dir), Sst5(verify=False).load(tree_dir)
    assert label_table(sst5.labels, sst2, None) == SST5_TO_SST2
    assert label_table(("positive", "negative"), sst2, None) == {"positive": "positive", "negative": "negative"}
    assert label_table(sst5.labels, sst2, {"neutral": "negative"}) == {"neutral": "negative"}
    with pytest.raises(
        ValueError,
        match=r"the run's labels \['negative', 'positive'\] are not sst5's \['very "
        r"negative', .*'very positive'\]: say where each goes with --label-map",
    ):
        label_table(("negative", "positive"), sst5, None)
    assert parse_label_map(" very negative = negative,neutral=negative ") == {
        "very negative": "negative",
        "neutral": "negative",
    }
    for bad in ("neutral", "=negative", ",", "neutral=,"):
        with pytest.raises(ValueError, match="--label-map"):
            parse_label_map(bad)
