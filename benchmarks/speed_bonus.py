"""Can noise decide the speed bonus? Simulated jobs through the board's own award (tuneoff.verdict.speed).

    nice -n 10 python benchmarks/speed_bonus.py [--trials 2000] [--out benchmarks/RESULTS.md]

Each trial times two players, A and B, over their seeds. A job trains 60 windows of 10 steps (the loop
records each window's seconds between its loss reads); a window takes the player's time per sample x
the job's own jitter (log-normal, 5 %) x the window's (log-normal, 3 %). Contention: each seed is
contended with probability 20 %, either for the whole job (every window 2.5x slower: the seed runs 2.5x
slower, the issue's model) or in a burst (one stretch of 20-70 % of its windows 2.5x slower). Each
scenario is judged twice: by the steady time the board uses (lower quartile of the windows), and by the
whole-run time (what the board used before it timed windows).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuneoff.verdict import speed

WINDOWS, SAMPLES = 60, 320  # per job; samples per window (10 steps of 32)


@dataclass(frozen=True)
class Scenario:
    label: str
    slower: float = 1.0  # B's time over A's
    seeds: int = 3
    contention: float = 0.0  # share of seeds contended
    burst: bool = False  # contention for a stretch of the job, not all of it


SCENARIOS = [
    Scenario("equal speed"),
    Scenario("equal speed, one seed each", seeds=1),
    Scenario("equal speed, 20 % of seeds contended (bursts)", contention=0.2, burst=True),
    Scenario("B 30 % slower", 1.3),
    Scenario("B 30 % slower, 20 % of seeds contended (whole jobs)", 1.3, contention=0.2),
    Scenario("B 30 % slower, 20 % of seeds contended (bursts)", 1.3, contention=0.2, burst=True),
    Scenario("B 30 % slower, 20 % of seeds contended (whole jobs), 5 seeds", 1.3, seeds=5, contention=0.2),
]


def job(rng, per_sample: float, s: Scenario, steady: bool) -> dict:
    """One job's result as the award reads it."""
    windows = per_sample * SAMPLES * np.exp(rng.normal(0, 0.05) + rng.normal(0, 0.03, WINDOWS))
    if rng.random() < s.contention:
        if s.burst:
            length = int(rng.uniform(0.2, 0.7) * WINDOWS)
            start = rng.integers(0, WINDOWS - length + 1)
            windows[start : start + length] *= 2.5
        else:
            windows *= 2.5
    total = float(windows.sum())
    # The whole-run time: one window over the whole job, whose lower quartile is the job's mean time per sample.
    timed = [[10, SAMPLES, float(w)] for w in windows] if steady else [[10 * WINDOWS, SAMPLES * WINDOWS, total]]
    return {
        "timing": {"train_seconds": total, "train_samples_per_second": WINDOWS * SAMPLES / total},
        "environment": {"hardware": {"cpu": "simulated", "device": "cpu"}},
        "history": {"window_seconds": timed},
    }


def trial(rng, s: Scenario, steady: bool) -> str:
    """Who takes the bonus in one simulated board: 'A', 'B' or 'shared'."""
    bases = {"A": 1e-3, "B": 1e-3 * s.slower}
    runs = {name: [job(rng, base, s, steady) for _ in range(s.seeds)] for name, base in bases.items()}
    rows = [{"player": n, "collapsed": False, "points": 50.0, "concurrent_jobs": [1], "fastest": False} for n in runs]
    speed.award(rows, runs, 10.0, "train_seconds")
    winners = [r["player"] for r in rows if r["fastest"]]
    return "shared" if len(winners) > 1 else winners[0]


def scenario(s: Scenario, trials: int, steady: bool) -> dict[str, float]:
    rng = np.random.default_rng(7)
    outcomes = [trial(rng, s, steady) for _ in range(trials)]
    return {k: outcomes.count(k) / trials for k in ("A", "B", "shared")}


def main(argv=None) -> int:
    from results_file import append_section, command

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args(argv)
    started = time.perf_counter()
    lines = [
        "| scenario | seeds | steady time: A alone | B alone | shared | whole-run time: A alone | B alone | shared |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in SCENARIOS:
        new, old = scenario(s, args.trials, True), scenario(s, args.trials, False)
        lines.append(
            f"| {s.label} | {s.seeds} | {new['A']:.1%} | {new['B']:.1%} | {new['shared']:.1%} | "
            f"{old['A']:.1%} | {old['B']:.1%} | {old['shared']:.1%} |"
        )
        print(lines[-1], flush=True)
    append_section(
        args.out,
        [
            f"## The speed bonus under noise ({args.trials} trials per scenario)",
            "",
            f"`{command('speed_bonus.py', argv)}`",
            "",
            *lines,
            "",
            f"({time.perf_counter() - started:.0f} s.)",
            "",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
