"""Does the verdict keep its promise? Identical players under a null, through the real leaderboard code.

    python benchmarks/calibration.py [--replicates 200] [--out benchmarks/RESULTS.md]

Each replicate draws a fresh test set of N sentences (each with its own difficulty: a probability
of being right drawn uniformly), and every run of every player (its seed) a run effect: a shift of
that probability, normal with the given std in points of accuracy. Every player is the *same*
strategy, so any pair marked separable is a false verdict. The results go through
``tuneoff.verdict.rules.build`` like real results files, and the script reports, per cell:

- FWER: the share of replicates with at least one false "separable" pair (promise: <= 5 %);
- coverage: the share of players whose 95 % CI holds the strategy's true accuracy (promise: ~95 %);
- power: with one player 3 points better than the rest, the share of replicates in which it is
  separated from all of them (the verdict's reward for the caution);
- and the same FWER for the rule the board used before (a paired test over sentences of the
  seed-averaged scores, blind to run-to-run noise), for comparison.

Monte-Carlo standard errors are given; a cell passes when FWER <= 5 % + 2 SE and coverage lies in
[93 %, 97 %] within 2 SE.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuneoff.verdict import rules, stats

LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]


def fake(name: str, seed: int, correct: np.ndarray, labels: np.ndarray) -> dict:
    """A completed result carrying only what the verdict reads."""
    predictions = np.where(correct, labels, (labels + 1) % 5)
    counts = np.bincount(labels, minlength=5)
    return {
        "status": "completed", "player": {"name": name, "model": {"kind": "random"}, "strategy": {"name": "full"}},
        "seed": seed, "data_seed": None, "labels": LABELS, "model": {"description": "simulated"},
        "test": {"accuracy": float(correct.mean()), "macro_f1": float(correct.mean()), "labels": labels.tolist(),
                 "predictions": predictions.tolist(), "predicted_distribution": np.bincount(predictions, minlength=5).tolist()},
        "data": {"test_majority_rate": float(counts.max() / counts.sum()), "sizes": {"test": len(labels)}},
        "timing": {"train_seconds": 100.0, "train_samples_per_second": 85.0, "concurrent_jobs": 1},
        "environment": {"hardware": {"cpu": "simulated", "device": "cpu", "threads": 1}},
        "parameters": {"trainable": 1, "total": 1}, "memory": {"peak_rss_bytes": 1},
        "best_epoch": 1, "generalization": {"gap_at_best_epoch": None, "lowest_dev_loss_epoch": 1},
    }


TRUE_ACCURACY = 0.5  # E over p ~ U(0, 1) and a symmetric run effect of clip(p + u, 0, 1)


def world(rng, players: int, seeds: int, run_points: float, sentences: int, better: float = 0.0):
    """Per player a seeds x sentences correctness matrix (player 0 ``better`` points better), and the labels."""
    labels = rng.integers(0, 5, size=sentences)
    p = rng.random(sentences)  # each sentence's chance of being right: E[p] = 0.5
    matrices = []
    for i in range(players):
        shift = better / 100 if i == 0 else 0.0
        u = rng.normal(0.0, run_points / 100, size=(seeds, 1))
        matrices.append(rng.random((seeds, sentences)) < np.clip(p + shift + u, 0, 1))
    return matrices, labels


def old_rule_separable(matrices: list[np.ndarray]) -> bool:
    """The previous board's test: seed-averaged per-sentence scores, paired over sentences only, Holm."""
    from scipy.stats import t

    means = [m.mean(axis=0) for m in matrices]
    ps = []
    for i, a in enumerate(means):
        for b in means[i + 1:]:
            d = a - b
            se = d.std(ddof=1) / np.sqrt(len(d))
            ps.append(1.0 if se == 0 else float(2 * t.sf(abs(d.mean()) / se, len(d) - 1)))
    return any(p < stats.ALPHA for p in stats.holm(ps))


@dataclass
class Cell:
    players: int
    seeds: int
    run_points: float
    fwer: float
    fwer_old: float
    coverage: float
    power: float
    replicates: int

    @property
    def fwer_se(self) -> float:
        return float(np.sqrt(max(self.fwer, 0.05) * (1 - max(self.fwer, 0.05)) / self.replicates))

    @property
    def coverage_se(self) -> float:
        return float(np.sqrt(0.95 * 0.05 / (self.replicates * self.players)))

    @property
    def passes(self) -> bool:
        return (self.fwer <= stats.ALPHA + 2 * self.fwer_se
                and 0.93 - 2 * self.coverage_se <= self.coverage <= 0.97 + 2 * self.coverage_se)


def board_of(matrices, labels) -> dict:
    results = [fake(f"p{i:02d}", s, m[s], labels) for i, m in enumerate(matrices) for s in range(m.shape[0])]
    return rules.build(results, bonus=0.0)


def cell(players: int, seeds: int, run_points: float, replicates: int, sentences: int = 2210, seed: int = 0) -> Cell:
    rng = np.random.default_rng([players, seeds, int(10 * run_points), seed])
    false, false_old, covered, found = 0, 0, 0, 0
    for _ in range(replicates):
        matrices, labels = world(rng, players, seeds, run_points, sentences)
        board = board_of(matrices, labels)
        false += any(q["separable"] for q in board["pairwise"])
        false_old += old_rule_separable(matrices)
        covered += sum(lo <= TRUE_ACCURACY <= hi for lo, hi in (r["test_accuracy_ci95"] for r in board["ranked"]))
        matrices, labels = world(rng, players, seeds, run_points, sentences, better=3.0)
        board = board_of(matrices, labels)
        found += all(q["separable"] for q in board["pairwise"] if "p00" in (q["a"], q["b"]))
    return Cell(players, seeds, run_points, false / replicates, false_old / replicates,
                covered / (replicates * players), found / replicates, replicates)


def table(cells: list[Cell]) -> list[str]:
    lines = ["| players | seeds | run-to-run std, points | FWER (± SE) | FWER, old rule | CI coverage | "
             "power, 3 points | passes |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {c.players} | {c.seeds} | {c.run_points:g} | {c.fwer:.1%} (± {c.fwer_se:.1%}) | {c.fwer_old:.1%} | "
              f"{c.coverage:.1%} | {c.power:.0%} | {'yes' if c.passes else '**no**'} |" for c in cells]
    return lines


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from results_file import append_section, command

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--sentences", type=int, default=2210)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args(argv)
    started, cells = time.perf_counter(), []
    for players in (4, 10, 18):
        for seeds in (3, 5):
            for run_points in (0.0, 1.5, 3.0):
                cells.append(cell(players, seeds, run_points, args.replicates, args.sentences))
                print(table([cells[-1]])[-1], flush=True)
    lines = [f"## Calibration of the verdict ({args.replicates} replicates per cell, {args.sentences} test sentences)",
             "", f"`{command('calibration.py', argv)}`", "", *table(cells), "",
             f"All cells pass: **{'yes' if all(c.passes for c in cells) else 'no'}**. "
             f"({time.perf_counter() - started:.0f} s.)", ""]
    append_section(args.out, lines)
    return 0 if all(c.passes for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
