"""Scoring a tournament over seeds: the accuracy verdict, and beside it the game's score. Reads results only.

The verdict on accuracy never looks at speed. Players are ordered by mean test accuracy over their
completed seeds; every pair is compared on the same test sentences with a test that counts both
run-to-run and sentence noise (:mod:`tuneoff.verdict.stats`), Holm-corrected over all pairs. From
the significant pairs each player gets a *rank interval*, and the players whose interval holds rank
1 form the set that *may be best*: with 95 % confidence the best strategy is among them. Players
in it *cannot be separated*, which is not a proof that they are equal (an equivalence test with a
stated margin, ``tournament.equivalence_margin``, is the way to claim that).

The game's score stays as the game defines it: mean accuracy in % plus a share of the speed bonus
for the fastest player that did not collapse. Speed is compared only on the same device. No torch.
"""

from __future__ import annotations

import statistics

import numpy as np

from tuneoff.verdict import stats

COLLAPSE_SHARE = 0.90  # >= 90 % of predictions in one class
SPEED_TIE = 0.05  # with one seed, a player within 5 % of the fastest's time per sample shares the bonus

RULES = {
    "accuracy": "players are ordered by mean test accuracy over their completed seeds (a collapsed player after "
                "every other); every pair is compared on the same test sentences with a t test that counts run-to-"
                "run and sentence noise, Holm-corrected over all pairs",
    "rank_interval": "1 + the number of players significantly better, to the number of players minus the number "
                     "significantly worse; all intervals hold together with 95 % confidence",
    "may_be_best": "the players whose rank interval holds 1 (collapsed players left out): with 95 % confidence the "
                   "best is among them; they cannot be separated, which does not show they are equal",
    "collapse": "a seed collapsed when its accuracy is not significantly above the majority-class rate (one-sided "
                f"exact binomial test, alpha {stats.ALPHA}) or >= {COLLAPSE_SHARE:.0%} of its predictions fall in one "
                "class; any collapsed seed flags the player, which then never holds rank 1 nor the bonus",
    "points": "the game's score, apart from the verdict: mean test accuracy in % + the player's share of the speed "
              "bonus",
    "speed": "the bonus goes to the non-collapsed player with the smallest median training time per sample; another "
             f"shares it only when shown to be within {SPEED_TIE:.0%} of it (the one-sided 95 % upper bound of its "
             "time ratio over seeds, Welch t on log times, is at most 1.05; with one seed, the ratio itself), so "
             "times that wobble never win a share",
    "groups": "the accuracy verdict spans every player; speed is compared only on the same device (chip and device); "
              "how many jobs ran at once is recorded and shown, never a group of its own",
}


# --- one seed, one player ------------------------------------------------------------------------


def collapse_reason(result: dict) -> str | None:
    """Why one completed job counts as having learned nothing, or None."""
    test, majority = result["test"], result["data"]["test_majority_rate"]
    n = len(test["labels"])
    correct = int(round(test["accuracy"] * n))
    p = stats.above_chance(correct, n, majority)
    if p >= stats.ALPHA:
        where = "below" if test["accuracy"] < majority else "not significantly above"
        return f"accuracy {test['accuracy']:.2%} is {where} the majority-class rate {majority:.2%} (p = {p:.2g})"
    predicted = test["predicted_distribution"]
    share = max(predicted) / max(1, sum(predicted))
    if share >= COLLAPSE_SHARE:
        return f"{share:.0%} of test predictions are '{result['labels'][predicted.index(max(predicted))]}'"
    return None


def hardware_key(result: dict) -> str:
    """The device a training time depends on: the chip and the device. Speed is compared per device only:
    threads and jobs at once are shown beside it, never part of it, so a resumed run is one table."""
    hw = result.get("environment", {}).get("hardware", {})
    return " / ".join(str(p) for p in (hw.get("gpu") or hw.get("cpu") or "unknown", hw.get("device")) if p)


def device_of(result: dict) -> tuple:
    """The device a job ran on, to tell which jobs shared one: the host, the device type, the card(s) it saw."""
    hw = result.get("environment", {}).get("hardware", {})
    return (result.get("process", {}).get("host"), hw.get("device"), hw.get("cuda_visible_devices"))


def overlapping_jobs(spans: list[tuple]) -> list[int]:
    """For each (device, start, end) span, the most spans on its device running at one instant within it, itself
    included (1: it ran alone). A span runs over [start, end); one that starts and ends together, at its start."""
    def running(device, t) -> int:
        return sum(d == device and (s <= t < e or s == e == t) for d, s, e in spans)

    out = []
    for device, start, end in spans:
        instants = [start] + [s for d, s, _ in spans if d == device and start < s < end]
        out.append(max(running(device, t) for t in instants))
    return out


def jobs_at_once(result: dict) -> int:
    """How many jobs overlapped this one on its device (measured); an older result's executor slots else."""
    timing = result["timing"]
    return timing.get("overlapping_jobs", timing.get("concurrent_jobs", 1))


def _seconds_per_sample(result: dict) -> float:
    return 1.0 / result["timing"]["train_samples_per_second"]


def _row(name: str, runs: list[dict], planned: int, failed: int) -> dict:
    """One player's summary over its completed seeds."""
    first, matrix = runs[0], stats.correctness(runs)
    acc, f1 = (stats.summary([r["test"][k] for r in runs]) for k in ("accuracy", "macro_f1"))
    estimate = stats.accuracy(matrix)
    collapsed = {r["seed"]: reason for r in runs if (reason := collapse_reason(r))}
    gaps = [r["generalization"]["gap_at_best_epoch"] for r in runs if r["generalization"]["gap_at_best_epoch"] is not None]
    return {
        "player": name, "model": first.get("model", {}).get("description") or first["player"]["model"]["kind"],
        "strategy": first["player"]["strategy"]["name"], "status": "completed",
        "hardware": " + ".join(sorted({hardware_key(r) for r in runs})),
        "threads": sorted({r.get("environment", {}).get("hardware", {}).get("threads") or 0 for r in runs}),
        "concurrent_jobs": sorted({jobs_at_once(r) for r in runs}),
        "seeds": [r["seed"] for r in runs], "data_seeds": [r["data_seed"] for r in runs],
        "seeds_planned": max(planned, len(runs) + failed), "seeds_failed": failed,
        "per_seed_test_accuracy": [r["test"]["accuracy"] for r in runs],
        "test_accuracy": acc["mean"], "test_accuracy_std": acc["std"], "test_accuracy_min": acc["min"],
        "test_accuracy_max": acc["max"], "test_accuracy_ci95": [max(0.0, estimate.ci()[0]), min(1.0, estimate.ci()[1])],
        "seed_variance_measured": estimate.seeds_measured,
        "binomial_se": (acc["mean"] * (1 - acc["mean"]) / matrix.shape[1]) ** 0.5,
        "macro_f1": f1["mean"], "macro_f1_std": f1["std"], "macro_f1_min": f1["min"], "macro_f1_max": f1["max"],
        "train_seconds": statistics.median(r["timing"]["train_seconds"] for r in runs),
        "samples_per_second": statistics.median(r["timing"]["train_samples_per_second"] for r in runs),
        "per_seed_seconds_per_sample": [_seconds_per_sample(r) for r in runs],
        "trainable_parameters": first["parameters"]["trainable"], "total_parameters": first["parameters"]["total"],
        "peak_rss_bytes": max(r["memory"]["peak_rss_bytes"] for r in runs),
        "best_epoch": round(statistics.median(r["best_epoch"] for r in runs)),
        "best_epochs": [r["best_epoch"] for r in runs],
        "lowest_dev_loss_epochs": [r["generalization"]["lowest_dev_loss_epoch"] for r in runs],
        "generalization_gap": sum(gaps) / len(gaps) if gaps else None,
        "majority_rate": first["data"]["test_majority_rate"],
        "collapsed": bool(collapsed), "collapsed_seeds": sorted(collapsed),
        "collapse_reason": "; ".join(f"seed {s}: {why}" for s, why in sorted(collapsed.items())) or None,
        "fastest": False, "bonus": 0.0, "points": 100 * acc["mean"], "extra_eval": _extra(runs),
        "tuning": _sweep(first),
    }


def _sweep(result: dict) -> dict | None:
    """The rate a tuning sweep chose for the player (its seeds share it) and whether it is at the grid's edge; the
    same for its knob and second rate, where the sweep crossed them."""
    sweep = result.get("tuning")
    if not sweep:
        return None
    out = {"learning_rate": sweep["learning_rate"], "learning_rates": sweep["learning_rates"],
           "on_edge": sweep.get("on_edge")}  # absent from results written before the sweep recorded it
    return {**out, **{k: sweep[k] for k in ("knob", "second_rate") if sweep.get(k)}}


def extra_matrix(runs: list[dict], name: str) -> np.ndarray | None:
    """seeds x sentences of extra test set ``name``, True where right; None unless every seed holds each
    sentence's prediction on the same sentences (results written before they were kept hold only accuracy)."""
    entries = [r.get("extra_eval", {}).get(name) for r in runs]
    if any(e is None or "predictions" not in e for e in entries) or len({e.get("sha256") for e in entries}) > 1:
        return None
    return np.array([np.asarray(e["predictions"]) == np.asarray(e["labels"]) for e in entries])


def _extra(runs: list[dict]) -> dict:
    """Per extra test set: mean, std and per-seed accuracy, and where each sentence's prediction is kept the
    95 % CI that counts seeds and sentences, as the test set's does (never part of the verdict or the points)."""
    names = sorted({n for r in runs for n in r.get("extra_eval", {})})
    out = {}
    for name in names:
        accs = [r["extra_eval"][name]["accuracy"] for r in runs if name in r.get("extra_eval", {})]
        out[name] = {**stats.summary(accs), "per_seed": accs, "dataset": runs[0]["extra_eval"][name]["dataset"]}
        if (matrix := extra_matrix(runs, name)) is not None:
            lo, hi = stats.accuracy(matrix).ci()
            out[name].update(ci95=[max(0.0, lo), min(1.0, hi)], sha256=runs[0]["extra_eval"][name].get("sha256"))
    return out


def extra_verdicts(rows: list[dict], by_player: dict[str, list[dict]]) -> dict:
    """Per extra test set, the same verdict as on the test set, among the players whose seeds all kept their
    predictions on the same sentences: every pair (Holm over that set's pairs) and the players that may be best
    there (none significantly ahead of them; a player collapsed on the test set never)."""
    out = {}
    for name in sorted({n for r in rows for n in r["extra_eval"]}):
        scored = [r for r in rows if "ci95" in r["extra_eval"].get(name, {})]
        if len({r["extra_eval"][name]["sha256"] for r in scored}) > 1:
            out[name] = {"players": [], "pairwise": [], "may_be_best": [],
                         "note": "players were scored on different versions of this set: no paired verdict"}
            continue
        scored.sort(key=lambda r: (r["collapsed"], -r["extra_eval"][name]["mean"], r["player"]))
        pairs = pairwise(scored, {r["player"]: extra_matrix(by_player[r["player"]], name) for r in scored})
        ahead = _ahead(scored, pairs)
        best = [r["player"] for r in scored if not ahead[r["player"]] and not r["collapsed"]]
        for r in scored:
            r["extra_eval"][name]["may_be_best"] = r["player"] in best
        out[name] = {"players": [r["player"] for r in scored], "pairwise": pairs, "may_be_best": best}
    return out


# --- the accuracy verdict ------------------------------------------------------------------------


def pairwise(rows: list[dict], matrices: dict, margin: float = 0.0) -> list[dict]:
    """Every pair of players (in verdict order): difference in points of accuracy, CI, p, Holm-adjusted p over
    all pairs, whether the difference is significant, and (with a margin, in points) whether equivalent."""
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1:]]
    tests = [stats.difference(matrices[a["player"]], matrices[b["player"]]) for a, b in pairs]
    ps = [t.p() for t in tests]
    out = []
    for (a, b), t, p, p_holm in zip(pairs, tests, ps, stats.holm(ps)):
        lo, hi = t.ci()
        out.append({"a": a["player"], "b": b["player"], "diff": 100 * t.mean, "ci95": [100 * lo, 100 * hi],
                    "p": p, "p_holm": p_holm, "separable": p_holm < stats.ALPHA,
                    "equivalent": stats.equivalent(t, margin / 100) if margin else None,
                    "test": "t test over seeds and sentences" if t.seeds_measured else
                            "t test over sentences (one seed: run-to-run noise not measured)"})
    return out


def _ahead(rows: list[dict], pairs: list[dict], behind: bool = False) -> dict[str, int]:
    """How many players are significantly ahead of each (``behind``: how many are significantly behind it)."""
    count = {r["player"]: 0 for r in rows}
    for q in (q for q in pairs if q["separable"]):
        winner, loser = (q["a"], q["b"]) if q["diff"] > 0 else (q["b"], q["a"])
        count[winner if behind else loser] += 1
    return count


def _rank(rows: list[dict], pairs: list[dict]) -> list[str]:
    """Positions, rank intervals, the difference from the first player, and the set that may be best."""
    position = {r["player"]: i for i, r in enumerate(rows)}
    better, worse = _ahead(rows, pairs), _ahead(rows, pairs, behind=True)
    first = rows[0]["player"]
    versus = {q["b"]: q for q in pairs if q["a"] == first}
    for r in rows:
        r["rank"] = position[r["player"]] + 1
        r["rank_interval"] = [1 + better[r["player"]], len(rows) - worse[r["player"]]]
        r["may_be_best"] = better[r["player"]] == 0 and not r["collapsed"]
        q = versus.get(r["player"])
        r.update(diff_vs_best=0.0 if q is None else -q["diff"],
                 diff_vs_best_ci95=[0.0, 0.0] if q is None else [-q["ci95"][1], -q["ci95"][0]],
                 p_vs_best=None if q is None else q["p_holm"])
    return [r["player"] for r in rows if r["may_be_best"]]


# --- the game's score ----------------------------------------------------------------------------


def _close_to(r: dict, best: dict) -> bool:
    """Is r shown to be within SPEED_TIE of the fastest: is the one-sided 95 % upper bound of its time per
    sample over the fastest's at most 1 + SPEED_TIE? (With one seed on either side: the ratio of the medians.)
    A player whose times wobble cannot show it, so noise never wins a share."""
    a, b = np.log(r["per_seed_seconds_per_sample"]), np.log(best["per_seed_seconds_per_sample"])
    if len(a) < 2 or len(b) < 2:
        return float(np.median(a) - np.median(b)) <= np.log1p(SPEED_TIE)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else float("inf")
    upper = float(a.mean() - b.mean()) + stats.t_quantile(1 - stats.ALPHA, df) * se
    return upper <= np.log1p(SPEED_TIE)


def _award_bonus(rows: list[dict], bonus: float) -> list[str]:
    """Per device: the bonus to the fastest non-collapsed player, shared with those not significantly slower."""
    notes = []
    for device in sorted({r["hardware"] for r in rows}):
        eligible = [r for r in rows if r["hardware"] == device and not r["collapsed"]]
        if not eligible or not bonus:
            continue
        best = min(eligible, key=lambda r: statistics.median(r["per_seed_seconds_per_sample"]))
        sharing = [r for r in eligible if r is best or _close_to(r, best)]
        for r in sharing:
            r.update(fastest=True, bonus=bonus / len(sharing), points=r["points"] + bonus / len(sharing))
        if len(sharing) > 1:
            notes.append(f"{device}: speed bonus shared by {', '.join(r['player'] for r in sharing)} "
                         f"(+{bonus / len(sharing):g} each): each is shown within {SPEED_TIE:.0%} of the fastest")
        if len({c for r in eligible for c in r["concurrent_jobs"]}) > 1:
            notes.append(f"{device}: these players trained with different numbers of jobs at once; their speeds "
                         "are shown, but compare them with care")
    return notes


def _game_ranks(rows: list[dict]) -> None:
    ordered = sorted(rows, key=lambda r: -r["points"])
    for i, r in enumerate(ordered):
        same = i and round(r["points"], 6) == round(ordered[i - 1]["points"], 6)
        r["game_rank"] = ordered[i - 1]["game_rank"] if same else i + 1


# --- the board -----------------------------------------------------------------------------------


def power(rows: list[dict], matrices: dict, comparisons: int) -> dict | None:
    """The smallest difference the board's test detects (80 % power) at the strictest Holm level."""
    if not rows:
        return None
    healthy = [r for r in rows if not r["collapsed"]] or rows  # a collapsed player is no fair pair
    many = [r for r in healthy if len(r["seeds"]) > 1]
    seed_var = float(np.mean([r["test_accuracy_std"] ** 2 for r in many])) if many else 0.0
    means = [matrices[r["player"]].mean(axis=0) for r in healthy]
    diffs = [(a - b).var(ddof=1) for i, a in enumerate(means) for b in means[i + 1:]]
    accuracy = float(np.mean([r["test_accuracy"] for r in healthy]))
    sentence_var = float(np.mean(diffs)) if diffs else 2 * accuracy * (1 - accuracy)
    seeds, n = min(len(r["seeds"]) for r in healthy), len(means[0])
    df = 2.0 * (seeds - 1) if many and seeds > 1 else n - 1.0
    return {"detectable_difference": 100 * stats.detectable_difference(seed_var, seeds, sentence_var, n, accuracy,
                                                                        comparisons, df),
            "seed_std": seed_var ** 0.5 if many else None, "seeds": seeds, "sentences": n,
            "sentence_variance": sentence_var, "comparisons": comparisons, "alpha": stats.ALPHA,
            "power": stats.POWER, "seed_variance_measured": bool(many)}


def build(results: list[dict], bonus: float = 10.0, speed_metric: str = "train_seconds",
          stale: list[dict] = (), planned: dict[str, int] | None = None, margin: float = 0.0) -> dict:
    """The board: the accuracy verdict over every player, the game's score beside it, unfinished jobs listed.

    ``planned``: seeds the config asks of each player (to count missing ones); ``margin``: the equivalence
    margin in points (0: no equivalence test)."""
    by_player: dict[str, list[dict]] = {}
    unranked = []
    for r in results:
        if r["status"] == "completed":
            by_player.setdefault(r["player"]["name"], []).append(r)
        else:
            unranked.append({"player": r["player"]["name"], "seed": r["seed"], "data_seed": r["data_seed"],
                             "model": r.get("model", {}).get("description") or r["player"]["model"]["kind"],
                             "strategy": r["player"]["strategy"]["name"], "status": r["status"], "error": r["error"]})
    failed = {n: sum(u["player"] == n for u in unranked) for n in by_player}
    rows = [_row(n, runs, (planned or {}).get(n, len(runs)), failed[n]) for n, runs in by_player.items()]
    rows.sort(key=lambda r: (r["collapsed"], -r["test_accuracy"], r["player"]))
    matrices = {name: stats.correctness(runs) for name, runs in by_player.items()}
    pairs = pairwise(rows, matrices, margin)
    best = _rank(rows, pairs) if rows else []
    notes = _award_bonus(rows, bonus)
    _game_ranks(rows)
    return {"schema": "tuneoff.leaderboard/3",
            "rules": {**RULES, "fastest_bonus": bonus, "speed_metric": speed_metric, "equivalence_margin": margin},
            "ranked": rows, "may_be_best": best, "unranked": unranked, "stale": list(stale), "notes": notes,
            "pairwise": pairs, "power": power(rows, matrices, len(pairs)), "extra_eval": extra_verdicts(rows, by_player)}
