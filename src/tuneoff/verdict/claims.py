"""The board's claims about accuracy, held together: every pair on the test set and on each extra test set
is one Holm family, so that all of a board's "separable" verdicts, on every set, are right together with
95 % confidence, and a sentence that combines sets (better on SST-5 and on SST-2) needs no further
correction. From the family's verdicts on a set: rank intervals and the players that may be best there.

A pair's CI is simultaneous over the family (Bonferroni: level 1 - ALPHA / pairs), so a CI that excludes 0
always belongs to a separable pair; Holm's step-down can separate a pair whose simultaneous CI still
touches 0 (it is laxer after the first rejections). The unadjusted 95 % CI is kept beside it.

Collapsed players are not ranked: they never hold rank 1, a rank interval or "may be best" (a player that
learned nothing is no candidate, however its accuracy compares). The others are ranked in order of mean
accuracy, so each one's position lies in its interval: those significantly ahead of it come before it,
those significantly behind after it. No torch here.
"""

from __future__ import annotations

import numpy as np

from tuneoff.verdict import stats
from tuneoff.verdict.family import Summary, differences, take

ONE_SEED_TEST = "t test over sentences (one seed: the trained models are compared)"
TEST = "t test over seeds and sentences"
BORROWED_TEST = "t test over seeds and sentences (a player with one seed borrows the others' seed-to-seed spread)"


def _test_name(summary: Summary, i: int, j: int, measured: bool) -> str:
    if not measured:
        return ONE_SEED_TEST
    return BORROWED_TEST if summary.borrowed[i] or summary.borrowed[j] else TEST


def pairs_of(names: list[str], summary: Summary, margin: float = 0.0) -> list[dict]:
    """Every pair of players in order (a before b): the difference in points, its p, and the test; the
    family's Holm p, separable and CIs are added by :func:`correct`."""
    index = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    every = differences(summary, index) if index else None
    tests = take(every) if every is not None else []
    ps: np.ndarray | list[float] = np.atleast_1d(every.p()[0]) if every is not None else []  # p: one call for all pairs
    out = []
    for (i, j), t, p in zip(index, tests, ps):
        lo, hi = t.ci()
        out.append(
            {
                "a": names[i],
                "b": names[j],
                "diff": 100 * t.mean,
                "ci95_unadjusted": [100 * lo, 100 * hi],
                "p": float(p),
                "equivalent": stats.equivalent(t, margin / 100) if margin else None,
                "test": _test_name(summary, i, j, t.seeds_measured),
                "_estimate": t,
            }
        )
    return out


def correct(sets: list[list[dict]]) -> int:
    """Holm over every pair of every set at once; adds p_holm, separable and the simultaneous ci95 to each pair
    (its private estimate is dropped). Returns the family's size."""
    family = [q for pairs in sets for q in pairs]
    for q, p_holm in zip(family, stats.holm([q["p"] for q in family])):
        t = q.pop("_estimate")
        lo, hi = t.ci(1 - stats.ALPHA / len(family))
        q.update(p_holm=p_holm, separable=p_holm < stats.ALPHA, ci95=[100 * lo, 100 * hi])
    return len(family)


def ahead(names: list[str], pairs: list[dict], behind: bool = False) -> dict[str, int]:
    """How many of ``names`` are significantly ahead of each (``behind``: significantly behind it)."""
    count = dict.fromkeys(names, 0)
    for q in pairs:
        if q["separable"] and q["a"] in count and q["b"] in count:
            winner, loser = (q["a"], q["b"]) if q["diff"] > 0 else (q["b"], q["a"])
            count[winner if behind else loser] += 1
    return count


def rank(rows: list[dict], pairs: list[dict]) -> list[str]:
    """Positions and rank intervals among the players that did not collapse, the difference of every player
    from the first of them, and the players that may be best."""
    ranked = [r["player"] for r in rows if not r["collapsed"]]
    better, worse = ahead(ranked, pairs), ahead(ranked, pairs, behind=True)
    first = ranked[0] if ranked else None
    versus = {(q["b"] if q["a"] == first else q["a"]): q for q in pairs if first in (q["a"], q["b"])}
    for r in rows:
        name = r["player"]
        inside = name in better
        r["rank"] = ranked.index(name) + 1 if inside else None
        r["rank_interval"] = [1 + better[name], len(ranked) - worse[name]] if inside else None
        r["may_be_best"] = inside and better[name] == 0
        q = versus.get(name)
        sign = -1 if q is not None and q["a"] == first else 1
        r.update(
            diff_vs_best=None if first is None else 0.0 if q is None else sign * q["diff"],
            diff_vs_best_ci95=None
            if first is None
            else [0.0, 0.0]
            if q is None
            else sorted(sign * x for x in q["ci95"]),
            p_vs_best=None if q is None else q["p_holm"],
        )
    return [n for n in ranked if better[n] == 0]
