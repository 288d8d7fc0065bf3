"""How sure can we be: confidence intervals, paired tests, multiple-comparison control, power.

Inputs are per-sentence correctness matrices, one per player: ``seeds x test sentences``
booleans, every player scored on the same test sentences in the same order. Tests come
from statsmodels (McNemar's exact test, Holm's correction) and scipy (normal quantiles);
only the two bootstraps are written here, because neither library resamples two levels
(seeds and sentences) at once. Every bootstrap uses a fixed random generator, so the
same results give the same numbers. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BOOTSTRAP = 2000  # replicates
ALPHA = 0.05
POWER = 0.80
_SEED = 20260101


def correctness(results: list[dict]) -> np.ndarray:
    """seeds x sentences, True where the seed's model got the sentence right."""
    return np.array([np.asarray(r["test"]["predictions"]) == np.asarray(r["test"]["labels"]) for r in results])


@lru_cache(maxsize=4)
def sentence_weights(n: int, replicates: int = BOOTSTRAP) -> np.ndarray:
    """replicates x n: how often each test sentence is drawn in each bootstrap replicate.

    Drawn once per test-set size from a fixed generator and shared by every CI and test,
    so the same results give the same numbers, and comparisons use common random draws.
    """
    rng = np.random.default_rng(_SEED)
    draws = rng.integers(0, n, size=(replicates, n)) + n * np.arange(replicates)[:, None]
    weights = np.bincount(draws.ravel(), minlength=replicates * n).reshape(replicates, n).astype(np.float32)
    weights.flags.writeable = False
    return weights


def hierarchical_ci(correct: np.ndarray, replicates: int = BOOTSTRAP, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of mean accuracy, resampling seeds and test sentences (sentences only with one seed).

    Each replicate draws sentences with replacement (the same draw for every seed, as they
    share the test set) and seeds with replacement, then averages. It covers both sources
    of noise: which sentences happen to be in the test set, and which seed was used.
    """
    rng = np.random.default_rng(_SEED + 2)
    k, n = correct.shape
    per_seed = sentence_weights(n, replicates) @ correct.T.astype(np.float32) / n  # replicate x seed accuracy
    if k > 1:
        picks = rng.integers(0, k, size=(replicates, k))
        per_seed = np.take_along_axis(per_seed, picks, axis=1)
    means = per_seed.mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


@dataclass(frozen=True)
class Paired:
    diff: float  # accuracy of a minus accuracy of b, as a fraction
    ci95: tuple[float, float]
    p: float
    test: str


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value for two classifiers on the same sentences (one seed each)."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = a.astype(bool), b.astype(bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    return float(mcnemar(table, exact=True).pvalue)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, replicates: int = BOOTSTRAP) -> tuple[tuple[float, float], float]:
    """CI and two-sided p of mean(a - b), resampling sentences; a and b are per-sentence scores in [0, 1].

    The p-value comes from the bootstrap distribution shifted to the null (mean 0).
    """
    d = np.asarray(a, float) - np.asarray(b, float)
    n = len(d)
    boot = sentence_weights(n, replicates).astype(np.float64) @ d / n
    observed = d.mean()
    ci = (float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975)))
    extreme = np.sum(np.abs(boot - observed) >= abs(observed) - 1e-12)
    return ci, float((1 + extreme) / (1 + replicates))


def compare(a: np.ndarray, b: np.ndarray) -> Paired:
    """Player a against player b on the same sentences (matrices: seeds x sentences)."""
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)  # per-sentence correctness averaged over seeds
    ci, p_boot = paired_bootstrap(mean_a, mean_b)
    if a.shape[0] == 1 and b.shape[0] == 1:
        return Paired(float(mean_a.mean() - mean_b.mean()), ci, mcnemar_exact(a[0], b[0]), "McNemar exact")
    return Paired(float(mean_a.mean() - mean_b.mean()), ci, p_boot, "paired bootstrap over sentences")


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (family-wise error control across the comparisons)."""
    if not pvalues:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(x) for x in multipletests(pvalues, alpha=ALPHA, method="holm")[1]]


def summary(values: list[float]) -> dict:
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def detectable_difference(seed_std: float, seeds: int, sentence_var: float, sentences: int) -> float:
    """Smallest true accuracy difference between two players that a two-sided test at ALPHA detects
    with probability POWER, given the seed-to-seed std of one run's accuracy, the number of seeds per
    player, and the per-sentence variance of the paired correctness difference on this test set."""
    from scipy.stats import norm

    se = np.sqrt(2 * seed_std**2 / max(1, seeds) + sentence_var / max(1, sentences))
    return float((norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER)) * se)
