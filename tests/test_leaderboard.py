import pytest
from conftest import make_result

from tuneoff.store.results import check
from tuneoff.verdict import board as boards
from tuneoff.verdict import rules as leaderboard

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
        (MAJORITY - 0.009, None, True),
        (MAJORITY - 0.05, [400, 500, 500, 400, 410], True),  # below the majority rate, predictions spread
        (MAJORITY + 0.02, None, False),
        (0.45, [10, 2000, 100, 50, 50], True),  # 90.5 % of predictions in one class
        (0.45, [10, 1980, 120, 50, 50], False),  # 89.6 %
        (0.50, None, False),
    ],
)
def test_collapse_rule(accuracy, predicted, collapsed):
    reason = leaderboard.collapse_reason(make_result(accuracy=accuracy, predicted=predicted))
    assert (reason is not None) == collapsed


def test_points_are_accuracy_plus_bonus_for_the_fastest_non_collapsed():
    board = leaderboard.build([
        make_result("slow", accuracy=0.50, train_seconds=300),
        make_result("fast", accuracy=0.42, train_seconds=100),
        make_result("collapsed-fastest", accuracy=MAJORITY, train_seconds=50),
    ])
    r = rows(board)
    assert r["fast"]["fastest"] and r["fast"]["points"] == pytest.approx(100 * r["fast"]["test_accuracy"] + 10)
    assert not r["collapsed-fastest"]["fastest"] and r["collapsed-fastest"]["collapsed"]
    assert r["slow"]["points"] == pytest.approx(100 * r["slow"]["test_accuracy"])
    assert [x["player"] for x in board["ranked"]] == ["fast", "slow", "collapsed-fastest"]
    assert [x["rank"] for x in board["ranked"]] == [1, 2, 3]


def test_bonus_and_speed_metric_are_configurable():
    results = [make_result("a", 0.5, train_seconds=100), make_result("b", 0.5, train_seconds=200)]
    assert rows(leaderboard.build(results, bonus=0))["a"]["points"] == pytest.approx(100 * rows(leaderboard.build(results, bonus=0))["a"]["test_accuracy"])
    assert rows(leaderboard.build(results, bonus=3))["a"]["points"] - rows(leaderboard.build(results, bonus=0))["a"]["points"] == pytest.approx(3)
    results[1]["timing"]["train_samples_per_second"] = 1e6
    assert rows(leaderboard.build(results, speed_metric="samples_per_second"))["b"]["fastest"]


def test_different_hardware_is_not_ranked_together():
    board = leaderboard.build([
        make_result("cpu-a", 0.50, train_seconds=100, cpu="CPU A"),
        make_result("cpu-b", 0.45, train_seconds=500, cpu="CPU B"),
    ])
    assert len(board["hardware_groups"]) == 2
    r = rows(board)
    assert r["cpu-a"]["rank"] == r["cpu-b"]["rank"] == 1
    assert r["cpu-a"]["fastest"] and r["cpu-b"]["fastest"]  # each is the fastest of its own group
    md = boards.markdown(board)
    assert md.count("Hardware:") == 2


def test_unfinished_players_are_listed_not_ranked():
    board = leaderboard.build([make_result("ok"), make_result("broke", status="failed")])
    assert [x["player"] for x in board["ranked"]] == ["ok"]
    assert board["unranked"][0] == {**board["unranked"][0], "player": "broke", "status": "failed", "error": "boom"}
    assert "broke seed-42: **failed** — boom" in boards.markdown(board)


def test_equal_points_share_a_rank():
    board = leaderboard.build([
        make_result("a", 0.5, train_seconds=300), make_result("b", 0.5, train_seconds=300),
        make_result("c", 0.3, train_seconds=100),
    ], bonus=0)
    assert {r["player"]: r["rank"] for r in board["ranked"]} == {"a": 1, "b": 1, "c": 3}
