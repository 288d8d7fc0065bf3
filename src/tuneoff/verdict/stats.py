"""How sure can we be: estimates that count both sources of noise, paired tests, family-wise control.

A player's accuracy varies by *run* (its seed: initialisation, dropout, batch order) and by
*sentence* (which sentences happen to be in the test set). Inputs are correctness matrices, one
per player: ``seeds x test sentences`` booleans, every player scored on the same sentences in
the same order. The estimates are analytic (a random-effects decomposition, with a t reference
between the runs' few degrees of freedom and the sentences' many), so p-values have no floor and
the same results always give the same numbers:

- one player's mean accuracy A: Var(A) = s2_seeds / S + s2_sentences / N. s2_seeds is the variance
  of its per-seed accuracies: run-to-run noise and each run's own coin flips, given the test set.
  s2_sentences is the variance over sentences of its per-sentence score (averaged over seeds) less
  the coin-flip part already counted: what a different draw of test sentences would change;
- a paired difference A_i - A_j: the same with both players' seed terms and, for the sentences, the
  per-sentence difference (the pairing removes what the two players share).

With one seed the run-to-run term cannot be estimated from the player itself: the board then borrows
a pooled one from the players that have several (:mod:`tuneoff.verdict.family`), or, when none has,
covers the sentences only and speaks of trained models. An :class:`Estimate` holds floats or arrays
(many pairs, many simulated boards at once): every method works elementwise. scipy supplies the t
distribution and the binomial test. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.80
BLEND = 1.5  # the runs share's exponent in the reference's weight (Estimate.upper)


def correctness(results: list[dict]) -> np.ndarray:
    """seeds x sentences, True where the seed's model got the sentence right."""
    return np.array([np.asarray(r["test"]["predictions"]) == np.asarray(r["test"]["labels"]) for r in results])


def _plain(x):
    """A 0-d array as a Python float (JSON and comparisons), anything else unchanged."""
    return float(x) if np.ndim(x) == 0 else x


@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error, split into the runs' part (few degrees of freedom) and the
    sentences' part (many), and the t reference that follows from them. Floats or arrays of one shape."""

    mean: float | np.ndarray
    runs_var: float | np.ndarray  # variance of the mean from the seeds (0 with one seed and nothing borrowed)
    runs_df: float | np.ndarray  # 0: not measured
    sentences_var: float | np.ndarray  # from which sentences are in the test set
    sentences_df: float | np.ndarray
    share: float | np.ndarray | None = None  # the runs' share of the variance that weights the reference (None: own)

    @property
    def se(self):
        return _plain(np.sqrt(np.asarray(self.runs_var, float) + self.sentences_var))

    @property
    def seeds_measured(self):
        return _plain(np.asarray(self.runs_df) > 0) if np.ndim(self.runs_df) else bool(self.runs_df > 0)

    def upper(self, tail):
        """The point with ``tail`` above it: between t(runs_df) and t(sentences_df), by the runs' share w of
        the variance (weight w**1.5). Satterthwaite's single df undercovers with 3 seeds (91 % for a 95 % CI
        in benchmarks/calibration.py); this keeps coverage near 95 % there and at no run-to-run noise. The
        share is the estimate's own unless given: a board gives the larger of the pair's and the one its
        pooled spread implies, since with 2 seeds a share estimated from the pair alone is often near 0 by
        chance, and the reference would then forget the runs' few degrees of freedom."""
        runs_var, runs_df = np.asarray(self.runs_var, float), np.asarray(self.runs_df, float)
        total = runs_var + self.sentences_var
        share = np.divide(runs_var, total, out=np.zeros(np.broadcast(runs_var, total).shape), where=total > 0)
        if self.share is not None:
            share = np.maximum(share, self.share)
        w = np.where(runs_df > 0, share**BLEND, 0.0)
        runs = t_upper(tail, np.where(runs_df > 0, runs_df, 1.0))
        return _plain(w * runs + (1 - w) * t_upper(tail, self.sentences_df))

    def ci(self, level: float = 1 - ALPHA) -> tuple:
        half = np.asarray(self.upper((1 - level) / 2)) * self.se
        return _plain(self.mean - half), _plain(self.mean + half)

    def ratio(self):
        """|mean| / se (infinite where se is 0 and the mean is not)."""
        mean, se = np.abs(np.asarray(self.mean, float)), np.asarray(self.se, float)
        return np.where(se > 0, mean / np.where(se > 0, se, 1.0), np.where(mean > 0, np.inf, 0.0))

    def p(self):
        """Two-sided p of mean = 0 under this reference: the level at which the CI just reaches 0, found by
        bisection on log p (the reference's point falls as p grows). Below 1e-30 it is reported as 0."""
        ratio = self.ratio()
        lo, hi = np.full(ratio.shape, -69.0), np.zeros(ratio.shape)
        for _ in range(56):  # 69 / 2**56: far below any printed digit
            mid = (lo + hi) / 2
            above = np.asarray(self.upper(np.exp(mid) / 2)) > ratio  # p is larger than exp(mid)
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        p = np.exp((lo + hi) / 2)
        p = np.where(np.asarray(self.upper(0.5)) >= ratio, 1.0, np.where(hi <= -69.0 + 1e-9, 0.0, p))
        return _plain(np.minimum(p, 1.0))


def t_upper(tail, df):
    """The point of a t distribution with ``tail`` probability above it (normal for huge df); elementwise.
    scipy's special functions, not its distribution objects: this runs per pair and per simulated board."""
    from scipy.special import ndtri, stdtrit

    df = np.asarray(df, float)
    finite = np.isfinite(df) & (df < 1e7)
    return _plain(np.where(finite, -stdtrit(np.where(finite, df, 1.0), tail), -ndtri(tail)))


def satterthwaite(va, da, vb, db):
    """Degrees of freedom of the sum of two variance components (value, its df), elementwise. A component
    with no degrees of freedom (df 0) adds nothing to the denominator; with nothing left, infinite."""
    va, da, vb, db = (np.asarray(x, float) for x in (va, da, vb, db))
    den = _share(va * va, da) + _share(vb * vb, db)
    return _plain(np.where(den > 0, (va + vb) ** 2 / np.where(den > 0, den, 1.0), np.inf))


def _share(value, df):
    """value / df where df > 0, else 0 (a component with no degrees of freedom adds nothing)."""
    return np.where(df > 0, value / np.where(df > 0, df, 1.0), 0.0)


def _runs(correct: np.ndarray) -> tuple[float, float]:
    """(variance of the mean over seeds, its df): run-to-run noise and each run's own coin flips, given the
    test set. Zero with one seed (not measurable)."""
    k = correct.shape[0]
    if k < 2:
        return 0.0, 0.0
    return float(correct.mean(axis=1).var(ddof=1)) / k, k - 1.0


def flips(correct: np.ndarray) -> np.ndarray:
    """Per sentence, the variance of one run's correctness across seeds (its coin flip), over the seed count:
    what the seed-mean per-sentence score owes to chance rather than to the sentence. Zero with one seed.
    ``correct``: seeds x sentences, or any leading axes before them."""
    k = correct.shape[-2]
    if k < 2:
        return np.zeros(correct.shape[:-2] + correct.shape[-1:])
    q = correct.mean(axis=-2)
    return q * (1 - q) / (k - 1)


def _sentences(per_sentence: np.ndarray, coin: np.ndarray) -> float:
    """Variance of the mean due to which sentences are in the test set: the spread of per-sentence scores
    less their coin-flip part (already counted in the runs' term), over N; all of it with one seed."""
    n = len(per_sentence)
    return max(0.0, float(per_sentence.var(ddof=1)) - float(coin.mean())) / n


def accuracy(correct: np.ndarray) -> Estimate:
    """A player's mean accuracy over its own seeds and the test sentences, with run and sentence noise."""
    n = correct.shape[1]
    runs, runs_df = _runs(correct)
    return Estimate(float(correct.mean()), runs, runs_df, _sentences(correct.mean(axis=0), flips(correct)), n - 1.0)


def difference(a: np.ndarray, b: np.ndarray) -> Estimate:
    """Player a minus player b on the same sentences (matrices: seeds x sentences), each with its own seeds."""
    n = a.shape[1]
    (va, da), (vb, db) = _runs(a), _runs(b)
    d = a.mean(axis=0) - b.mean(axis=0)  # per-sentence correctness, averaged over each player's seeds
    runs_df = satterthwaite(va, da, vb, db) if da > 0 and db > 0 else 0.0
    return Estimate(float(d.mean()), va + vb, runs_df, _sentences(d, flips(a) + flips(b)), n - 1.0)


def equivalent(diff: Estimate, margin: float) -> bool:
    """TOST at ALPHA: the (1 - 2 ALPHA) interval of the difference lies within +-margin (a fraction)."""
    lo, hi = diff.ci(1 - 2 * ALPHA)
    return bool(-margin < lo and hi < margin)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (family-wise error control across the comparisons). The same numbers as
    statsmodels' multipletests(method="holm") (a test checks it), which is not called because it runs a full
    garbage collection on every call (0.15 s; the calibration benchmark makes thousands of boards)."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return [float(x) for x in out]


def holm_rejects(tests: Estimate, alpha: float = ALPHA, family: int | None = None) -> np.ndarray:
    """Holm's step-down without p-values, for many boards at once: ``tests`` holds arrays (boards x pairs);
    True where a pair is rejected. A pair's p is at most a level exactly when |mean| / se reaches the
    reference's point at half that level, so each step compares ratios with points. ``family``: the number of
    hypotheses Holm counts (default: the pairs given; more when pairs not simulated belong to the family)."""
    ratio = np.atleast_2d(tests.ratio())
    family = family or ratio.shape[-1]
    rejected = np.zeros(ratio.shape, bool)
    while True:
        level = alpha / np.maximum(1, family - rejected.sum(axis=-1, keepdims=True))
        new = ~rejected & (ratio >= np.atleast_2d(tests.upper(level / 2)))
        if not new.any():
            return rejected
        rejected |= new


def above_chance(correct: int, n: int, rate: float) -> float:
    """One-sided exact binomial p that accuracy correct/n exceeds ``rate`` (the majority-class rate)."""
    from scipy.stats import binom

    return float(binom.sf(correct - 1, n, rate))


def summary(values: list[float]) -> dict:
    v = np.asarray(values, float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
    }
