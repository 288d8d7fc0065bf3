"""Every player of a board at once: what the verdict needs of each, every pair's estimate, and the pooled
run-to-run variance that a player with one seed borrows. Vectorised over a leading axis of boards, so the
board (one), the calibration benchmark and the detectable difference's simulation (thousands) run the same
code.

A player with a single completed seed cannot measure its own run-to-run spread. When other players have
several seeds, it borrows their pooled spread (the variance of one run's accuracy, pooled over the players
with two or more seeds that did not collapse), with the pool's degrees of freedom, but never more of them
than its own planned seeds would have had (planned - 1): so a player left with 1 of 3 seeds is never
measured more precisely than with all 3, and its interval never narrows. Without any pool (every player
one seed) nothing is borrowed, and the verdict covers the sentences only: it compares trained models.
No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tuneoff.verdict.stats import Estimate, flips, satterthwaite


@dataclass(frozen=True)
class Summary:
    """P players on one test set of N sentences, over R boards (arrays lead with R)."""

    mean: np.ndarray  # (R, P) mean accuracy over its seeds and the sentences
    per_seed: tuple  # P arrays (R, S_p): each seed's accuracy
    seed_var: np.ndarray  # (R, P) variance of one run's accuracy: its own (ddof 1), or the pool's when borrowed
    seed_df: np.ndarray  # (R, P) its degrees of freedom (0: not measured)
    seeds: np.ndarray  # (P,) completed seeds
    borrowed: np.ndarray  # (P,) True where the run-to-run variance is the pool's
    cov: np.ndarray  # (R, P, P) covariance over sentences of the players' seed-mean per-sentence scores
    coin: np.ndarray  # (R, P) mean over sentences of each seed-mean score's coin-flip variance
    pool_var: np.ndarray  # (R,) pooled variance of one run's accuracy (0 without a pool)
    pool_df: float  # its degrees of freedom (0: no player with two seeds to pool)
    n: int  # sentences

    @property
    def runs_var(self) -> np.ndarray:
        """(R, P) the runs' part of the variance of each player's mean accuracy."""
        return self.seed_var / self.seeds


def summarise(matrices: list, planned=None, pooled=None) -> Summary:
    """``matrices``: per player, correctness as (seeds, sentences) or (boards, seeds, sentences).
    ``planned``: the seeds the config asks of each player (default: those completed); ``pooled``: which
    players may lend their spread to the pool (default all; the board leaves collapsed players out)."""
    m = [np.asarray(x, bool) for x in matrices]
    m = [x[None] if x.ndim == 2 else x for x in m]
    boards, n = m[0].shape[0], m[0].shape[-1]
    seeds = np.array([x.shape[1] for x in m])
    planned = seeds if planned is None else np.maximum(np.asarray(planned), seeds)
    lend = (seeds > 1) & (np.ones(len(m), bool) if pooled is None else np.asarray(pooled, bool))
    per_seed = tuple(x.mean(axis=2) for x in m)
    own = np.stack([a.var(axis=1, ddof=1) if a.shape[1] > 1 else np.zeros(boards) for a in per_seed], axis=1)
    pool_df = float(np.sum(seeds[lend] - 1))
    pool_var = (own[:, lend] * (seeds[lend] - 1)).sum(axis=1) / pool_df if pool_df else np.zeros(boards)
    borrowed = (seeds == 1) & (pool_df > 0)
    cap = np.where(planned > 1, np.minimum(pool_df, planned - 1), pool_df)  # never more df than planned seeds
    seed_var = np.where(borrowed, pool_var[:, None], own)
    seed_df = np.broadcast_to(np.where(borrowed, cap, np.maximum(seeds - 1, 0)).astype(float), (boards, len(m)))
    q = np.stack([x.mean(axis=1) for x in m], axis=1)  # (R, P, N)
    q -= q.mean(axis=-1, keepdims=True)
    cov = np.matmul(q, q.transpose(0, 2, 1)) / (n - 1)
    coin = np.stack([flips(x).mean(axis=-1) for x in m], axis=1)
    return Summary(
        np.stack([a.mean(axis=1) for a in per_seed], axis=1),
        per_seed,
        seed_var,
        seed_df.copy(),
        seeds,
        borrowed,
        cov,
        coin,
        pool_var,
        pool_df,
        n,
    )


def _pooled_share(typical: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """The runs' share of the variance that the board's pooled spread implies (0 without a pool)."""
    total = typical + sentences
    return np.divide(typical, total, out=np.zeros(total.shape), where=total > 0)


def accuracies(s: Summary) -> Estimate:
    """Each player's mean accuracy (arrays R x P): its runs' part (own or borrowed) and the sentences'."""
    sentences = np.maximum(0.0, np.diagonal(s.cov, axis1=1, axis2=2) - s.coin) / s.n
    share = _pooled_share(s.pool_var[:, None] / s.seeds, sentences)
    return Estimate(s.mean, s.runs_var, s.seed_df, sentences, s.n - 1.0, share)


def differences(s: Summary, pairs: list[tuple[int, int]]) -> Estimate:
    """Player i minus player j for each (i, j) (arrays R x pairs), paired on the same sentences. The runs' df is
    Satterthwaite's where both players' spread is measured (or borrowed), else 0 (sentences only)."""
    i, j = (np.asarray(x, int) for x in zip(*pairs)) if pairs else (np.zeros(0, int), np.zeros(0, int))
    runs = s.runs_var
    vi, vj, di, dj = runs[:, i], runs[:, j], s.seed_df[:, i], s.seed_df[:, j]
    df = np.where((di > 0) & (dj > 0), satterthwaite(vi, di, vj, dj), 0.0)
    spread = s.cov[:, i, i] + s.cov[:, j, j] - 2 * s.cov[:, i, j]
    sentences = np.maximum(0.0, spread - s.coin[:, i] - s.coin[:, j]) / s.n
    share = _pooled_share(s.pool_var[:, None] * (1 / s.seeds[i] + 1 / s.seeds[j]), sentences)
    return Estimate(s.mean[:, i] - s.mean[:, j], vi + vj, df, sentences, s.n - 1.0, share)


def take(estimate: Estimate, board: int = 0) -> list[Estimate]:
    """One board's estimates as a list of scalar ones (for the board's rows and pairs)."""
    fields = (
        estimate.mean,
        estimate.runs_var,
        estimate.runs_df,
        estimate.sentences_var,
        estimate.sentences_df,
        0.0 if estimate.share is None else estimate.share,
    )
    parts = [np.broadcast_to(np.asarray(x, float), np.shape(estimate.mean))[board] for x in fields]
    return [Estimate(*(float(p[k]) for p in parts)) for k in range(len(parts[0]))]
