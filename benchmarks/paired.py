"""Two players from different runs, compared on the same test sentences.

    python benchmarks/paired.py RUN_A PLAYER_A RUN_B PLAYER_B [--out benchmarks/RESULTS.md]

Each side's completed seeds are read from its run folder (players/<name>/seed-*/result.json).
Prints each side's accuracy and the difference A - B with the same statistics the leaderboard
uses (tuneoff.verdict.stats.compare: McNemar's exact test for one seed each, a paired bootstrap over
sentences otherwise, and its 95 % CI). The two runs must have scored the same test sentences
in the same order; the script checks the labels match.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from results_file import append, command  # this folder is on sys.path when run as a script

from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict.stats import compare, correctness


def completed(run: Path, player: str) -> list[dict]:
    out = [r for r in RunFolder(run).results() if r["status"] == "completed" and r["player"]["name"] == player]
    if not out:
        sys.exit(f"{run}: no completed result for player {player!r}")
    return sorted(out, key=lambda r: r["seed"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("player_a")
    ap.add_argument("run_b", type=Path)
    ap.add_argument("player_b")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    a, b = completed(args.run_a, args.player_a), completed(args.run_b, args.player_b)
    if any(r["test"]["labels"] != a[0]["test"]["labels"] for r in (*a, *b)):
        sys.exit("the two runs scored different test sentences (labels differ): no paired comparison")
    ca, cb = correctness(a), correctness(b)
    paired = compare(ca, cb)
    side = lambda run, name, c, rs: (f"| {run}/{name} | {', '.join(str(r['seed']) for r in rs)} | "
                                     f"{c.mean():.2%} | {', '.join(f'{x:.2%}' for x in c.mean(axis=1))} |")
    lines = ["| side | seeds | test accuracy | per seed |", "|---|---|---:|---|",
             side(args.run_a, args.player_a, ca, a), side(args.run_b, args.player_b, cb, b), "",
             f"A - B: **{100 * paired.diff:+.2f} points**, 95 % CI [{100 * paired.ci95[0]:+.2f}, "
             f"{100 * paired.ci95[1]:+.2f}], {paired.test} p = {paired.p:.3g}; "
             f"{int(np.sum(ca.mean(0) > cb.mean(0)))} sentences only A gets right more often, "
             f"{int(np.sum(ca.mean(0) < cb.mean(0)))} only B."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        append(args.out, f"\n### `{command('paired.py', argv)}`\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
