"""The speed bonus: a steady time that passing contention does not move, one bonus per board, shared by every
player not shown slower; and small, seeded versions of benchmarks/speed_bonus.py's simulations."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_result

from tuneoff.verdict import rules as leaderboard
from tuneoff.verdict import speed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import speed_bonus


def windowed(name, per_sample, seeds=(1, 2, 3), slow_windows=0, samples=320, cpu="CPU X", **kw):
    """Results whose 40 windows take ``per_sample`` seconds a sample, the first ``slow_windows`` 3x slower."""
    out = []
    for seed in seeds:
        windows = [per_sample * samples * (3 if w < slow_windows else 1) * (1 + 0.001 * seed) for w in range(40)]
        r = make_result(name, 0.5, train_seconds=sum(windows), seed=seed, cpu=cpu, **kw)
        r["timing"]["train_samples_per_second"] = 40 * samples / sum(windows)
        r["history"]["window_seconds"] = [[10, samples, w] for w in windows]
        out.append(r)
    return out


def bonus(board):
    return {r["player"]: r["bonus"] for r in board["ranked"]}


def test_the_steady_time_is_the_lower_quartile_of_windows_so_contention_for_part_of_a_run_does_not_count():
    (quiet,), (busy,) = windowed("a", 1e-3, seeds=(1,)), windowed("b", 1e-3, seeds=(1,), slow_windows=20)
    assert busy["timing"]["train_seconds"] > 1.9 * quiet["timing"]["train_seconds"]  # half the run 3x slower
    assert speed.seconds_per_sample(busy) == pytest.approx(speed.seconds_per_sample(quiet))
    assert speed.seconds_per_sample(busy) < 0.9 / busy["timing"]["train_samples_per_second"]  # not the whole run's
    board = leaderboard.build(windowed("a", 1e-3) + windowed("b", 1e-3, slow_windows=20))
    assert bonus(board) == {"a": 5.0, "b": 5.0}


def test_equal_players_share_and_a_player_shown_more_than_five_percent_slower_does_not():
    board = leaderboard.build(windowed("a", 1e-3) + windowed("b", 1.02e-3) + windowed("c", 1.3e-3))
    assert bonus(board) == {"a": 5.0, "b": 5.0, "c": 0.0}  # 2 % slower is a tie; 30 % is shown slower
    assert any("shared by a, b" in n for n in board["notes"])
    ties = leaderboard.build(windowed("z", 1e-3) + windowed("y", 1e-3))
    assert bonus(ties) == {"y": 5.0, "z": 5.0}  # exact ties share, whatever the order


def test_speed_metric_compares_time_per_sample_or_the_whole_job():
    """b trains twice the samples at a's speed per sample: slower by the job, equal by the sample."""
    a, b = windowed("a", 1e-3), windowed("b", 1e-3)
    for r in b:
        r["timing"]["train_seconds"] *= 2
    assert bonus(leaderboard.build(a + b, speed_metric="train_seconds")) == {"a": 10.0, "b": 0.0}
    assert bonus(leaderboard.build(a + b, speed_metric="samples_per_second")) == {"a": 5.0, "b": 5.0}


def test_one_bonus_per_board_on_the_device_most_players_ran_on():
    """c ran two seeds on another chip: they are left out of its time, not made a group of their own; d ran only
    there, and gets no share."""
    c = windowed("c", 1.3e-3, seeds=(1,)) + windowed("c", 0.5e-3, seeds=(2, 3), cpu="Fast CPU")
    board = leaderboard.build(windowed("a", 1e-3) + windowed("b", 1e-3) + c + windowed("d", 0.5e-3, cpu="Fast CPU"))
    assert bonus(board) == {"a": 5.0, "b": 5.0, "c": 0.0, "d": 0.0}
    assert {r["player"]: r["speed"]["seeds"] for r in board["ranked"] if r["speed"]} == {"a": 3, "b": 3, "c": 1}
    assert any("d ran no seed there" in n for n in board["notes"])


def test_one_seed_each_needs_a_gap_beyond_fifteen_percent():
    board = leaderboard.build(
        windowed("a", 1e-3, seeds=(1,)) + windowed("b", 1.1e-3, seeds=(1,)) + windowed("c", 1.3e-3, seeds=(1,))
    )
    assert bonus(board) == {"a": 5.0, "b": 5.0, "c": 0.0}


@pytest.mark.parametrize(
    "name, a_alone, b_alone, shared",
    [
        ("equal speed", None, 0.0, (0.9, 1.0)),
        ("B 30 % slower", (0.8, 1.0), 0.0, None),
        ("B 30 % slower, 20 % of seeds contended (bursts)", (0.8, 1.0), 0.0, None),
        ("B 30 % slower, 20 % of seeds contended (whole jobs), 5 seeds", None, 0.0, None),
    ],
)
def test_simulated_noise_never_hands_the_bonus_to_the_slower_player(name, a_alone, b_alone, shared):
    s = next(x for x in speed_bonus.SCENARIOS if x.label == name)
    got = speed_bonus.scenario(s, 150, steady=True)
    assert got["B"] == b_alone, got
    for key, bounds in (("A", a_alone), ("shared", shared)):
        assert bounds is None or bounds[0] <= got[key] <= bounds[1], (key, got)


def test_the_steady_time_is_what_keeps_bursts_of_contention_from_deciding():
    """Without windows (the whole-run time) a 30 % faster player loses its bonus to contention bursts most of
    the time; with the steady time it keeps it."""
    s = next(x for x in speed_bonus.SCENARIOS if x.label == "B 30 % slower, 20 % of seeds contended (bursts)")
    assert speed_bonus.scenario(s, 150, steady=True)["A"] > 0.8
    assert speed_bonus.scenario(s, 150, steady=False)["A"] < 0.5
    assert np.isclose(sum(speed_bonus.scenario(s, 50, steady=True).values()), 1.0)
