import numpy as np
import pytest
from conftest import make_result

from tuneoff.store.results import check
from tuneoff.verdict import board as boards
from tuneoff.verdict import rules as leaderboard
from tuneoff.verdict.rows import extra_cell, row

MAJORITY = 633 / 2210


def rows(board):
    return {r["player"]: r for r in board["ranked"] + board["unranked"]}


def test_fake_results_are_schema_valid():
    check(make_result(), "result", "fake")
    check(make_result(status="failed"), "result", "fake")


@pytest.mark.parametrize(
    "accuracy, predicted, collapsed",
    [
        (MAJORITY, None, True),  # the published player 2
        (MAJORITY + 0.009, None, True),
        (MAJORITY + 0.015, None, True),  # 1.5 points above: not significantly (one-sided binomial p = 0.06)
        (MAJORITY - 0.009, None, True),
        (MAJORITY - 0.05, [400, 500, 500, 400, 410], True),  # below the majority rate, predictions spread
        (MAJORITY + 0.02, None, False),  # p = 0.02
        (0.45, [10, 2000, 100, 50, 50], True),  # 90.5 % of predictions in one class
        (0.45, [10, 1980, 120, 50, 50], False),  # 89.6 %
        (0.50, None, False),
    ],
)
def test_collapse_rule(accuracy, predicted, collapsed):
    reason = leaderboard.collapse_reason(make_result(accuracy=accuracy, predicted=predicted))
    assert (reason is not None) == collapsed


def test_collapse_is_a_binomial_test_against_the_majority_rate():
    from scipy.stats import binomtest

    result = make_result(accuracy=MAJORITY + 0.015)
    n, k = 2210, round((MAJORITY + 0.015) * 2210)
    p = binomtest(k, n, MAJORITY, alternative="greater").pvalue
    assert p == pytest.approx(0.0636, abs=0.001)
    assert f"p = {p:.2g}" in leaderboard.collapse_reason(result)


def seeded(name, accuracy, seed, rng, **kw):
    """A result whose correct sentences are drawn at random (so two players are not the same vector)."""
    r = make_result(name, accuracy, seed=seed, **kw)
    labels = np.asarray(r["test"]["labels"])
    right = rng.random(len(labels)) < accuracy
    r["test"]["predictions"] = [int(y) if ok else int((y + 1) % 5) for y, ok in zip(labels, right)]
    r["test"]["accuracy"] = float(right.mean())
    return r


def test_the_accuracy_verdict_ignores_the_bonus_and_the_game_keeps_its_score():
    board = leaderboard.build(
        [
            make_result("slow", accuracy=0.50, train_seconds=300),
            make_result("fast", accuracy=0.42, train_seconds=100),
            make_result("collapsed-fastest", accuracy=MAJORITY, train_seconds=50),
        ]
    )
    r = rows(board)
    assert r["fast"]["fastest"] and r["fast"]["points"] == pytest.approx(100 * r["fast"]["test_accuracy"] + 10)
    assert not r["collapsed-fastest"]["fastest"] and r["collapsed-fastest"]["collapsed"]
    assert r["slow"]["points"] == pytest.approx(100 * r["slow"]["test_accuracy"])
    assert [x["player"] for x in board["ranked"]] == ["slow", "fast", "collapsed-fastest"]  # by accuracy
    assert [x["rank"] for x in board["ranked"]] == [1, 2, None]  # a collapsed player is not ranked
    assert {x["player"]: x["game_rank"] for x in board["ranked"]} == {"fast": 1, "slow": 2, "collapsed-fastest": 3}
    assert board["may_be_best"] == ["slow"] and r["slow"]["rank_interval"] == [1, 1]


def test_rank_intervals_and_the_set_that_may_be_best():
    rng = np.random.default_rng(0)
    results = [seeded(n, acc, s, rng) for n, acc in (("a", 0.52), ("b", 0.515), ("c", 0.40)) for s in (1, 2, 3)]
    board = leaderboard.build(results, bonus=0)
    r = rows(board)
    assert board["may_be_best"] == ["a", "b"]  # 0.5 points apart: cannot be separated; c is 12 points behind
    assert r["a"]["rank_interval"] == [1, 2] and r["b"]["rank_interval"] == [1, 2] and r["c"]["rank_interval"] == [3, 3]
    pair = {(q["a"], q["b"]): q for q in board["pairwise"]}
    assert not pair[("a", "b")]["separable"] and pair[("a", "c")]["separable"] and pair[("b", "c")]["separable"]
    assert r["b"]["p_vs_best"] == pair[("a", "b")]["p_holm"]
    assert "cannot be separated" in boards.markdown(board)


def _extra_as_test(result: dict, sha: str = "sst2-test") -> dict:
    """The result with an extra test set "copy" whose sentences, predictions and labels are its test set's."""
    test = result["test"]
    result["extra_eval"] = {
        "copy": {
            "dataset": "copy",
            "examples": len(test["labels"]),
            "accuracy": test["accuracy"],
            "macro_f1": test["macro_f1"],
            "unmapped_predictions": 0,
            "sha256": sha,
            "predictions": list(test["predictions"]),
            "labels": list(test["labels"]),
        }
    }
    return result


def test_an_extra_test_set_gets_the_same_interval_and_verdict_as_the_test_set():
    # The extra set is the test set again: its CI, pairs and the players that may be best there must be the test
    # set's exactly (the same seed-aware estimate and Holm over the same pairs).
    rng = np.random.default_rng(0)
    results = [
        _extra_as_test(seeded(n, acc, s, rng)) for n, acc in (("a", 0.52), ("b", 0.515), ("c", 0.40)) for s in (1, 2, 3)
    ]
    for r in results:
        check(r, "result", "extra predictions")
    board = leaderboard.build(results, bonus=0)
    check(board, "leaderboard", "extra verdict")
    verdict = board["extra_eval"]["copy"]
    assert verdict["may_be_best"] == board["may_be_best"] == ["a", "b"]
    assert verdict["pairwise"] == board["pairwise"] and verdict["players"] == ["a", "b", "c"]
    for r in board["ranked"]:
        assert r["extra_eval"]["copy"]["ci95"] == r["test_accuracy_ci95"]
        assert r["extra_eval"]["copy"]["may_be_best"] == r["may_be_best"]
    text = boards.markdown(board)
    assert "On copy, with 95 % confidence the best of the 3 players scored there is one of a, b." in text
    assert "one Holm family (6 pairs)" in text  # the test set's 3 pairs and the copy's 3, corrected together
    lo, hi = board["ranked"][0]["test_accuracy_ci95"]
    assert f"({lo:.2%} – {hi:.2%}), may be best |" in text


def test_an_extra_set_not_scored_by_every_seed_or_on_other_sentences_gets_no_verdict():
    rng = np.random.default_rng(0)
    results = [
        _extra_as_test(seeded(n, acc, s, rng)) for n, acc in (("a", 0.52), ("b", 0.515), ("c", 0.40)) for s in (1, 2, 3)
    ]
    del results[1]["extra_eval"]["copy"]  # a's second seed did not score the set: a's seeds cannot be paired
    board = leaderboard.build(results, bonus=0)
    a = rows(board)["a"]["extra_eval"]["copy"]
    assert "ci95" not in a and "may_be_best" not in a and board["extra_eval"]["copy"]["players"] == ["b", "c"]
    assert board["extra_eval"]["copy"]["may_be_best"] == ["b"]  # 11.5 points ahead of c on 2210 sentences
    for r in results[3:6]:  # b scored on another version of the set than c
        r["extra_eval"]["copy"]["sha256"] = "other"
    board = leaderboard.build(results, bonus=0)
    assert board["extra_eval"]["copy"]["may_be_best"] == []
    assert "different versions" in board["extra_eval"]["copy"]["note"]
    assert "different versions of this set" in boards.markdown(board)


def test_one_seed_shows_no_spread_and_several_show_their_std():
    rng = np.random.default_rng(0)
    one = leaderboard.build([_extra_as_test(seeded("a", 0.5, 1, rng))], bonus=0)["ranked"][0]
    three = leaderboard.build([_extra_as_test(seeded("a", 0.5, s, rng)) for s in (1, 2, 3)], bonus=0)["ranked"][0]
    assert row(one).accuracy == f"{one['test_accuracy']:.2%}"  # never "± 0.00": one seed measures no spread
    assert row(three).accuracy == f"{three['test_accuracy']:.2%} ± {100 * three['test_accuracy_std']:.2f}"
    assert extra_cell(one["extra_eval"]["copy"]).startswith(f"{one['extra_eval']['copy']['mean']:.2%} (")
    assert " ± " in extra_cell(three["extra_eval"]["copy"])


def test_a_collapsed_player_never_holds_rank_one_nor_the_bonus():
    lopsided = [10, 2000, 100, 50, 50]  # >= 90 % of predictions in one class, yet the best accuracy
    board = leaderboard.build(
        [
            make_result("lopsided", 0.55, predicted=lopsided, train_seconds=10),
            make_result("honest", 0.50, train_seconds=100),
        ]
    )
    r = rows(board)
    assert r["lopsided"]["collapsed"] and r["lopsided"]["rank"] is None and not r["lopsided"]["may_be_best"]
    assert r["honest"]["rank"] == 1 and r["honest"]["fastest"] and not r["lopsided"]["fastest"]


def test_any_collapsed_seed_flags_the_player_with_the_count():
    board = leaderboard.build(
        [make_result("p", 0.50, seed=1), make_result("p", MAJORITY, seed=2), make_result("p", 0.50, seed=3)]
    )
    (r,) = board["ranked"]
    assert r["collapsed"] and r["collapsed_seeds"] == [2] and "seed 2:" in r["collapse_reason"]
    assert "COLLAPSED in 1 of 3 seeds" in boards.markdown(board)


def test_failed_and_missing_seeds_are_counted():
    board = leaderboard.build(
        [make_result("p", 0.5, seed=1), make_result("p", 0.5, seed=2), make_result("p", seed=3, status="failed")],
        planned={"p": 4},
    )
    (r,) = board["ranked"]
    assert (r["seeds"], r["seeds_planned"], r["seeds_failed"]) == ([1, 2], 4, 1)
    assert "2 of 4 seeds (1 failed)" in boards.markdown(board)


def test_equivalence_is_claimed_only_with_a_margin():
    rng = np.random.default_rng(1)
    results = [seeded(n, 0.5, s, rng) for n in ("a", "b") for s in (1, 2, 3)]
    assert leaderboard.build(results, bonus=0)["pairwise"][0]["equivalent"] is None
    assert leaderboard.build(results, bonus=0, margin=5.0)["pairwise"][0]["equivalent"] is True
    assert leaderboard.build(results, bonus=0, margin=0.1)["pairwise"][0]["equivalent"] is False


def test_bonus_and_speed_metric_are_configurable():
    results = [make_result("a", 0.5, train_seconds=100), make_result("b", 0.5, train_seconds=200)]
    plain = rows(leaderboard.build(results, bonus=0))["a"]
    assert plain["points"] == pytest.approx(100 * plain["test_accuracy"])
    assert rows(leaderboard.build(results, bonus=3))["a"]["points"] - plain["points"] == pytest.approx(3)
    results[1]["history"]["window_seconds"] = [[10, 800, 8e-4]]  # 1e6 samples a second
    assert rows(leaderboard.build(results, speed_metric="samples_per_second"))["b"]["fastest"]


def timed(name, seconds_per_seed):
    out = []
    for seed, t in enumerate(seconds_per_seed):
        r = make_result(name, 0.5, train_seconds=t, seed=seed)
        r["timing"]["train_samples_per_second"] = 8544 / t
        out.append(r)
    return out


def test_only_a_player_shown_slower_loses_its_share_of_the_bonus():
    """Times that wobble cannot be shown slower, so they share; a steady player 30 % slower is shown slower."""
    steady, wobbly, close = (
        timed("steady", [100, 100.5, 99.5]),
        timed("wobbly", [100, 300, 1000]),
        timed("close", [101, 101.5, 100.5]),
    )
    r = rows(leaderboard.build(steady + wobbly + close + timed("slow", [130, 131, 129])))
    assert {n for n in r if r[n]["fastest"]} == {"steady", "close", "wobbly"} and not r["slow"]["fastest"]
    assert r["steady"]["bonus"] == r["close"]["bonus"] == r["wobbly"]["bonus"] == pytest.approx(10 / 3)


def test_speed_is_compared_on_one_device_and_the_verdict_spans_all():
    """Two players on two CPUs, one seed each: the board's device is the first by name (one player each); the
    other player gets no share, and a note says why."""
    board = leaderboard.build(
        [
            make_result("cpu-a", 0.50, train_seconds=100, cpu="CPU A"),
            make_result("cpu-b", 0.45, train_seconds=500, cpu="CPU B"),
        ]
    )
    r = rows(board)
    assert [x["player"] for x in board["ranked"]] == ["cpu-a", "cpu-b"] and r["cpu-b"]["rank"] == 2
    assert r["cpu-a"]["fastest"] and not r["cpu-b"]["fastest"]  # one bonus per board, on one device
    assert r["cpu-a"]["hardware"] != r["cpu-b"]["hardware"]
    assert any("cpu-b ran no seed there" in n for n in board["notes"])


def test_unfinished_players_are_listed_not_ranked():
    board = leaderboard.build([make_result("ok"), make_result("broke", status="failed")])
    assert [x["player"] for x in board["ranked"]] == ["ok"]
    assert board["unranked"][0] == {**board["unranked"][0], "player": "broke", "status": "failed", "error": "boom"}
    assert "broke seed-42: **failed** — boom" in boards.markdown(board)


def test_equal_points_share_a_game_rank():
    board = leaderboard.build(
        [
            make_result("a", 0.5, train_seconds=300),
            make_result("b", 0.5, train_seconds=300),
            make_result("c", 0.3, train_seconds=100),
        ],
        bonus=0,
    )
    assert {r["player"]: r["game_rank"] for r in board["ranked"]} == {"a": 1, "b": 1, "c": 3}
    assert board["may_be_best"] == ["a", "b"]


def _with_jobs(result: dict, concurrent: int, overlapping: int | None = None, threads: int = 2) -> dict:
    result["timing"]["concurrent_jobs"] = concurrent
    if overlapping is not None:
        result["timing"]["overlapping_jobs"] = overlapping
    result["environment"]["hardware"] = {**result["environment"]["hardware"], "threads": threads}
    return result


def test_a_resumed_run_is_one_speed_table_with_one_bonus_winner():
    """Seeds trained by --jobs 2 (one thread each) then resumed with --jobs 1 (two threads): one device, so one
    speed group and one fastest player; how many jobs ran at once is shown, never a group of its own."""
    board = leaderboard.build(
        [
            _with_jobs(make_result("fast", 0.50, train_seconds=100, seed=1), 2, threads=1),
            _with_jobs(make_result("fast", 0.50, train_seconds=101, seed=2), 1, overlapping=1, threads=2),
            _with_jobs(make_result("slow", 0.48, train_seconds=300, seed=1), 2, overlapping=2, threads=1),
            _with_jobs(make_result("slow", 0.48, train_seconds=310, seed=2), 1, overlapping=1, threads=2),
        ]
    )
    r = rows(board)
    assert len({x["hardware"] for x in board["ranked"]}) == 1
    assert [x["player"] for x in board["ranked"] if x["fastest"]] == ["fast"] and r["fast"]["bonus"] == 10.0
    assert r["fast"]["concurrent_jobs"] == [1, 2] and r["slow"]["concurrent_jobs"] == [1, 2]
    text = boards.markdown(board)
    assert text.count("| game rank |") == 1 and "| 1, 2 |" in text  # one game table, jobs at once a column


def test_jobs_at_once_is_the_measured_overlap_when_a_result_has_it():
    measured = _with_jobs(make_result(), 4, overlapping=1)
    assert leaderboard.jobs_at_once(measured) == 1  # four slots, but it ran alone
    assert leaderboard.jobs_at_once(_with_jobs(make_result(), 3)) == 3  # an older result: its slots
    check(measured, "result", "fake")


def test_overlapping_jobs_are_counted_exactly_from_start_and_end_times():
    cpu, gpu0 = ("host", "cpu", None), ("host", "cuda", "0")
    spans = [
        (cpu, 0, 10),  # a: b overlaps it, then c too (b and c both within 5..8): 3 at once
        (cpu, 2, 8),  # b
        (cpu, 5, 12),  # c: a and b at 5
        (cpu, 10, 15),  # d: starts as a ends ([start, end)): c only
        (cpu, 15, 20),  # e: starts as d ends, c ended: alone
        (gpu0, 0, 30),  # f: another device, alone though every cpu job overlaps it in time
        (cpu, 16, 16),  # g: starts and ends in the same second: an instant inside e
    ]
    assert leaderboard.overlapping_jobs(spans) == [3, 3, 3, 2, 2, 1, 2]
    assert leaderboard.overlapping_jobs([]) == []


def test_a_p_value_that_underflows_is_shown_as_a_bound_never_as_zero():
    board = leaderboard.build([make_result("best", accuracy=0.50), make_result("behind", accuracy=0.40)])
    entry = rows(board)["behind"]
    shown = row({**entry, "p_vs_best": 0.0})
    assert shown.p == "< 1e-15" and shown.vs_best.endswith("p < 1e-15")
    assert row({**entry, "p_vs_best": 0.0123}).vs_best.endswith("p = 0.0123")


def test_when_every_player_collapsed_nobody_holds_rank_one_nor_may_be_best():
    board = leaderboard.build([make_result("x", MAJORITY, seed=1), make_result("y", MAJORITY - 0.01, seed=1)])
    assert [r["rank"] for r in board["ranked"]] == [None, None] and board["may_be_best"] == []
    assert all(r["rank_interval"] is None and r["diff_vs_best"] is None for r in board["ranked"])
    assert "No player may be called best: every player collapsed." in boards.markdown(board)


def test_ranks_lie_in_their_intervals_and_a_simultaneous_ci_that_excludes_zero_is_separable():
    rng = np.random.default_rng(11)
    for trial in range(4):
        accuracies = rng.uniform(0.40, 0.55, 6)
        results = [seeded(f"p{i}", a, s, rng) for i, a in enumerate(accuracies) for s in (1, 2, 3)]
        results += [make_result("lopsided", 0.60, predicted=[10, 2000, 100, 50, 50], seed=s) for s in (1, 2, 3)]
        board = leaderboard.build(results, bonus=0)
        for r in board["ranked"]:
            if r["collapsed"]:
                assert r["rank"] is None and not r["may_be_best"]
            else:
                low, high = r["rank_interval"]
                assert low <= r["rank"] <= high, (trial, r["player"], r["rank"], r["rank_interval"])
                assert r["may_be_best"] == (low == 1)
        assert board["ranked"][0]["player"] != "lopsided"  # the best accuracy, but it collapsed
        for q in board["pairwise"]:
            lo, hi = q["ci95"]
            assert not (lo > 0 or hi < 0) or q["separable"], q  # Bonferroni's CI excludes 0: Holm separates
            assert hi - lo > q["ci95_unadjusted"][1] - q["ci95_unadjusted"][0]  # simultaneous: wider
