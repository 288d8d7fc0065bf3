"""tuneoff compare: players of two runs on the same test sentences, with the board's own statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import PROTOCOL, failed, noisy  # tests/ is on sys.path

from tuneoff.cli import main
from tuneoff.store.files import write_json
from tuneoff.store.runfolder import RunFolder, RunFolderError, seed_label
from tuneoff.verdict import stats
from tuneoff.verdict.compare import Side, compare

SEEDS = [42, 43, 44]


def write_run(folder: Path, results: list[dict], names: list[str]) -> Path:
    """A run folder holding these results, its config asking every player for SEEDS."""
    for r in results:
        RunFolder(folder).job(r["player"]["name"], seed_label(r["seed"])).write_result(r)
    players = [
        {
            "name": n,
            "description": "",
            "model": {"kind": "random", "size": "tiny"},
            "strategy": {"name": "full"},
            "protocol": {},
        }
        for n in names
    ]
    write_json(
        folder / "tournament.json",
        {
            "config": {
                "tournament": {"name": "unit", "seeds": SEEDS},
                "protocol": PROTOCOL,
                "data": {"dir": None, "verify": False},
                "players": players,
            },
            "config_file": "unit.toml",
            "written_at": "2026-01-01T00:00:00+00:00",
        },
    )
    return folder


def seeds(name: str, accuracy: float, rng: int, n: int = 400, count: int = 3) -> list[dict]:
    return [noisy(name, accuracy, n=n, rng_seed=rng + i, seed=s) for i, s in enumerate(SEEDS[:count])]


@pytest.fixture
def runs(tmp_path):
    a = write_run(tmp_path / "a", seeds("full", 0.80, 0) + seeds("lora", 0.60, 10), ["full", "lora"])
    b = write_run(
        tmp_path / "b",
        seeds("full", 0.60, 20) + seeds("lora", 0.61, 30, count=2) + [failed("lora", "boom", seed=44)],
        ["full", "lora"],
    )
    return a, b


def matrix(run: Path, player: str):
    return stats.correctness(
        [r for r in RunFolder(run).results() if r["player"]["name"] == player and r["status"] == "completed"]
    )


def test_every_shared_player_is_compared_with_the_boards_difference_and_holm(runs):
    a, b = runs
    doc = compare(Side.parse(str(a)), Side.parse(str(b)))
    tests = [stats.difference(matrix(a, n), matrix(b, n)) for n in ("full", "lora")]
    ps = [t.p() for t in tests]
    assert [(c["a"]["player"], c["b"]["player"]) for c in doc["comparisons"]] == [("full", "full"), ("lora", "lora")]
    assert doc["holm_over"] == 2
    for c, t, p, p_holm in zip(doc["comparisons"], tests, ps, stats.holm(ps)):
        assert c["diff"] == 100 * t.mean and c["ci95"] == [100 * x for x in t.ci()]
        assert c["p"] == p and c["p_holm"] == p_holm
        assert c["sentences"] == 400
    full, lora = doc["comparisons"]
    # one unit: accuracies and their CIs in points, as the differences
    estimate = stats.accuracy(matrix(a, "full"))
    assert full["a"]["accuracy"] == 100 * estimate.mean
    assert full["a"]["accuracy_ci95"] == pytest.approx([100 * x for x in estimate.ci()])
    assert full["a"]["per_seed_accuracy"] == pytest.approx([100 * x for x in matrix(a, "full").mean(axis=1)])
    assert doc["unit"] == "percentage points" and doc["schema"] == "tuneoff.compare/2"
    assert full["verdict"] == "A is better" and full["separable"] and full["p_holm"] < stats.ALPHA
    assert lora["verdict"] == "cannot be separated" and not lora["separable"]
    # the failed seed is counted: 2 of the 3 seeds the config asks for
    assert lora["b"]["seeds"] == [42, 43] and lora["b"]["seeds_planned"] == 3
    assert full["b"]["seeds"] == SEEDS and full["b"]["seeds_planned"] == 3


def test_named_players_are_compared_alone(runs):
    a, b = runs
    doc = compare(Side.parse(f"{a}:lora"), Side.parse(f"{b}:full"))
    t = stats.difference(matrix(a, "lora"), matrix(b, "full"))
    (c,) = doc["comparisons"]
    assert (c["a"]["player"], c["b"]["player"]) == ("lora", "full")
    assert c["p_holm"] == c["p"] == t.p() and c["diff"] == 100 * t.mean and doc["holm_over"] == 1
    only_a = compare(Side.parse(f"{a}:lora"), Side.parse(str(b)))  # one name: the same player on the other side
    assert [(c["a"]["player"], c["b"]["player"]) for c in only_a["comparisons"]] == [("lora", "lora")]


def test_one_seed_a_side_is_the_boards_sentence_only_test(tmp_path):
    a = write_run(tmp_path / "a", seeds("p", 0.7, 0, count=1), ["p"])
    b = write_run(tmp_path / "b", seeds("p", 0.7, 5, count=1), ["p"])
    (c,) = compare(Side(a, None), Side(b, None))["comparisons"]
    assert c["test"].startswith("t test over sentences (one seed")
    assert c["a"]["seeds_planned"] == 3 and c["a"]["seeds"] == [42]


def test_runs_that_scored_other_sentences_are_refused(runs, tmp_path):
    a, _ = runs
    fewer = write_run(tmp_path / "fewer", seeds("full", 0.8, 0, n=395), ["full"])
    with pytest.raises(RunFolderError, match=r"scored other test sentences than .*: 395 test labels, not 400"):
        compare(Side(a, "full"), Side(fewer, None))
    shuffled = seeds("full", 0.8, 0)
    for r in shuffled:
        r["test"]["labels"] = r["test"]["labels"][1:] + r["test"]["labels"][:1]
    moved = write_run(tmp_path / "moved", shuffled, ["full"])
    with pytest.raises(RunFolderError, match="the same number of test sentences but other labels"):
        compare(Side(a, "full"), Side(moved, None))
    other_split = seeds("full", 0.8, 0)
    for r in other_split:
        r["data"]["sha256"]["test"] = "d" * 64
    other = write_run(tmp_path / "other", other_split, ["full"])
    with pytest.raises(RunFolderError, match="test split fingerprint dddddddddddd"):
        compare(Side(a, "full"), Side(other, None))


def test_missing_players_are_refused_naming_those_there(runs, tmp_path):
    a, b = runs
    with pytest.raises(
        RunFolderError,
        match=r"no completed seed of player 'host'; players with completed seeds: "
        r"\['full', 'lora'\]",
    ):
        compare(Side(a, "host"), Side(b, None))
    lone = write_run(tmp_path / "lone", seeds("solo", 0.8, 0), ["solo"])
    with pytest.raises(RunFolderError, match="no player with completed seeds in both runs under the same name"):
        compare(Side(a, None), Side(lone, None))


def test_the_command_prints_the_table_and_writes_the_json(runs, tmp_path, capsys):
    a, b = runs
    out = tmp_path / "cmp.json"
    assert main(["compare", str(a), str(b), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(compare(Side(a, None), Side(b, None))))
    assert "A is better" in printed and "cannot be separated" in printed and "tied" not in printed
    assert "2 of 3" in printed and "Holm-adjusted over the 2 comparisons" in printed
    full = written["comparisons"][0]
    assert f"{full['diff']:+.2f} [{full['ci95'][0]:+.2f}, {full['ci95'][1]:+.2f}]" in printed
    assert main(["compare", str(a), str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().out


def test_compare_shows_what_differs_between_the_two_players_settings(runs, tmp_path, capsys):
    a, b = runs
    assert compare(Side(a, None), Side(b, None))["comparisons"][0]["config_differences"] == []
    meta = json.loads((b / "tournament.json").read_text())
    meta["config"]["protocol"]["epochs"] = 5
    meta["config"]["players"][1]["strategy"] = {"name": "lora", "r": 16}
    (b / "tournament.json").write_text(json.dumps(meta))
    full, lora = compare(Side(a, None), Side(b, None))["comparisons"]
    assert full["config_differences"] == [{"key": "protocol.epochs", "a": 3, "b": 5}]
    assert lora["config_differences"] == [
        {"key": "protocol.epochs", "a": 3, "b": 5},
        {"key": "strategy.name", "a": "full", "b": "lora"},
        {"key": "strategy.r", "a": None, "b": 16},
    ]
    assert main(["compare", str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert "full vs full: settings that differ: protocol.epochs: A 3, B 5" in printed
    assert (
        'lora vs lora: settings that differ: protocol.epochs: A 3, B 5; strategy.name: A "full", B "lora"; '
        "strategy.r: A (absent), B 16" in printed
    )


def test_compare_flags_collapsed_players(tmp_path, capsys):
    from factories import completed, confusion

    majority = [completed("p", confusion([0, 0, 30, 0, 0], to=2), 100.0, 1000, seed=s) for s in SEEDS]
    a = write_run(tmp_path / "a", majority, ["p"])
    b = write_run(tmp_path / "b", majority, ["p"])
    (c,) = compare(Side(a, None), Side(b, None))["comparisons"]
    assert sorted(c["a"]["collapsed_seeds"]) == ["42", "43", "44"]
    assert "is not significantly above the majority-class rate 30.00%" in c["a"]["collapsed_seeds"]["42"]
    assert main(["compare", str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert "A's p COLLAPSED in every seed (seed 42: " in printed and "B's p COLLAPSED in every seed" in printed
    assert "COLLAPSED" in printed.split("verdict")[1].split("\n")[2]  # the table's row says it too
    healthy = write_run(tmp_path / "h", seeds("p", 0.8, 0, n=100), ["p"])
    (c,) = compare(Side(healthy, None), Side(healthy, None))["comparisons"]
    assert c["a"]["collapsed_seeds"] == {} and "COLLAPSED" not in " ".join(notes_of(c))


def notes_of(comparison: dict) -> list[str]:
    from tuneoff.verdict.compare import notes

    return notes({"comparisons": [comparison], "holm_over": 1})


def test_compare_json_dash_writes_the_document_alone_on_stdout(runs, tmp_path, capsys):
    a, b = runs
    assert main(["compare", str(a), str(b), "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == json.loads(json.dumps(compare(Side(a, None), Side(b, None))))
    assert "A is better" in err and not (tmp_path / "-").exists() and not Path("-").exists()
