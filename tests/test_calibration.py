"""The verdict's promise, checked by simulation (small, seeded versions of benchmarks/calibration.py): the board
keeps its family-wise error with a player short of seeds, one-seed boards are right about trained models (and
would be wrong about strategies), and the simulated boards are the ones ``rules.build`` makes."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from tuneoff.verdict import family, stats
from tuneoff.verdict import rules as leaderboard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import calibration

SHORT = calibration.Setting((3, 3, 3, 1), 1.5, planned=(3, 3, 3, 3))


def test_a_player_left_with_one_of_three_seeds_keeps_the_family_wise_error_and_a_wider_interval():
    c = calibration.null_cell(SHORT, replicates=300, sentences=1000)
    assert c["fwer_upper"] <= 0.05 and c["coverage_lower"] >= 0.93, c
    median, _, narrower = c["width_ratio"]
    assert median > 1.5 and narrower < 0.25, c  # about twice as wide as with its 3 seeds, rarely narrower


def test_the_check_would_catch_a_board_that_treats_one_seed_as_measured(monkeypatch):
    """Without borrowing (the board before issue 30) the same cell fails: the issue measured 25 %."""
    real = family.summarise

    def measured(matrices, planned=None, pooled=None):
        s = real(matrices, None, [False] * len(matrices))  # no pool: nothing borrowed
        return replace(s, pool_var=real(matrices).pool_var)  # keep the reference's weight as it was

    monkeypatch.setattr(family, "summarise", measured)
    c = calibration.null_cell(SHORT, replicates=150, sentences=1000)
    assert c["fwer"] > 0.1, c


def test_one_seed_boards_are_right_about_trained_models_and_would_be_wrong_about_strategies():
    c = calibration.null_cell(calibration.Setting((1,) * 6, 3.0), replicates=400, sentences=2210)
    assert c["fwer_upper"] <= 0.05 and c["coverage_lower"] >= 0.93, c
    assert c["strategy_fwer"] > 0.3, c  # why such a board must not speak of strategies


def test_two_seed_boards_keep_the_error_rate():
    c = calibration.null_cell(calibration.Setting((2,) * 8, 1.5), replicates=200, sentences=1000)
    assert c["fwer_upper"] <= 0.06 and c["coverage_lower"] >= 0.93, c


def _result(name: str, seed: int, correct: np.ndarray, labels: np.ndarray) -> dict:
    """A completed result carrying only what the verdict reads."""
    predictions = np.where(correct, labels, (labels + 1) % 5)
    counts = np.bincount(labels, minlength=5)
    return {
        "status": "completed",
        "player": {"name": name, "model": {"kind": "random"}, "strategy": {"name": "full"}},
        "seed": seed,
        "data_seed": None,
        "labels": calibration_labels(),
        "model": {"description": "simulated"},
        "test": {
            "accuracy": float(correct.mean()),
            "macro_f1": float(correct.mean()),
            "labels": labels.tolist(),
            "predictions": predictions.tolist(),
            "predicted_distribution": np.bincount(predictions, minlength=5).tolist(),
        },
        "data": {"test_majority_rate": float(counts.max() / counts.sum())},
        "timing": {"train_seconds": 100.0, "train_samples_per_second": 85.0, "concurrent_jobs": 1},
        "environment": {"hardware": {"cpu": "simulated", "device": "cpu"}},
        "parameters": {"trainable": 1, "total": 1},
        "memory": {"peak_rss_bytes": 1},
        "best_epoch": 1,
        "generalization": {"gap_at_best_epoch": None, "lowest_dev_loss_epoch": 1},
    }


def calibration_labels() -> list[str]:
    return ["very negative", "negative", "neutral", "positive", "very positive"]


def test_the_simulated_boards_are_the_boards_rules_build_makes():
    rng = np.random.default_rng(5)
    setting = calibration.Setting((3, 3, 2, 1), 2.0, planned=(3, 3, 3, 3), better=4.0)
    for _ in range(3):
        full, _ = calibration.world(rng, setting, 1, 600)
        done = [m[0, :k] for m, k in zip(full, setting.seeds)]
        labels = rng.integers(0, 5, 600)
        names = [f"p{i}" for i in range(4)]
        board = leaderboard.build(
            [_result(n, s, m[s], labels) for n, m in zip(names, done) for s in range(len(m))],
            bonus=0.0,
            planned=dict.fromkeys(names, 3),
        )
        order = [names.index(r["player"]) for r in board["ranked"]]
        summary = family.summarise([done[i] for i in order], [3] * 4)
        pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
        assert [q["separable"] for q in board["pairwise"]] == stats.holm_rejects(family.differences(summary, pairs))[
            0
        ].tolist()
        lo, _ = family.accuracies(summary).ci()
        assert [r["test_accuracy_ci95"][0] for r in board["ranked"]] == list(np.maximum(0.0, lo[0]))
