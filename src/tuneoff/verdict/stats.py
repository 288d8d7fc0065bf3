"""How sure can we be: estimates that count both sources of noise, paired tests, family-wise control.

A player's accuracy varies by *run* (its seed: initialisation, dropout, batch order) and by
*sentence* (which sentences happen to be in the test set). Inputs are correctness matrices, one
per player: ``seeds x test sentences`` booleans, every player scored on the same sentences in
the same order. The estimates are analytic (a random-effects decomposition, with Welch-
a t reference between the runs' few degrees of freedom and the sentences' many), so p-values
have no floor and the same results always give the same numbers:

- one player's mean accuracy A: Var(A) = s2_seeds / S + s2_sentences / N. s2_seeds is the variance
  of its per-seed accuracies: run-to-run noise and each run's own coin flips, given the test set.
  s2_sentences is the variance over sentences of its per-sentence score (averaged over seeds) less
  the coin-flip part already counted: what a different draw of test sentences would change;
- a paired difference A_i - A_j: the same with both players' seed terms and, for the sentences, the
  per-sentence difference (the pairing removes what the two players share).

With one seed the run-to-run term cannot be estimated: the interval and the test then cover the
sentences only, and the board says so. scipy supplies the t distribution and the binomial test.
No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.80


def correctness(results: list[dict]) -> np.ndarray:
    """seeds x sentences, True where the seed's model got the sentence right."""
    return np.array([np.asarray(r["test"]["predictions"]) == np.asarray(r["test"]["labels"]) for r in results])


@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error, split into the runs' part (few degrees of freedom) and the
    sentences' part (many), and the t reference that follows from them."""

    mean: float
    runs_var: float  # variance of the mean from the seeds (0 with one seed: not measurable)
    runs_df: float
    sentences_var: float  # from which sentences are in the test set
    sentences_df: float

    @property
    def se(self) -> float:
        return float(np.sqrt(self.runs_var + self.sentences_var))

    @property
    def seeds_measured(self) -> bool:
        return self.runs_df > 0

    def quantile(self, q: float) -> float:
        """The t reference's q-quantile (q > 0.5)."""
        return self._upper(1 - q)

    def _upper(self, tail: float) -> float:
        """The point with ``tail`` above it: between t(runs_df) and t(sentences_df), by the runs' share w of
        the variance (weight w**1.5). Satterthwaite's single df undercovers with 3 seeds (91 % for a 95 % CI
        in benchmarks/calibration.py); this keeps coverage near 95 % there and at no run-to-run noise."""
        total = self.runs_var + self.sentences_var
        w = (self.runs_var / total) ** 1.5 if self.runs_df > 0 and total > 0 else 0.0
        runs = t_upper(tail, self.runs_df) if w > 0 else 0.0
        sentences = t_upper(tail, self.sentences_df) if w < 1 else 0.0
        return w * runs + (1 - w) * sentences

    def ci(self, level: float = 1 - ALPHA) -> tuple[float, float]:
        half = self._upper((1 - level) / 2) * self.se
        return self.mean - half, self.mean + half

    def p(self) -> float:
        """Two-sided p of mean = 0 under this reference (the level at which the CI just reaches 0)."""
        from scipy.optimize import brentq

        if self.se == 0:
            return 1.0 if self.mean == 0 else 0.0
        ratio = abs(self.mean) / self.se
        gap = lambda log_p: self._upper(np.exp(log_p) / 2) - ratio  # noqa: E731 - decreasing in p
        if gap(0.0) >= 0:
            return 1.0
        if gap(-69.0) <= 0:
            return 0.0  # below 1e-30: reported as 0
        return float(np.exp(brentq(gap, -69.0, 0.0, xtol=1e-12)))


def t_upper(tail: float, df: float) -> float:
    """The point of a t distribution with ``tail`` probability above it (normal for huge df). scipy's special
    functions, not its distribution objects: this runs inside root finding, per pair."""
    from scipy.special import ndtri, stdtrit

    return float(-stdtrit(df, tail)) if np.isfinite(df) and df < 1e7 else float(-ndtri(tail))


def t_quantile(q: float, df: float) -> float:
    return t_upper(1 - q, df)


def _satterthwaite(parts: list[tuple[float, float]]) -> float:
    """Degrees of freedom of a sum of variance components (value, its df)."""
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / d for v, d in parts if d > 0 and v > 0)
    return total * total / denominator if denominator > 0 else float("inf")


def _runs(correct: np.ndarray) -> tuple[float, float]:
    """(variance of the mean over seeds, its df): run-to-run noise and each run's own coin flips, given the
    test set. Zero with one seed (not measurable)."""
    k = correct.shape[0]
    if k < 2:
        return 0.0, 0.0
    return float(correct.mean(axis=1).var(ddof=1)) / k, k - 1.0


def _flips(correct: np.ndarray) -> np.ndarray:
    """Per sentence, the variance of one run's correctness across seeds (its coin flip), over the seed count:
    what the seed-mean per-sentence score owes to chance rather than to the sentence. Zero with one seed."""
    k = correct.shape[0]
    if k < 2:
        return np.zeros(correct.shape[1])
    q = correct.mean(axis=0)
    return q * (1 - q) * k / (k - 1) / k


def _sentences(per_sentence: np.ndarray, flips: np.ndarray) -> float:
    """Variance of the mean due to which sentences are in the test set: the spread of per-sentence scores
    less their coin-flip part (already counted in the runs' term), over N; all of it with one seed."""
    n = len(per_sentence)
    return max(0.0, float(per_sentence.var(ddof=1)) - float(flips.mean())) / n


def accuracy(correct: np.ndarray) -> Estimate:
    """A player's mean accuracy over its seeds and the test sentences, with run and sentence noise."""
    n = correct.shape[1]
    runs, runs_df = _runs(correct)
    return Estimate(float(correct.mean()), runs, runs_df, _sentences(correct.mean(axis=0), _flips(correct)), n - 1.0)


def difference(a: np.ndarray, b: np.ndarray) -> Estimate:
    """Player a minus player b on the same sentences (matrices: seeds x sentences)."""
    n = a.shape[1]
    (va, da), (vb, db) = _runs(a), _runs(b)
    d = a.mean(axis=0) - b.mean(axis=0)  # per-sentence correctness, averaged over each player's seeds
    runs_df = _satterthwaite([(va, da), (vb, db)]) if da > 0 and db > 0 else 0.0
    return Estimate(float(d.mean()), va + vb, runs_df, _sentences(d, _flips(a) + _flips(b)), n - 1.0)


def equivalent(diff: Estimate, margin: float) -> bool:
    """TOST at ALPHA: the (1 - 2 ALPHA) interval of the difference lies within +-margin (a fraction)."""
    lo, hi = diff.ci(1 - 2 * ALPHA)
    return -margin < lo and hi < margin


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


def above_chance(correct: int, n: int, rate: float) -> float:
    """One-sided exact binomial p that accuracy correct/n exceeds ``rate`` (the majority-class rate)."""
    from scipy.stats import binom

    return float(binom.sf(correct - 1, n, rate))


def summary(values: list[float]) -> dict:
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def detectable_difference(seed_var: float, seeds: int, sentence_var: float, sentences: int, accuracy: float,
                          comparisons: int, df: float) -> float:
    """Smallest true difference between two players that the board's test (t with ``df``, two-sided, at
    the strictest Holm level ALPHA / comparisons) detects with probability POWER. ``seed_var``: the
    variance of one run's accuracy; ``sentence_var``: of the per-sentence paired difference. It is never
    below what the binomial noise of one accuracy on this test set allows (the floor p(1-p)/n)."""
    level = ALPHA / max(1, comparisons)
    se = np.sqrt(2 * seed_var / max(1, seeds) + sentence_var / max(1, sentences))
    floor = np.sqrt(accuracy * (1 - accuracy) / max(1, sentences))
    return float((t_quantile(1 - level / 2, df) + t_quantile(POWER, df)) * max(se, floor))
