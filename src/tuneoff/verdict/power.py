"""The smallest difference the board's own test detects, found by simulating that test.

The two-level model is fitted to the board: each player's variance of one run's accuracy and its seed
count, and the covariance over sentences of the players' per-sentence scores less their coin flips. A
player's variance is its own shrunk toward the board's pooled one by degrees of freedom (the pool's when
it borrows): with 3 seeds a player's own spread has 2 df, and simulating from such noisy spreads as if
they were true overstates the difference, which grows faster than the spread (benchmarks/detectable.py:
14 % too high at 13 players / 3 seeds, 5 % once shrunk).

For each player i in turn, a simulated board makes i better than every other player by d (the others
equal) and draws what the board would see: each player's seed mean, its estimated spread (chi-square
with the board's degrees of freedom, pooled as the board pools it, so the t reference and its weight
vary as they do on real boards) and the sentences' part (jointly normal). The pairs (i, k) then go
through the board's test: the same reference, and Holm's step-down over the board's whole family of
pairs. Pairs among the other players are equal in the simulation and left out: they are rarely
separated, and separating one only makes Holm laxer. d is raised until i is separated from another
player in 80 % of simulated boards (the median over the other players). ``SIMULATIONS`` boards with a
fixed seed: the same board always gives the same figure. benchmarks/detectable.py checks it against full
simulations of sentences and seeds. No torch here.
"""

from __future__ import annotations

import numpy as np

from tuneoff.verdict import stats
from tuneoff.verdict.family import Summary, differences

SIMULATIONS = 1000
MAX_PLAYERS = 12  # players given a figure on a larger board (evenly spread in verdict order)
KNOTS = 3  # Holm levels at which the reference is computed; between them it is interpolated in log level


def _psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.maximum(values, 0.0)) @ vectors.T


def _fitted(s: Summary, keep: np.ndarray) -> np.ndarray:
    """Each kept player's variance of one run's accuracy as the simulation's truth: its own, shrunk toward the
    pool by degrees of freedom (the pool's when it borrows, or has none)."""
    own_df = np.where(s.borrowed[keep], 0.0, np.maximum(s.seeds[keep] - 1, 0))
    return (own_df * s.seed_var[0, keep] + s.pool_df * s.pool_var[0]) / np.maximum(own_df + s.pool_df, 1.0)


def _spreads(rng, s: Summary, keep: np.ndarray, sims: int) -> tuple[np.ndarray, np.ndarray]:
    """Simulated (variance of one run's accuracy, its df) for the kept players, pooled as the board pools."""
    seeds, truth = s.seeds[keep], _fitted(s, keep)
    own = seeds > 1
    draw = truth * rng.chisquare(np.maximum(seeds - 1, 1), (sims, len(keep))) / np.maximum(seeds - 1, 1)
    if s.pool_df:  # collapsed players, outside the simulation, lend nothing to the board's pool either
        lent = np.where(own, (seeds - 1) * draw, 0.0).sum(axis=1)
        pool = lent / max(1.0, float(np.sum(np.where(own, seeds - 1, 0))))
        draw = np.where(s.borrowed[keep], pool[:, None], draw)
    return np.where(own | s.borrowed[keep], draw, 0.0), np.broadcast_to(s.seed_df[0, keep], draw.shape)


def _tests(rng, s: Summary, keep: np.ndarray, i: int, sims: int) -> stats.Estimate:
    """The pairs (i, k) of ``sims`` simulated boards with no true difference (arrays sims x others)."""
    others = np.array([k for k in range(len(keep)) if k != i])
    seeds = s.seeds[keep]
    var, df = _spreads(rng, s, keep, sims)
    means = rng.standard_normal((sims, len(keep))) * np.sqrt(_fitted(s, keep) / seeds)
    sigma = _psd(s.cov[0][np.ix_(keep, keep)] - np.diag(s.coin[0, keep]))
    means = means + rng.multivariate_normal(np.zeros(len(keep)), sigma / s.n, sims, method="eigh")
    board = differences(s, [(keep[i], keep[k]) for k in others])
    runs_i, runs_k = var[:, [i]] / seeds[i], var[:, others] / seeds[others]
    df_i, df_k = df[:, [i]], df[:, others]
    runs_df = np.where((df_i > 0) & (df_k > 0), stats.satterthwaite(runs_i, df_i, runs_k, df_k), 0.0)
    return stats.Estimate(
        means[:, [i]] - means[:, others],
        runs_i + runs_k,
        runs_df,
        np.broadcast_to(board.sentences_var, runs_k.shape),
        s.n - 1.0,
        board.share,
    )


def _points(tests: stats.Estimate, family: int, steps: int) -> np.ndarray:
    """The reference's point at Holm's levels ALPHA / (family - r), r = 0 .. steps - 1: (steps, sims, pairs);
    exact at KNOTS levels, interpolated in log level between them (the point is smooth there)."""
    r = np.arange(steps)
    knots = np.unique(np.linspace(0, steps - 1, min(steps, KNOTS)).round().astype(int))
    levels = stats.ALPHA / np.maximum(1, family - r)
    exact = np.stack([np.asarray(tests.upper(levels[k] / 2)) for k in knots])
    if len(knots) == 1:
        return exact
    x, xk = np.log(levels), np.log(levels[knots])
    upper = np.clip(np.searchsorted(xk, x, side="right"), 1, len(knots) - 1)
    t = ((x - xk[upper - 1]) / (xk[upper] - xk[upper - 1]))[:, None, None]
    return exact[upper - 1] * (1 - t) + exact[upper] * t


def _separated(noise: np.ndarray, se: np.ndarray, points: np.ndarray, d: float) -> np.ndarray:
    """Holm's step-down on the simulated pairs shifted by d: (sims, pairs) True where separated."""
    shifted = np.abs(d + noise)
    ratio = np.where(se > 0, shifted / np.where(se > 0, se, 1.0), np.where(shifted > 0, np.inf, 0.0))
    rejected = np.zeros(ratio.shape, bool)
    rows = np.arange(ratio.shape[0])
    while True:
        at = points[np.minimum(rejected.sum(axis=1), len(points) - 1), rows]
        new = ~rejected & (ratio >= at)
        if not new.any():
            return rejected
        rejected |= new


def _detectable(tests: stats.Estimate, family: int) -> float:
    """The d at which the median pair of the simulated boards is separated in POWER of them."""
    noise, se = np.asarray(tests.mean), np.asarray(tests.se)
    points = _points(tests, family, noise.shape[1])
    low, high = 0.0, float(np.max(points[0] * se) + 6 * np.max(se))
    for _ in range(24):  # high / 2**24: far below a printed digit
        mid = (low + high) / 2
        if np.median(_separated(noise, se, points, mid).mean(axis=0)) >= stats.POWER:
            high = mid
        else:
            low = mid
    return high


def sampled(players: int) -> list[int]:
    """Which of the players (in verdict order) get a figure: all, or MAX_PLAYERS evenly spread from the first
    to the last (the board's time grows with the square of the players otherwise)."""
    if players <= MAX_PLAYERS:
        return list(range(players))
    return sorted({round(k * (players - 1) / (MAX_PLAYERS - 1)) for k in range(MAX_PLAYERS)})


def detectable(s: Summary, keep: list[int], family: int, sims: int = SIMULATIONS, seed: int = 0) -> dict[int, float]:
    """For the kept players (indices into ``s``; at most MAX_PLAYERS of them, see :func:`sampled`), in points: how
    much better than every other kept player each must be for the board's test to separate it from another with
    80 % probability (``family``: Holm's count). Keyed by index into ``s``."""
    if len(keep) < 2:
        return {}
    kept = np.asarray(keep)
    out = {}
    for i in sampled(len(kept)):
        rng = np.random.default_rng([seed, i])
        out[int(kept[i])] = 100 * _detectable(_tests(rng, s, kept, i, sims), family)
    return out
