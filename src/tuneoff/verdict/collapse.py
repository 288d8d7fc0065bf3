"""Collapse travels with the model: what ``export``, ``predict`` and ``compare`` say about a checkpoint or a
player that learned nothing (the board's own rule, :func:`rules.collapse_reason`). No torch here."""

from __future__ import annotations

from tuneoff.store.status import Status
from tuneoff.verdict.rules import collapse_reason


def collapsed_seeds(results: list[dict]) -> dict[int, str]:
    """seed -> why, for each completed result that collapsed."""
    return {r["seed"]: why for r in results if r["status"] == Status.COMPLETED and (why := collapse_reason(r))}


def checkpoint_warning(player: str, result: dict, results: list[dict]) -> str | None:
    """One line about collapse for the checkpoint that answers (``result``) among the player's results; None when
    neither it nor another seed of the player collapsed."""
    done = [r for r in results if r["status"] == Status.COMPLETED]
    others = {s: why for s, why in collapsed_seeds(done).items() if s != result["seed"]}
    if mine := collapse_reason(result):
        also = f"; {len(others)} of its {len(done) - 1} other seeds collapsed too" if others else ""
        return (
            f"player {player!r} seed {result['seed']} COLLAPSED: {mine}; it learned nothing beyond the "
            f"commonest class, so its answers mean nothing{also}"
        )
    if others:
        return (
            f"player {player!r} COLLAPSED in {len(others)} of its {len(done)} seeds (seeds "
            f"{', '.join(map(str, sorted(others)))}); seed {result['seed']}, the one used here, did not"
        )
    return None


def side_note(where: str, player: str, seeds: dict[int, str], count: int) -> str:
    """compare's line about one side's collapsed seeds."""
    share = "every seed" if len(seeds) == count else f"{len(seeds)} of {count} seeds"
    return (
        f"{where} {player} COLLAPSED in {share} ({'; '.join(f'seed {s}: {w}' for s, w in sorted(seeds.items()))}): "
        "a difference involving it compares a model that learned nothing, not two strategies"
    )
