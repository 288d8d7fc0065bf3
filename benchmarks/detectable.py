"""Is the detectable difference a board prints the one its own test has? Printed against simulated.

    nice -n 10 python benchmarks/detectable.py [--boards 40] [--replicates 1000] [--out benchmarks/RESULTS.md]

Per setting (players / seeds; run-to-run std 1.5 points and a player x sentence effect, so both of a
pair's terms matter), the worlds of benchmarks/calibration.py:

- printed: the figure ``tuneoff.verdict.power`` gives (the median over players of how much better than
  the others a player must be to be separated from another in 80 % of boards) for ``--boards`` boards
  drawn with no true difference: their median and 10-90 % range;
- simulated: player 0 made better by d than every other player, sentences and seeds drawn in full, each
  board through the board's own test (``family`` and Holm's step-down over every pair); d is found by
  bisection (common random numbers) where player 0 is separated from player 1 in 80 % of boards, and
  given as player 0's true advantage at that d (a little less than d: chances are clipped to 0..1).

The issue asks for the printed median within 15 % of the simulated difference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from calibration import (  # this folder is on sys.path when run as a script
    Setting,
    world,
)

from tuneoff.verdict import family, power, stats

SETTINGS = [
    Setting((3,) * 4, 1.5, player_sentence=0.1),
    Setting((3,) * 13, 1.5, player_sentence=0.1),
    Setting((10,) * 4, 1.5, player_sentence=0.1),
]


def printed(s: Setting, boards: int, sentences: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    players = len(s.seeds)
    out = []
    for _ in range(boards):
        full, _ = world(rng, s, 1, sentences)
        summary = family.summarise(full)
        figures = power.detectable(summary, list(range(players)), players * (players - 1) // 2)
        out.append(np.median(list(figures.values())))
    return np.array(out)


def separated(s: Setting, d: float, replicates: int, sentences: int, chunk: int = 100) -> float:
    """Share of boards in which player 0, d points better than the rest, is separated from player 1."""
    rng = np.random.default_rng(2)  # the same draws for every d: power rises smoothly with it
    players = len(s.seeds)
    pairs = [(i, j) for i in range(players) for j in range(i + 1, players)]
    hits = 0
    for start in range(0, replicates, chunk):
        full, _ = world(
            rng,
            Setting(s.seeds, s.run, player_sentence=s.player_sentence, better=d),
            min(chunk, replicates - start),
            sentences,
        )
        hits += int(stats.holm_rejects(family.differences(family.summarise(full), pairs))[:, 0].sum())
    return hits / replicates


def gain(s: Setting, d: float, draws: int = 2_000_000) -> float:
    """Player 0's true advantage, in points, when its chance on every sentence is raised by d points: a little
    less than d, since chances stay within 0..1."""
    rng = np.random.default_rng(3)
    p = rng.random(draws) + rng.normal(0, s.player_sentence, draws) + rng.normal(0, s.run / 100, draws)
    return 100 * float(np.mean(np.clip(p + d / 100, 0, 1) - np.clip(p, 0, 1)))


def simulated(s: Setting, guess: float, replicates: int, sentences: int) -> float:
    low, high = 0.0, 2 * guess
    while separated(s, high, replicates, sentences) < stats.POWER:
        low, high = high, 2 * high
    for _ in range(9):
        mid = (low + high) / 2
        low, high = (low, mid) if separated(s, mid, replicates, sentences) >= stats.POWER else (mid, high)
    return (low + high) / 2


def main(argv=None) -> int:
    from results_file import append_section, command

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", type=int, default=40)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--sentences", type=int, default=2210)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args(argv)
    started = time.perf_counter()
    lines = [
        "| players | seeds | printed, median [10-90 %] | simulated 80 % power | printed / simulated |",
        "|---:|---:|---:|---:|---:|",
    ]
    ok = True
    for s in SETTINGS:
        shown = printed(s, args.boards, args.sentences)
        truth = gain(s, simulated(s, float(np.median(shown)), args.replicates, args.sentences))
        ratio = float(np.median(shown)) / truth
        ok &= abs(ratio - 1) <= 0.15
        lines.append(
            f"| {len(s.seeds)} | {s.seeds[0]} | {np.median(shown):.2f} [{np.quantile(shown, 0.1):.2f}, "
            f"{np.quantile(shown, 0.9):.2f}] | {truth:.2f} | {ratio:.2f} |"
        )
        print(lines[-1], flush=True)
    append_section(
        args.out,
        [
            f"## Detectable difference: printed against simulated ({args.boards} boards printed, "
            f"{args.replicates} per simulated difference; run-to-run std 1.5 points, player x "
            f"sentence 0.1, {args.sentences} sentences)",
            "",
            f"`{command('detectable.py', argv)}`",
            "",
            *lines,
            "",
            f"Within 15 %: **{'yes' if ok else 'no'}**. ({time.perf_counter() - started:.0f} s.)",
            "",
        ],
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
