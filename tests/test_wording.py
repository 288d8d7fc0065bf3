"""A board with a player that has fewer than two seeds speaks of trained models in every output (terminal,
leaderboard.md, the report, the model card, compare): never of strategies, never of run-to-run noise. And how
a job ended is said as it is: diverged seeds count against their player, unfinished ones are not failures."""

from __future__ import annotations

import re

import pytest
from factories import failed, noisy
from rich.console import Console

from tuneoff.report.build import build_report
from tuneoff.report.card import Export, model_card
from tuneoff.store.files import write_json
from tuneoff.store.results import check
from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict import board as boards
from tuneoff.verdict import compare as comparing

SEEDS = [42, 43, 44]


def _run(folder, short: bool):
    """a: 3 seeds; b: 1 of 3 (one crashed, one interrupted) or all 3; c: 2 seeds and one that diverged."""
    results = [noisy("a", 0.55, rng_seed=s, seed=s) for s in SEEDS]
    results += [noisy("b", 0.50, rng_seed=10 + s, seed=s) for s in (SEEDS[:1] if short else SEEDS)]
    if short:
        results += [
            failed("b", "RuntimeError: boom", seed=43),
            failed("b", "stopped (Ctrl-C)", status="interrupted", seed=44),
        ]
    results += [noisy("c", 0.52, rng_seed=20 + s, seed=s) for s in SEEDS[:2]]
    results.append({**failed("c", "training loss became nan at epoch 2, step 40", seed=44), "diverged": True})
    for r in results:
        RunFolder(folder).job(r["player"]["name"], f"seed-{r['seed']}").write_result(r)
    players = [
        {"name": n, "model": {"kind": "random", "size": "tiny"}, "strategy": {"name": "full"}, "protocol": {}}
        for n in "abc"
    ]
    write_json(
        folder / "tournament.json", {"config": {"tournament": {"name": "unit", "seeds": SEEDS}, "players": players}}
    )
    return folder


def _outputs(folder) -> dict[str, str]:
    run = boards.read_run(folder)
    console = Console(record=True, width=250)
    console.print(boards.rich_table(run.board))
    report = build_report(folder)
    html = re.sub(r"<script.*?</script>", "", report["html"].read_text(), flags=re.DOTALL)  # the page's text, not code
    html = re.sub(r'data-[a-z_]+="[^"]*"|<select.*?</select>|"f_strategy"', "", html, flags=re.DOTALL)
    result = {**run.completed("a")[0]}
    result["data"] = {**result["data"], "name": "sst5"}
    card = model_card(RunFolder(folder), result, Export("out", adapter=False))
    document = comparing.compare(comparing.Side(folder, "a"), comparing.Side(folder, "b"))
    compared = Console(record=True, width=250)
    compared.print(comparing.table(document))
    return {
        "terminal": console.export_text(),
        "leaderboard.md": boards.markdown(run.board),
        "report.md": report["md"].read_text(),
        "report.html": html,
        "model card": card,
        "compare": "\n".join([compared.export_text(), *comparing.notes(document), document["comparisons"][0]["test"]]),
    }


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory):
    folder = _run(tmp_path_factory.mktemp("short"), short=True)
    return boards.read_run(folder).board, _outputs(folder)


def test_every_output_of_a_board_with_a_one_seed_player_speaks_of_trained_models(one_seed):
    board, outputs = one_seed
    assert board["about"] == "trained models"
    check(board, "leaderboard", "one-seed board")  # unranked collapsed players and diverged jobs fit the schema
    for name, text in outputs.items():
        lowered = text.lower()
        at = lowered.find("strateg")
        assert at < 0, (name, text[max(0, at - 200) : at + 80])
        assert "run-to-run" not in lowered, (name, text[max(0, lowered.find("run-to-run") - 200) :])
        assert "trained model" in lowered, name


def test_a_board_over_seeds_speaks_of_strategies(tmp_path):
    board = boards.read_run(_run(tmp_path, short=False)).board
    assert board["about"] == "strategies"
    text = boards.markdown(board)
    assert "Which strategy is better" in text and "run-to-run" in text and "trained model" not in text


def test_a_short_player_borrows_and_says_so_and_unfinished_jobs_are_not_failures(one_seed):
    board, outputs = one_seed
    rows = {r["player"]: r for r in board["ranked"]}
    b = rows["b"]
    assert b["seed_variance"] == "borrowed" and b["seed_variance_borrowed"]["df"] == 2  # the pool has 3, capped
    assert (b["seeds_failed"], b["seeds_unfinished"], b["seeds_planned"]) == (1, 1, 3)
    md = outputs["leaderboard.md"]
    assert "1 of 3 seeds (1 failed, 1 not finished)" in md and "seed-to-seed spread borrowed" in md
    assert "b seed-44: **not finished (interrupted)**" in md and "b seed-43: **failed**" in md


def test_a_diverged_seed_counts_against_its_player(one_seed):
    board, outputs = one_seed
    c = {r["player"]: r for r in board["ranked"]}["c"]
    assert c["collapsed"] and c["collapsed_seeds"] == [44] and c["rank"] is None and not c["may_be_best"]
    assert "training diverged" in c["collapse_reason"] and c["seeds_diverged"] == 1
    assert "COLLAPSED in 1 of 3 seeds, not ranked" in outputs["leaderboard.md"]
    assert "c seed-44: **diverged (counted as a collapsed seed)**" in outputs["leaderboard.md"]


@pytest.mark.parametrize(("about", "who"), [("trained models", "trained models"), ("strategies", "players")])
def test_an_extra_test_sets_verdict_speaks_the_boards_words(about, who):
    from tuneoff.verdict.rows import extra_sentence

    board = {
        "about": about,
        "pairwise": [],
        "extra_eval": {"sst2": {"players": ["a", "b"], "may_be_best": ["a"], "pairwise": [{"a": "a", "b": "b"}]}},
    }
    assert f"On sst2, with 95 % confidence the best of the 2 {who} scored there is a." in extra_sentence(board)
