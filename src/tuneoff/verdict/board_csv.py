"""The board as CSV (leaderboard.csv): one row per player, plain numbers, for a spreadsheet or pandas.

Accuracies are fractions (0.65), differences from the first player in points of accuracy (as the
board's pairwise table), times in seconds. A player that has not completed is a row with its status
and no numbers. No torch.
"""

from __future__ import annotations

import csv
import io

from tuneoff.store.status import Status

COLUMNS = [
    "rank",
    "rank_low",
    "rank_high",
    "may_be_best",
    "player",
    "strategy",
    "model",
    "status",
    "collapsed",
    "test_accuracy",
    "test_accuracy_std",
    "test_accuracy_ci95_low",
    "test_accuracy_ci95_high",
    "macro_f1",
    "seeds",
    "seeds_planned",
    "diff_vs_best_points",
    "diff_vs_best_ci95_low_points",
    "diff_vs_best_ci95_high_points",
    "p_vs_best_holm",
    "points",
    "bonus",
    "train_seconds_median",
    "trainable_parameters",
    "total_parameters",
    "peak_rss_bytes",
    "device",
]


def _end(pair, i: int):
    """One end of an interval, or None (a player the verdict does not rank, a best player's own difference)."""
    return None if pair is None else pair[i]


def _ranked(r: dict) -> dict:
    lo, hi = r["test_accuracy_ci95"]
    return {
        "rank": r["rank"],
        "rank_low": _end(r["rank_interval"], 0),
        "rank_high": _end(r["rank_interval"], 1),
        "may_be_best": r["may_be_best"],
        "player": r["player"],
        "strategy": r["strategy"],
        "model": r["model"],
        "status": Status.COMPLETED.value,
        "collapsed": r["collapsed"],
        "test_accuracy": r["test_accuracy"],
        "test_accuracy_std": r["test_accuracy_std"],
        "test_accuracy_ci95_low": lo,
        "test_accuracy_ci95_high": hi,
        "macro_f1": r["macro_f1"],
        "seeds": len(r["seeds"]),
        "seeds_planned": r["seeds_planned"],
        "diff_vs_best_points": r["diff_vs_best"],
        "diff_vs_best_ci95_low_points": _end(r["diff_vs_best_ci95"], 0),
        "diff_vs_best_ci95_high_points": _end(r["diff_vs_best_ci95"], 1),
        "p_vs_best_holm": r["p_vs_best"],
        "points": r["points"],
        "bonus": r["bonus"],
        "train_seconds_median": r["train_seconds"],
        "trainable_parameters": r["trainable_parameters"],
        "total_parameters": r["total_parameters"],
        "peak_rss_bytes": r["peak_rss_bytes"],
        "device": r["hardware"],
        **{f"extra_{name}_accuracy": e["mean"] for name, e in sorted(r.get("extra_eval", {}).items())},
    }


def board_csv(board: dict) -> str:
    """The ranked players in rank order, then every job that did not complete (one row each)."""
    rows = [_ranked(r) for r in board["ranked"]]
    extra = sorted({k for row in rows for k in row if k.startswith("extra_")})
    rows += [
        {"player": u["player"], "strategy": u["strategy"], "model": u["model"], "status": u["status"], "seeds": 0}
        for u in board["unranked"]
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS + extra, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return out.getvalue()
