"""Scoring the game over seeds: points, a speed bonus that noise cannot steal, collapse flags,
confidence intervals, paired tests against the leader and tied ranks. Reads results only; no torch.

A player's row summarises its completed seeds: test accuracy is the mean over seeds, with
std, min, max and a 95 % CI that covers both seeds and test sentences. Points are that mean
in % plus its share of the speed bonus. Within each hardware group the first by points
leads; every other player is compared with the leader on the same test sentences (McNemar's
exact test with one seed each, else a paired bootstrap), Holm-corrected across players.
A player whose difference is not significant, and whose bonus equals the leader's, is tied
with the leader and shares rank 1.
"""

from __future__ import annotations

import statistics

from tuneoff.verdict import stats

COLLAPSE_MARGIN = 0.01  # accuracy at most 1 point above the majority-class rate (or anywhere below it)
COLLAPSE_SHARE = 0.90  # or >= 90 % of predictions in one class
SPEED_TIE = 0.05  # with one seed, speeds within 5 % of the fastest share the bonus

RULES = {
    "points": "mean test accuracy over seeds in % + the player's share of the speed bonus",
    "collapse": f"mean test accuracy at most {COLLAPSE_MARGIN:.0%} above the majority-class rate (below it "
                f"included), or >= {COLLAPSE_SHARE:.0%} of predictions in one class; collapsed players get no bonus",
    "speed": "median over seeds; players within the measured spread of the fastest (the larger range of their "
             f"per-seed values; {SPEED_TIE:.0%} of the fastest with one seed) share the bonus equally",
    "ties": "a player whose accuracy difference from the leader is not significant (Holm-corrected p >= "
            f"{stats.ALPHA}) and whose bonus equals the leader's shares rank 1",
    "groups": "players are ranked only against results with the same hardware fingerprint (chip, device, threads, "
              "and how many jobs ran at once)",
}


def collapse_reason(result: dict) -> str | None:
    """Why one completed job counts as having learned nothing, or None."""
    return _collapse(result["test"]["accuracy"], result["test"]["predicted_distribution"],
                     result["data"]["test_majority_rate"], result["labels"])


def _collapse(accuracy: float, predicted: list[int], majority: float, labels: list[str]) -> str | None:
    if accuracy <= majority + COLLAPSE_MARGIN:
        where = "below" if accuracy < majority else "within 1 point of"
        return f"accuracy {accuracy:.2%} is {where} the majority-class rate {majority:.2%}"
    share = max(predicted) / max(1, sum(predicted))
    if share >= COLLAPSE_SHARE:
        return f"{share:.0%} of test predictions are '{labels[predicted.index(max(predicted))]}'"
    return None


def hardware_key(result: dict) -> str:
    """What a training time depends on: the chip, the device, the threads, and how many jobs shared the machine."""
    hw = result.get("environment", {}).get("hardware", {})
    together = result.get("timing", {}).get("concurrent_jobs", 1)
    parts = [hw.get("gpu") or hw.get("cpu") or "unknown", hw.get("device"), f"{hw.get('threads')} threads",
             f"{together} jobs at once" if together > 1 else None]
    return " / ".join(str(p) for p in parts if p)


def _speed(result: dict, metric: str) -> float:
    timing = result["timing"]
    return timing["train_seconds"] if metric == "train_seconds" else timing["train_samples_per_second"]


def _row(name: str, runs: list[dict], metric: str) -> dict:
    """One ranked player's summary over its completed seeds."""
    first = runs[0]
    acc = stats.summary([r["test"]["accuracy"] for r in runs])
    f1 = stats.summary([r["test"]["macro_f1"] for r in runs])
    predicted = [sum(col) for col in zip(*(r["test"]["predicted_distribution"] for r in runs))]
    majority = first["data"]["test_majority_rate"]
    reason = _collapse(acc["mean"], predicted, majority, first["labels"])
    n = first["data"]["sizes"]["test"]
    gaps = [r["generalization"]["gap_at_best_epoch"] for r in runs if r["generalization"]["gap_at_best_epoch"] is not None]
    return {
        "player": name, "model": first.get("model", {}).get("description") or first["player"]["model"]["kind"],
        "strategy": first["player"]["strategy"]["name"], "status": "completed",
        "hardware": " + ".join(sorted({hardware_key(r) for r in runs})),
        "seeds": [r["seed"] for r in runs], "data_seeds": [r["data_seed"] for r in runs],
        "per_seed_test_accuracy": [r["test"]["accuracy"] for r in runs],
        "test_accuracy": acc["mean"], "test_accuracy_std": acc["std"], "test_accuracy_min": acc["min"],
        "test_accuracy_max": acc["max"], "test_accuracy_ci95": list(stats.hierarchical_ci(stats.correctness(runs))),
        "binomial_se": (acc["mean"] * (1 - acc["mean"]) / n) ** 0.5,
        "macro_f1": f1["mean"], "macro_f1_std": f1["std"], "macro_f1_min": f1["min"], "macro_f1_max": f1["max"],
        "train_seconds": statistics.median(r["timing"]["train_seconds"] for r in runs),
        "samples_per_second": statistics.median(r["timing"]["train_samples_per_second"] for r in runs),
        "per_seed_speed": [_speed(r, metric) for r in runs],
        "trainable_parameters": first["parameters"]["trainable"], "total_parameters": first["parameters"]["total"],
        "peak_rss_bytes": max(r["memory"]["peak_rss_bytes"] for r in runs),
        "best_epoch": round(statistics.median(r["best_epoch"] for r in runs)),
        "best_epochs": [r["best_epoch"] for r in runs],
        "lowest_dev_loss_epochs": [r["generalization"]["lowest_dev_loss_epoch"] for r in runs],
        "generalization_gap": sum(gaps) / len(gaps) if gaps else None,
        "majority_rate": majority, "collapsed": reason is not None, "collapse_reason": reason,
        "collapsed_seeds": [r["seed"] for r in runs if collapse_reason(r)],
        "fastest": False, "bonus": 0.0, "points": 100 * acc["mean"],
        "extra_eval": _extra(runs),
    }


def _extra(runs: list[dict]) -> dict:
    """Per extra test set: mean, std and per-seed accuracy (never part of the points)."""
    names = sorted({n for r in runs for n in r.get("extra_eval", {})})
    out = {}
    for name in names:
        accs = [r["extra_eval"][name]["accuracy"] for r in runs if name in r.get("extra_eval", {})]
        out[name] = {**stats.summary(accs), "per_seed": accs, "dataset": runs[0]["extra_eval"][name]["dataset"]}
    return out


def _award_bonus(rows: list[dict], bonus: float, metric: str) -> str | None:
    """Give the bonus to the fastest non-collapsed player, shared with those within the measured spread."""
    eligible = [r for r in rows if not r["collapsed"]]
    if not eligible or not bonus:
        return None
    sign = 1 if metric == "train_seconds" else -1  # smaller time is faster; larger samples/s is faster
    median = {r["player"]: statistics.median(r["per_seed_speed"]) for r in eligible}
    best = min(eligible, key=lambda r: sign * median[r["player"]])

    def spread(r: dict) -> float:
        ranges = [max(x["per_seed_speed"]) - min(x["per_seed_speed"]) for x in (best, r) if len(x["per_seed_speed"]) > 1]
        return max(ranges) if ranges else SPEED_TIE * abs(median[best["player"]])

    sharing = [r for r in eligible if abs(median[r["player"]] - median[best["player"]]) <= spread(r)]
    for r in sharing:
        r.update(fastest=True, bonus=bonus / len(sharing), points=r["points"] + bonus / len(sharing))
    if len(sharing) > 1:
        return (f"speed bonus shared by {', '.join(r['player'] for r in sharing)} (+{bonus / len(sharing):g} each): "
                "their speeds are within the measured spread of the fastest")
    return None


def _rank(rows: list[dict], matrices: dict) -> None:
    """Order by points; test every player against the leader; tied players share rank 1."""
    rows.sort(key=lambda r: -r["points"])
    leader = rows[0]
    leader.update(p_vs_leader=None, diff_vs_leader=0.0, diff_vs_leader_ci95=[0.0, 0.0], test_vs_leader=None,
                  tied_with_leader=True, rank=1)
    others = rows[1:]
    tests = [stats.compare(matrices[r["player"]], matrices[leader["player"]]) for r in others]
    for r, t, p in zip(others, tests, stats.holm([t.p for t in tests])):
        r.update(p_vs_leader=p, diff_vs_leader=100 * t.diff, test_vs_leader=t.test,
                 diff_vs_leader_ci95=[100 * t.ci95[0], 100 * t.ci95[1]],
                 tied_with_leader=p >= stats.ALPHA and abs(r["bonus"] - leader["bonus"]) < 1e-9)
    for position, r in enumerate(others, start=2):
        before = rows[position - 2]
        same = round(r["points"], 6) == round(before["points"], 6)
        r["rank"] = 1 if r["tied_with_leader"] else (before["rank"] if same else position)


def pairwise(rows: list[dict], matrices: dict) -> list[dict]:
    """Every pair of ranked players: difference in points of accuracy, CI, p, Holm-adjusted p."""
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1:]]
    tests = [stats.compare(matrices[a["player"]], matrices[b["player"]]) for a, b in pairs]
    return [{"a": a["player"], "b": b["player"], "diff": 100 * t.diff, "ci95": [100 * t.ci95[0], 100 * t.ci95[1]],
             "p": t.p, "p_holm": p, "test": t.test}
            for (a, b), t, p in zip(pairs, tests, stats.holm([t.p for t in tests]))]


def power(rows: list[dict], matrices: dict) -> dict | None:
    """The smallest difference this test set and these seeds can detect (80 % power, alpha 0.05)."""
    if len(rows) < 1:
        return None
    healthy = [r for r in rows if not r["collapsed"]] or rows  # a collapsed player is no fair pair
    many = [r for r in healthy if len(r["seeds"]) > 1]
    seed_std = (sum(r["test_accuracy_std"] ** 2 for r in many) / len(many)) ** 0.5 if many else None
    means = [matrices[r["player"]].mean(axis=0) for r in healthy]
    diffs = [(a - b).var(ddof=1) for i, a in enumerate(means) for b in means[i + 1:]]
    sentence_var = sum(diffs) / len(diffs) if diffs else 2 * healthy[0]["test_accuracy"] * (1 - healthy[0]["test_accuracy"])
    seeds = min(len(r["seeds"]) for r in healthy)
    n = len(means[0])
    return {"detectable_difference": 100 * stats.detectable_difference(seed_std or 0.0, seeds, sentence_var, n),
            "seed_std": seed_std, "seeds": seeds, "sentences": n, "sentence_variance": sentence_var,
            "alpha": stats.ALPHA, "power": stats.POWER, "seed_variance_measured": seed_std is not None}


def build(results: list[dict], bonus: float = 10.0, speed_metric: str = "train_seconds",
          stale: list[dict] = ()) -> dict:
    """Rank players (over their completed seeds) within each hardware group; list unfinished jobs."""
    by_player: dict[str, list[dict]] = {}
    unranked = []
    for r in results:
        if r["status"] == "completed":
            by_player.setdefault(r["player"]["name"], []).append(r)
        else:
            unranked.append({"player": r["player"]["name"], "seed": r["seed"], "data_seed": r["data_seed"],
                             "model": r.get("model", {}).get("description") or r["player"]["model"]["kind"],
                             "strategy": r["player"]["strategy"]["name"], "status": r["status"], "error": r["error"]})
    rows = [_row(name, runs, speed_metric) for name, runs in by_player.items()]
    matrices = {name: stats.correctness(runs) for name, runs in by_player.items()}
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["hardware"], []).append(row)
    notes, pairs, powers = [], {}, {}
    for group, members in groups.items():
        if note := _award_bonus(members, bonus, speed_metric):
            notes.append(f"{group}: {note}")
        _rank(members, matrices)
        pairs[group], powers[group] = pairwise(members, matrices), power(members, matrices)
    ranked = sorted(rows, key=lambda r: (r["hardware"], r["rank"], -r["points"]))
    return {"schema": "tuneoff.leaderboard/2", "rules": {**RULES, "fastest_bonus": bonus, "speed_metric": speed_metric},
            "hardware_groups": sorted(groups), "ranked": ranked, "unranked": unranked, "stale": list(stale),
            "notes": notes, "pairwise": pairs, "power": powers}
