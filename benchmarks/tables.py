"""Markdown tables for the docs and RESULTS.md from a finished run folder (reads its leaderboard only).

    python benchmarks/tables.py RUN_DIR [--out benchmarks/RESULTS.md]

Prints, per player: mean test accuracy ± std over seeds, the 95 % CI, the seed-to-seed std next
to the binomial floor of one accuracy on this test set, the difference from the leader with its CI
and Holm p, tied or not, trainable parameters, median training time, peak memory, the generalisation
gap, and any extra test sets; then every pair with its Holm p, every pair on each extra test set that
kept its predictions, and the detectable difference.
Rebuild the board first (`tuneoff leaderboard RUN_DIR`) so it follows the current rules.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from results_file import append  # this folder is on sys.path when run as a script

from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict import table
from tuneoff.verdict.board import detectable_sentence
from tuneoff.verdict.format import difference, p_value
from tuneoff.verdict.rows import extra_eval_table, may_be_best_sentence, rows


def _pair(q: dict) -> str:
    """A pair's first two cells: the names, and the difference in points with its 95 % CI."""
    return f"{q['a']} − {q['b']} | {difference(q['diff'], q['ci95'])}"


def board_tables(run: Path) -> str:
    board = json.loads(RunFolder(run).board_paths()[0].read_text())
    lines = [f"From `{run.name}` ({len(board['ranked'])} ranked players):", ""]
    headers, extra = extra_eval_table(board["ranked"])
    players = table.markdown(table.BENCHMARK, board, rows(board))
    lines += [players[0] + "".join(f" {n} |" for n in headers[1:]), players[1] + "---:|" * len(headers[1:])]
    lines += [
        line + "".join(f" {c} |" for c in cells[1:])
        for line, cells in zip(players[2:], extra or [[]] * len(board["ranked"]))
    ]
    lines += ["", may_be_best_sentence(board)]
    pairs = board["pairwise"]
    if pairs:
        lines += [
            "",
            "Pairs: difference in points of accuracy, first minus second, with its CI simultaneous over the "
            "board's Holm family.",
            "",
            "| pair | difference [simultaneous 95 % CI] | p | p (Holm) | separable | test |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_pair(q)} | {p_value(q['p'])} | {p_value(q['p_holm'])} | {'yes' if q['separable'] else 'no'} | "
            f"{q['test']} |"
            for q in pairs
        ]
    for name, verdict in (board.get("extra_eval") or {}).items():
        if verdict["pairwise"]:
            lines += [
                "",
                f"Pairs on {name} (each sentence's prediction kept; in the board's one Holm family): "
                f"may be best there: {', '.join(verdict['may_be_best']) or 'none'}.",
                "",
                "| pair | difference [simultaneous 95 % CI] | p (Holm) | separable |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| {_pair(q)} | {p_value(q['p_holm'])} | {'yes' if q['separable'] else 'no'} |"
                for q in verdict["pairwise"]
            ]
    if board["power"]:
        lines += ["", detectable_sentence(board["power"])]
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
