"""The verdict's promise, checked by simulation through the real leaderboard code (benchmarks/calibration.py,
a fast version): identical players are rarely separated, intervals cover the truth, the old rule fails."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import calibration  # noqa: E402


def test_identical_players_under_run_noise_are_rarely_separated_and_the_old_rule_fails():
    c = calibration.cell(players=10, seeds=3, run_points=3.0, replicates=40, sentences=1000)
    assert c.fwer <= 0.05 + 2 * c.fwer_se, c  # the family-wise promise (40 replicates: within 2 SE)
    assert c.fwer_old >= 0.5, c  # sentence-only pairs, blind to run-to-run noise: most boards lie
    assert 0.90 <= c.coverage <= 0.99, c


def test_without_run_noise_intervals_cover_and_a_real_gap_is_found():
    c = calibration.cell(players=4, seeds=5, run_points=0.0, replicates=40, sentences=2210)
    assert c.fwer <= 0.05 + 2 * c.fwer_se and 0.90 <= c.coverage <= 0.99, c
    assert c.power >= 0.5, c  # 3 points, no run-to-run noise, 5 seeds: usually separated from all three


def test_the_check_would_catch_a_verdict_that_ignores_run_noise(monkeypatch):
    """Break the estimate (drop the runs' term) and the calibration turns red."""
    from tuneoff.verdict import stats

    real = stats.difference

    def blind(a, b):
        e = real(a, b)
        return stats.Estimate(e.mean, 0.0, 0.0, e.sentences_var + 1e-12, e.sentences_df)

    monkeypatch.setattr(stats, "difference", blind)
    c = calibration.cell(players=10, seeds=3, run_points=3.0, replicates=20, sentences=1000)
    assert c.fwer > 0.05 + 2 * c.fwer_se
