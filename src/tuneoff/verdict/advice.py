"""When every player collapsed: why (how long they trained, how many test sentences judged them) and what to
change. The board carries it as a note, so the terminal, leaderboard.md and the report all say it. No torch.
"""

from __future__ import annotations

import math

from tuneoff.store.status import Status
from tuneoff.verdict import stats


def needed_accuracy(n: int, majority: float) -> float:
    """The least accuracy on ``n`` test sentences that counts as above the majority-class rate (the collapse
    rule's one-sided exact binomial test at stats.ALPHA)."""
    low, high = 0, n
    while low < high:  # the smallest count of right answers whose p is below alpha
        mid = (low + high) // 2
        if stats.above_chance(mid, n, majority) < stats.ALPHA:
            high = mid
        else:
            low = mid + 1
    return low / n if n else 1.0


def _steps(result: dict) -> int:
    recorded = (result.get("history") or {}).get("steps") or []
    if recorded:
        return int(recorded[-1][0])
    size, batch = result["data"]["sizes"]["train"], result["protocol"]["batch_size"]
    return math.ceil(size / batch) * result["protocol"]["epochs"]


def _span(values: list) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def _changes(done: list[dict]) -> list[str]:
    """The settings that apply to these jobs, each with its value now."""
    data = done[0]["data"]
    out = [f"more steps (protocol.epochs, now {_span([r['protocol']['epochs'] for r in done])})"]
    if data.get("max_train"):
        out.append(f"more training sentences (data.max_train, now {data['max_train']:,})")
    rates = ", ".join(sorted({f"{r['protocol']['learning_rate']:g}" for r in done}))
    out.append(f"a learning rate that moves the loss (protocol.learning_rate, now {rates})")
    if any(r["data"].get("test_sample", "all") != "all" for r in done):
        out.append(
            f"more test sentences (data.max_eval, now {data.get('max_eval')}: the bar above the majority "
            "rate falls as they grow)"
        )
    if any(r["player"]["model"].get("kind") == "random" for r in done):
        out.append('a pretrained model (e.g. model = { kind = "minilm" }) rather than random weights')
    return out


def collapse_advice(board: dict, results: list[dict]) -> str | None:
    """One note when every ranked player collapsed (None otherwise): the training and test sizes behind it and the
    settings that would change it."""
    ranked, done = board["ranked"], [r for r in results if r["status"] == Status.COMPLETED]
    if not ranked or not all(r["collapsed"] for r in ranked) or not done:
        return None
    tests = [len(r["test"]["labels"]) for r in done]
    n, majority = min(tests), max(r["data"]["test_majority_rate"] for r in done)
    need = needed_accuracy(n, majority)
    epochs = _span([r["protocol"]["epochs"] for r in done])
    sizes = _span([r["data"]["sizes"]["train"] for r in done])
    return (
        f"Why every player collapsed: each trained {_span([_steps(r) for r in done])} optimizer steps ({epochs} "
        f"epochs over {sizes} training sentences), and on {_span(tests)} test sentences a player must reach "
        f"{need:.1%} (the majority-class rate {majority:.1%} plus {100 * (need - majority):.1f} points) "
        f"to count as having learned anything. What to change: {'; '.join(_changes(done))}."
    )
