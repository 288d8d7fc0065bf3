"""Captured against eager: the same tournament, seed and data, trained with each step path.

    python benchmarks/equivalence.py RUN_EAGER RUN_CAPTURED [--out benchmarks/RESULTS.md]

Both run folders hold the same players (e.g. a config run once with protocol.cuda_graphs =
false and once with true, both with the same static_shapes). Per player it prints the step
path each side really took, the training loss curves' largest gap (epoch means and the
logged 10-step windows), test accuracy on each side with the paired difference (the
leaderboard's test, tuneoff.verdict.stats.difference, and its 95 % CI; one seed a side, so it
covers the test sentences), and the steady-state training
speed (median epoch after the first, whose time includes capturing).

The tolerance, stated before measuring: the two paths are *equivalent* for a player when
every epoch's mean training loss differs by at most 0.05 nats and the paired test accuracy
difference is not significant (p >= 0.05). Bit-equality is not expected on CUDA:
a captured graph draws its dropout masks from the graph-safe Philox offsets, so the masks
differ from eager's from the first step, like a different dropout seed. (On CPU, with the
emulated backend, tests/test_steps.py pins bit-equality of the bookkeeping.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from results_file import append, command  # this folder is on sys.path when run as a script

from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict import format as fmt
from tuneoff.verdict.stats import correctness, difference

EPOCH_LOSS_TOLERANCE = 0.05  # nats, per epoch mean
ALPHA = 0.05


def by_player(run: Path) -> dict[str, dict]:
    out = {}
    for r in RunFolder(run).results():
        if r["status"] == "completed":
            out.setdefault(r["player"]["name"], r)  # the first completed seed
    return out


def steady_rate(r: dict) -> float:
    """Training samples/s of the median epoch after the first (the first includes capture)."""
    epochs = r["history"]["epochs"]
    later = [e["train_seconds"] for e in epochs[1:]] or [epochs[0]["train_seconds"]]
    samples = r["timing"]["train_samples_per_second"] * r["timing"]["train_seconds"] / len(epochs)
    return samples / statistics.median(later)


def row(name: str, eager: dict, captured: dict) -> tuple[str, bool]:
    le = np.array([e["train_loss"] for e in eager["history"]["epochs"]])
    lc = np.array([e["train_loss"] for e in captured["history"]["epochs"]])
    we = np.array([s[1] for s in eager["history"]["steps"]])
    wc = np.array([s[1] for s in captured["history"]["steps"]])
    n = min(len(we), len(wc))
    epoch_gap = float(np.max(np.abs(le - lc)))
    paired = difference(correctness([captured]), correctness([eager]))  # the board's test (one seed: sentences)
    (lo, hi), p = paired.ci(), paired.p()
    ok = epoch_gap <= EPOCH_LOSS_TOLERANCE and p >= ALPHA
    path = captured["step"]["path"] + (f" ({captured['step']['graphs']} graphs)" if captured["step"]["graphs"] else "")
    text = (
        f"| {name} | {path} | {epoch_gap:.4f} | {float(np.max(np.abs(we[:n] - wc[:n]))):.4f} | "
        f"{eager['test']['accuracy']:.2%} | {captured['test']['accuracy']:.2%} | "
        f"{fmt.difference(100 * paired.mean, [100 * lo, 100 * hi])} | {fmt.p_value(p)} | "
        f"{steady_rate(eager):,.0f} | {steady_rate(captured):,.0f} | "
        f"{eager['timing']['train_seconds']:.1f} | {captured['timing']['train_seconds']:.1f} | "
        f"{'yes' if ok else '**no**'} |"
    )
    return text, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eager", type=Path)
    ap.add_argument("captured", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    eager, captured = by_player(args.eager), by_player(args.captured)
    common = [n for n in eager if n in captured]
    if not common:
        sys.exit(f"no player completed in both {args.eager} and {args.captured}")
    lines = [
        "| player | captured path | max epoch-loss gap | max 10-step-loss gap | eager test | captured test | "
        "captured − eager, points [95 % CI] | p | eager samples/s (steady) | captured samples/s "
        "(steady) | eager train s | captured train s | equivalent |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    for name in common:
        text, ok = row(name, eager[name], captured[name])
        lines.append(text)
        verdicts.append(ok)
    lines += [
        "",
        f"Tolerance: every epoch's mean training loss within {EPOCH_LOSS_TOLERANCE} nats and the paired "
        f"p >= {ALPHA}. Equivalent: {sum(verdicts)} of {len(verdicts)} players.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        append(args.out, f"\n### `{command('equivalence.py', argv)}`\n\n{text}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
