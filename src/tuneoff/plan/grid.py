"""The tuning sweep's learning-rate grid: the same number of rates for every player, each around its own
strategy's published rate (``Strategy.default_lr``), log-spaced. Which grid a player gets is
``plan.config.grid_for``.

The rule: ``points`` rates ``default_lr * span**k`` for ``k = -(points-1)/2 .. (points-1)/2`` (``points`` is
odd, so the published rate itself is always tried), each rounded to 3 significant digits. With the
defaults (5 points, span 3) a strategy whose published rate is 3e-5 tries 3.33e-6, 1e-5, 3e-5, 9e-5, 2.7e-4:
81x from end to end. A player's own list (``tuning.players.<name>.learning_rates``) or a shared list
(``tuning.learning_rates``, the older form) replaces the rule; a player's own list must be as long as
everyone else's. A rate kept at either end of its grid is flagged: the best may lie beyond it.
"""

from __future__ import annotations


def log_grid(centre: float, points: int, span: float) -> tuple[float, ...]:
    """``points`` (odd) rates, ``span`` apart on a log scale, the middle one ``centre``; 3 significant digits."""
    half = (points - 1) // 2
    return tuple(float(f"{centre * span ** k:.3g}") for k in range(-half, half + 1))


def on_edge(rate: float, rates: list[float] | tuple[float, ...]) -> str | None:
    """"low" or "high" when ``rate`` is the grid's smallest or largest rate (the best may lie beyond), else None."""
    if rate == min(rates):
        return "low"
    if rate == max(rates):
        return "high"
    return None
