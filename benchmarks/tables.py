"""Markdown tables for README and RESULTS.md from a finished run folder (reads leaderboard.json only).

    python benchmarks/tables.py RUN_DIR [--out benchmarks/RESULTS.md]

Prints, per player: mean test accuracy ± std over seeds, the 95 % CI, the seed-to-seed std next
to the binomial floor of one accuracy on this test set, the difference from the leader with its CI
and Holm p, tied or not, trainable parameters, median training time, peak memory, the generalisation
gap, and any extra test sets; then every pair with its Holm p, and the detectable difference.
Rebuild the board first (`tuneoff leaderboard RUN_DIR`) so it follows the current rules.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from results_file import append  # this folder is on sys.path when run as a script


def board_tables(run: Path) -> str:
    board = json.loads((run / "leaderboard.json").read_text())
    lines = [f"From `{run.name}` ({len(board['ranked'])} ranked players):", ""]
    head = ("| rank | player | strategy | test acc, mean ± std | 95 % CI | seeds | std over seeds | binomial SE | "
            "vs leader, points [95 % CI] | p (Holm) | tied | trainable params | train s (median) | peak RSS | gap |")
    sets = sorted({n for r in board["ranked"] for n in r.get("extra_eval", {})})
    lines += [head + "".join(f" {n} |" for n in sets), "|" + "---|" * (15 + len(sets))]
    for r in board["ranked"]:
        lo, hi = r["test_accuracy_ci95"]
        vs = "leader" if r["p_vs_leader"] is None else (
            f"{r['diff_vs_leader']:+.2f} [{r['diff_vs_leader_ci95'][0]:+.2f}, {r['diff_vs_leader_ci95'][1]:+.2f}]")
        p = "–" if r["p_vs_leader"] is None else ("< 0.001" if r["p_vs_leader"] < 0.001 else f"{r['p_vs_leader']:.3g}")
        std = f"{100 * r['test_accuracy_std']:.2f}" if len(r["seeds"]) > 1 else "–"
        gap = "–" if r["generalization_gap"] is None else f"{100 * r['generalization_gap']:+.1f}"
        flags = " COLLAPSED" if r["collapsed"] else ""
        extra = "".join(f" {r['extra_eval'][n]['mean']:.2%} |" if n in r.get("extra_eval", {}) else " – |" for n in sets)
        lines.append(f"| {r['rank']} | {r['player']}{flags} | {r['strategy']} | {r['test_accuracy']:.2%} ± "
                     f"{100 * r['test_accuracy_std']:.2f} | {lo:.2%} – {hi:.2%} | {len(r['seeds'])} | {std} | "
                     f"{100 * r['binomial_se']:.2f} | {vs} | {p} | {'–' if r['p_vs_leader'] is None else ('yes' if r['tied_with_leader'] else 'no')} | "
                     f"{r['trainable_parameters']:,} | {r['train_seconds']:.0f} | "
                     f"{r['peak_rss_bytes'] / 2**30:.2f} GiB | {gap} |{extra}")
    for group, pairs in board["pairwise"].items():
        lines += ["", f"Pairs ({group}): difference in points of accuracy, first minus second.", "",
                  "| pair | difference [95 % CI] | p | p (Holm) | test |", "|---|---|---|---|---|"]
        lines += [f"| {q['a']} − {q['b']} | {q['diff']:+.2f} [{q['ci95'][0]:+.2f}, {q['ci95'][1]:+.2f}] | "
                  f"{q['p']:.3g} | {q['p_holm']:.3g} | {q['test']} |" for q in pairs]
        power = board["power"].get(group)
        if power:
            noise = (f"seed std {100 * power['seed_std']:.2f} points" if power["seed_variance_measured"]
                     else "seed-to-seed variance not measured")
            lines += ["", f"Smallest detectable difference (80 % power, α 0.05): {power['detectable_difference']:.2f} "
                          f"points ({power['seeds']} seed(s) per player, {noise}, {power['sentences']} sentences)."]
    lines += [f"- {n}" for n in board["notes"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, help="append the tables to this file")
    args = ap.parse_args(argv)
    text = board_tables(args.run_dir)
    sys.stdout.write(text)
    if args.out:
        append(args.out, f"\n### `python benchmarks/tables.py {args.run_dir}`\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
