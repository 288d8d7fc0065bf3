"""The tuning sweep, version 2: which points each player tries, the same number for every player.

**The budget.** Every player gets ``tuning.trials`` = T trials per tuning seed, T = p² with p odd (9, 25,
49: p = 3, 5, 7 points per axis), and at least 2 tuning seeds; the choice is the point with the best mean
dev accuracy over the seeds. A player spends its T trials on the axes its strategy declares
(``plan.budget.sweep_for`` builds them):

- **rate** (always): ``learning_rate``, log-spaced around the strategy's published ``default_lr``;
- **knob** (``Strategy.knob``): one option, p of the values its papers tried;
- **second rate** (``Strategy.second_rate``): another option holding a rate (a fresh head's beside a prompt),
  p rates log-spaced around its published centre.

**The design** (``design``), deterministic, T points whatever the axes:

- rate alone: T rates;
- rate and one other axis: p rates x p values, every pair;
- rate, second rate and knob: a cyclic Latin square, rate i, second rate j, knob (i + j - m) mod p with
  m = (p - 1) / 2: every pair of axes is crossed exactly once, and the middle of all three (the published
  point) is one of the T.

**The rate axis** (``rate_axis``): p rates ``centre * span**k``, k = -m .. m, so neighbours are ``span``
apart and the ends ``span**(p-1)`` apart; a player that tunes the rate alone gets T rates over the same
range, each ``span**(1/(p+1))`` from the next (with the default span 5 and T = 9: 3 rates x5 apart, or
9 rates about x1.5 apart, from centre/5 to centre*5; the p-point grid is every (p+1)-th of the T-point one).
Rates are rounded to 3 significant digits. The second rate's axis follows the same rule with p points.

**Knob values** (``pick``): p of the K values a strategy declares, at indices round(i (K-1) / (p-1)) (halves
up), so both ends and the middle are kept: K = 5, p = 3 takes the 1st, 3rd and 5th. A strategy declaring
fewer than p values needs the player's own list (``tuning.players.<name>.knob``).

**Edges** (``on_edge``): a kept value at either end of its axis is flagged "low" or "high", per axis: the
best may lie beyond it.

**A soup** (a strategy that trains its own sweep inside each final job and combines the models: ``soup``)
runs no trials. Each of its final seeds trains k rates spread log-evenly over the same range as everyone's
rate axis, k as large as keeps its compute within a tuned player's (``plan.config.ingredients``):
k = floor((n_t T E_t + S E_f) / (S E_f)) for n_t tuning seeds of T trials of E_t epochs and S final seeds
of E_f epochs. With 2 tuning seeds, T = 9 and 3 final seeds of the trials' length: k = 7, and the soup
trains 21 models, as many as each tuned player (18 trials and 3 finals).

The older form, one shared list (``tuning.learning_rates``), is the rate axis alone for every player, with
no knob or second rate crossed. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass


def log_grid(centre: float, points: int, span: float) -> tuple[float, ...]:
    """``points`` (odd) values, ``span`` apart on a log scale, the middle one ``centre``; 3 significant digits."""
    half = (points - 1) // 2
    return tuple(float(f"{centre * span**k:.3g}") for k in range(-half, half + 1))


def per_axis(trials: int) -> int:
    """p for T = p² trials; ValueError unless T is the square of an odd number >= 3."""
    p = round(trials**0.5)
    if p * p != trials or p % 2 == 0 or p < 3:
        raise ValueError(
            f"trials must be the square of an odd number (9, 25, 49: p rates x p knob values, or p² "
            f"rates), got {trials}"
        )
    return p


def rate_axis(centre: float, p: int, span: float, alone: bool) -> tuple[float, ...]:
    """The rate axis: p rates ``span`` apart around ``centre``, or, for a player that tunes the rate ``alone``,
    p² rates over the same range."""
    if not alone:
        return log_grid(centre, p, span)
    return log_grid(centre, p * p, span ** (1 / (p + 1)))


def spread(low: float, high: float, k: int) -> tuple[float, ...]:
    """k (>= 2) values log-spaced from ``low`` to ``high``, both included; 3 significant digits."""
    return tuple(float(f"{low * (high / low) ** (i / (k - 1)):.3g}") for i in range(k))


def pick(values: tuple, p: int) -> tuple:
    """p of ``values`` (sorted), evenly spaced by index, both ends and the middle kept; ValueError if too few."""
    ordered = tuple(sorted(values))
    k = len(ordered)
    if k < p:
        raise ValueError(f"{k} values, {p} needed")
    return tuple(ordered[(i * (k - 1) * 2 + (p - 1)) // (2 * (p - 1))] for i in range(p))


def design(p: int, axes: int) -> list[tuple[int, ...]]:
    """Index tuples of the T = p² points, one index per axis (rate first, then the second rate, then the knob)."""
    if axes == 1:
        return [(i,) for i in range(p * p)]
    if axes == 2:
        return [(i, j) for i in range(p) for j in range(p)]
    m = (p - 1) // 2
    return [(i, j, (i + j - m) % p) for i in range(p) for j in range(p)]


@dataclass(frozen=True)
class Axis:
    """One dimension of a player's sweep: what it sets (``field``: the protocol's learning_rate, or a strategy
    option), its values in ascending order, and where they come from, in words."""

    kind: str  # "learning_rate", "second_rate" or "knob"
    field: str
    values: tuple
    source: str


@dataclass(frozen=True)
class Sweep:
    """A player's T points: one value per axis each, in the axes' order (the rate first)."""

    axes: tuple[Axis, ...]
    points: tuple[tuple, ...]

    def axis(self, kind: str) -> Axis | None:
        return next((a for a in self.axes if a.kind == kind), None)


def sweep(axes: tuple[Axis, ...], p: int | None) -> Sweep:
    """The design's points over ``axes`` (p per axis; None: the older form, the one rate axis as it is)."""
    if p is None or len(axes) == 1:
        return Sweep(axes, tuple((v,) for v in axes[0].values))
    return Sweep(axes, tuple(tuple(a.values[i] for a, i in zip(axes, index)) for index in design(p, len(axes))))


def on_edge(value, values) -> str | None:
    """ "low" or "high" when ``value`` is its axis's smallest or largest value (the best may lie beyond), else None."""
    if len(values) < 2:
        return None
    if value == min(values):
        return "low"
    if value == max(values):
        return "high"
    return None
