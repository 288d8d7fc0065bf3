"""The tuning sweep's learning-rate grid: the same number of rates for every player, each around its own
strategy's published rate (``Strategy.default_lr``), log-spaced.

The rule: ``points`` rates ``default_lr * span**k`` for ``k = -(points-1)/2 .. (points-1)/2`` (``points`` is
odd, so the published rate itself is always tried), each rounded to 3 significant digits. With the
defaults (5 points, span 3) a strategy whose published rate is 3e-5 tries 3.33e-6, 1e-5, 3e-5, 9e-5, 2.7e-4:
81x from end to end. A player's own list (``tuning.players.<name>.learning_rates``) or a shared list
(``tuning.learning_rates``, the older form) replaces the rule; a player's own list must be as long as
everyone else's. A rate kept at either end of its grid is flagged: the best may lie beyond it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuneoff.plan.config import Player, Tuning


def log_grid(centre: float, points: int, span: float) -> tuple[float, ...]:
    """``points`` (odd) rates, ``span`` apart on a log scale, the middle one ``centre``; 3 significant digits."""
    half = (points - 1) // 2
    return tuple(float(f"{centre * span ** k:.3g}") for k in range(-half, half + 1))


def grid_for(tuning: Tuning, player: Player) -> tuple[float, ...]:
    """The learning rates ``player`` tries: its own list, else the shared list, else the rule around its
    strategy's published rate."""
    own = tuning.players.get(player.name)
    if own is not None:
        return tuple(sorted(own.learning_rates))
    if tuning.learning_rates is not None:
        return tuple(sorted(tuning.learning_rates))
    return log_grid(type(player.strategy).default_lr, tuning.points, tuning.span)


def grid_source(tuning: Tuning, player: Player) -> str:
    """Where a player's grid came from, in words (for the run's log and the report)."""
    if player.name in tuning.players:
        return f"its own list (tuning.players.{player.name}.learning_rates)"
    if tuning.learning_rates is not None:
        return "the shared list (tuning.learning_rates)"
    return (f"{tuning.points} rates x{tuning.span:g} apart around {player.strategy.name}'s published "
            f"{type(player.strategy).default_lr:g}")


def on_edge(rate: float, rates: list[float] | tuple[float, ...]) -> str | None:
    """"low" or "high" when ``rate`` is the grid's smallest or largest rate (the best may lie beyond), else None."""
    if rate == min(rates):
        return "low"
    if rate == max(rates):
        return "high"
    return None
