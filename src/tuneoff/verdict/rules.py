"""Scoring a tournament over seeds: the accuracy verdict, and beside it the game's score. Reads results only.

The verdict on accuracy never looks at speed. Players are ordered by mean test accuracy over their
completed seeds; every pair is compared on the same test sentences with a test that counts both
run-to-run and sentence noise (:mod:`tuneoff.verdict.stats`, :mod:`tuneoff.verdict.family`), and every
pair on every set is one Holm family (:mod:`tuneoff.verdict.claims`). From the significant pairs each
player that did not collapse gets a *rank interval*, and those whose interval holds rank 1 form the set
that *may be best*. They *cannot be separated*, which is not a proof that they are equal (an
equivalence test with a stated margin, ``tournament.equivalence_margin``, is the way to claim that).

How a job ended counts: a seed whose training loss diverged (non-finite) counts with the collapsed ones,
against its player, and is never dropped; a crash is a failed seed; a job still running or interrupted is
*not finished*, never failed. A player with fewer completed seeds than planned keeps its interval from
what ran (with one seed it borrows the others' seed-to-seed spread, never more precisely than with all
its seeds). When any player has fewer than two completed seeds, the board speaks of the *trained models*
it has, not of what another seed would give: ``about`` says which.

The game's score stays as the game defines it: mean accuracy in % plus a share of the speed bonus
(:mod:`tuneoff.verdict.speed`). No torch here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

from tuneoff.store.status import Status
from tuneoff.verdict import claims, family, power, speed, stats
from tuneoff.verdict.format import p_is
from tuneoff.verdict.speed import hardware_key

COLLAPSE_SHARE = 0.90  # >= 90 % of predictions in one class
STRATEGIES, MODELS = "strategies", "trained models"


def rules(about: str) -> dict[str, str]:
    """The rules as the board states them; a board about trained models never speaks of run-to-run noise."""
    models = about == MODELS
    test = (
        "every pair is compared on the same test sentences with a t test; some player has a single seed, so "
        "the verdict is about the trained models here, not about what other seeds would give"
        if models
        else "every pair is compared on the same test sentences with a t test that counts run-to-run "
        "and sentence noise (a player with one seed borrows the others' seed-to-seed spread)"
    )
    return {
        "accuracy": "players are ordered by mean test accuracy over their completed seeds (collapsed players after "
        f"the others, unranked); {test}; every pair on every test set is one Holm family, whose pair "
        "CIs are simultaneous",
        "rank_interval": "1 + the number of players significantly better, to the number of ranked players minus the "
        "number significantly worse; all intervals hold together with 95 % confidence",
        "may_be_best": f"the players whose rank interval holds 1: with 95 % confidence the best "
        f"{'trained model' if models else 'player'} is among them; they cannot be separated, which "
        "does not show they are equal",
        "collapse": "a seed collapsed when its accuracy is not significantly above the majority-class rate (one-sided "
        f"exact binomial test, alpha {stats.ALPHA}), >= {COLLAPSE_SHARE:.0%} of its predictions fall in "
        "one class, or its training loss diverged; any collapsed seed flags the player, which is not "
        "ranked and gets no bonus",
        "points": "the game's score, apart from the verdict: mean test accuracy in % + the player's share of the "
        "speed bonus",
        "speed": speed.RULE,
        "groups": "the accuracy verdict spans every player; speed is compared on one device; how many jobs ran at "
        "once is recorded and shown, never a group of its own",
    }


# --- one seed, one player ------------------------------------------------------------------------


def collapse_reason(result: dict) -> str | None:
    """Why one completed job counts as having learned nothing, or None."""
    test, majority = result["test"], result["data"]["test_majority_rate"]
    n = len(test["labels"])
    correct = round(test["accuracy"] * n)
    p = stats.above_chance(correct, n, majority)
    if p >= stats.ALPHA:
        where = "below" if test["accuracy"] < majority else "not significantly above"
        return (
            f"accuracy {test['accuracy']:.2%} is {where} the majority-class rate {majority:.2%} ({p_is(p, digits=2)})"
        )
    predicted = test["predicted_distribution"]
    share = max(predicted) / max(1, sum(predicted))
    if share >= COLLAPSE_SHARE:
        return f"{share:.0%} of test predictions are '{result['labels'][predicted.index(max(predicted))]}'"
    return None


def diverged(result: dict) -> bool:
    """A job whose training loss became non-finite: it learned nothing, and counts as a collapsed seed."""
    return result["status"] == Status.FAILED and bool(result.get("diverged"))


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
    """How many jobs overlapped this one on its device (measured once its run ended); its executor's slots until
    then (a run still going, or stopped)."""
    timing = result["timing"]
    return timing.get("overlapping_jobs", timing["concurrent_jobs"])


def _row(name: str, runs: list[dict], planned: int, ended: list[dict]) -> dict:
    """One player's summary over its completed seeds (``ended``: its jobs that did not complete)."""
    first = runs[0]
    acc, f1 = (stats.summary([r["test"][k] for r in runs]) for k in ("accuracy", "macro_f1"))
    collapsed = {r["seed"]: reason for r in runs if (reason := collapse_reason(r))}
    collapsed |= {u["seed"]: f"training diverged ({u['error']})" for u in ended if diverged(u)}
    failed = sum(u["status"] == Status.FAILED and not diverged(u) for u in ended)
    unfinished = sum(Status(u["status"]).unfinished for u in ended)
    gaps = [gap for r in runs if (gap := r["generalization"]["gap_at_best_epoch"]) is not None]
    return {
        "player": name,
        "model": first.get("model", {}).get("description") or first["player"]["model"]["kind"],
        "strategy": first["player"]["strategy"]["name"],
        "status": Status.COMPLETED,
        "hardware": " + ".join(sorted({hardware_key(r) for r in runs})),
        "threads": sorted({r.get("environment", {}).get("hardware", {}).get("threads") or 0 for r in runs}),
        "concurrent_jobs": sorted({jobs_at_once(r) for r in runs}),
        "seeds": [r["seed"] for r in runs],
        "data_seeds": [r["data_seed"] for r in runs],
        "seeds_planned": max(planned, len(runs) + len(ended)),
        "seeds_failed": failed,
        "seeds_unfinished": unfinished,
        "seeds_diverged": sum(map(diverged, ended)),
        "per_seed_test_accuracy": [r["test"]["accuracy"] for r in runs],
        "test_accuracy": acc["mean"],
        "test_accuracy_std": acc["std"],
        "test_accuracy_min": acc["min"],
        "test_accuracy_max": acc["max"],
        "binomial_se": (acc["mean"] * (1 - acc["mean"]) / len(first["test"]["labels"])) ** 0.5,
        "macro_f1": f1["mean"],
        "macro_f1_std": f1["std"],
        "macro_f1_min": f1["min"],
        "macro_f1_max": f1["max"],
        "train_seconds": statistics.median(r["timing"]["train_seconds"] for r in runs),
        "samples_per_second": statistics.median(r["timing"]["train_samples_per_second"] for r in runs),
        "trainable_parameters": first["parameters"]["trainable"],
        "total_parameters": first["parameters"]["total"],
        "peak_rss_bytes": max(r["memory"]["peak_rss_bytes"] for r in runs),
        "best_epoch": round(statistics.median(r["best_epoch"] for r in runs)),
        "best_epochs": [r["best_epoch"] for r in runs],
        "lowest_dev_loss_epochs": [r["generalization"]["lowest_dev_loss_epoch"] for r in runs],
        "generalization_gap": sum(gaps) / len(gaps) if gaps else None,
        "majority_rate": first["data"]["test_majority_rate"],
        "collapsed": bool(collapsed),
        "collapsed_seeds": sorted(collapsed),
        "collapse_reason": "; ".join(f"seed {s}: {why}" for s, why in sorted(collapsed.items())) or None,
        "fastest": False,
        "bonus": 0.0,
        "points": 100 * acc["mean"],
        "speed": None,
        "extra_eval": _extra(runs),
        "tuning": _sweep(first),
    }


def _sweep(result: dict) -> dict | None:
    """The rate a tuning sweep chose for the player (its seeds share it) and whether it is at the grid's edge; the
    same for its knob and second rate, where the sweep crossed them."""
    sweep = result.get("tuning")
    if not sweep:
        return None
    out = {
        "learning_rate": sweep["learning_rate"],
        "learning_rates": sweep["learning_rates"],
        "on_edge": sweep["on_edge"],
    }
    return {**out, **{k: sweep[k] for k in ("knob", "second_rate") if sweep.get(k)}}


def extra_matrix(runs: list[dict], name: str) -> np.ndarray | None:
    """seeds x sentences of extra test set ``name``, True where right; None unless every seed scored it, on the
    same sentences."""
    entries = [r.get("extra_eval", {}).get(name) for r in runs]
    if any(e is None for e in entries) or len({e["sha256"] for e in entries}) > 1:
        return None
    return np.array([np.asarray(e["predictions"]) == np.asarray(e["labels"]) for e in entries])


def _extra(runs: list[dict]) -> dict:
    """Per extra test set: mean, std and per-seed accuracy (its CI and verdict come with the family's)."""
    names = sorted({n for r in runs for n in r.get("extra_eval", {})})
    out = {}
    for name in names:
        accs = [r["extra_eval"][name]["accuracy"] for r in runs if name in r.get("extra_eval", {})]
        out[name] = {**stats.summary(accs), "per_seed": accs, "dataset": runs[0]["extra_eval"][name]["dataset"]}
        if extra_matrix(runs, name) is not None:
            out[name]["sha256"] = runs[0]["extra_eval"][name]["sha256"]
    return out


# --- the accuracy verdict ------------------------------------------------------------------------


def _order(rows: list[dict], mean=lambda r: r["test_accuracy"]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["collapsed"], -mean(r), r["player"]))


def _summary(rows: list[dict], matrices: list[np.ndarray]) -> family.Summary:
    """The family's view of these players: planned seeds, and only players that did not collapse lend spread."""
    return family.summarise(matrices, [r["seeds_planned"] for r in rows], [not r["collapsed"] for r in rows])


def _intervals(rows: list[dict], summary: family.Summary) -> None:
    """Each player's 95 % CI and where its run-to-run spread comes from (its own seeds, borrowed, or none)."""
    for k, (r, e) in enumerate(zip(rows, family.take(family.accuracies(summary)))):
        lo, hi = e.ci()
        r["test_accuracy_ci95"] = [max(0.0, lo), min(1.0, hi)]
        r["seed_variance_measured"] = bool(e.seeds_measured)
        r["seed_variance"] = "borrowed" if summary.borrowed[k] else "own" if summary.seeds[k] > 1 else "not measured"
        if summary.borrowed[k]:
            r["seed_variance_borrowed"] = {"std": float(np.sqrt(summary.pool_var[0])), "df": float(e.runs_df)}


def _extra_sets(rows: list[dict], by_player: dict[str, list[dict]]) -> dict[str, dict]:
    """Per extra test set: the players scored there with each sentence's prediction, in order, and their pairs
    (not yet corrected), or a note when they were scored on different versions of the set."""
    out: dict[str, dict] = {}
    for name in sorted({n for r in rows for n in r["extra_eval"]}):
        scored = [r for r in rows if "sha256" in r["extra_eval"].get(name, {})]
        if len({r["extra_eval"][name]["sha256"] for r in scored}) > 1:
            out[name] = {
                "players": [],
                "pairwise": [],
                "may_be_best": [],
                "note": "players were scored on different versions of this set: no paired verdict",
            }
            continue
        scored = _order(scored, lambda r, name=name: r["extra_eval"][name]["mean"])
        names = [r["player"] for r in scored]
        matrices = [extra_matrix(by_player[n], name) for n in names]
        summary = _summary(scored, [m for m in matrices if m is not None])  # all of them: each row has its sha256
        for r, e in zip(scored, family.take(family.accuracies(summary))):
            lo, hi = e.ci()
            r["extra_eval"][name]["ci95"] = [max(0.0, lo), min(1.0, hi)]
        out[name] = {
            "players": names,
            "pairwise": claims.pairs_of(names, summary) if len(names) > 1 else [],
            "_rows": scored,
        }
    return out


def _extra_best(sets: dict[str, dict]) -> None:
    """After the family's correction: who may be best on each extra set (a collapsed player never)."""
    for name, verdict in sets.items():
        scored = verdict.pop("_rows", [])
        healthy = [r["player"] for r in scored if not r["collapsed"]]
        behind = claims.ahead(healthy, verdict["pairwise"])
        verdict.setdefault("may_be_best", [n for n in healthy if behind[n] == 0])
        for r in scored:
            r["extra_eval"][name]["may_be_best"] = r["player"] in verdict["may_be_best"]


def _power(rows: list[dict], summary: family.Summary, comparisons: int, about: str) -> dict | None:
    """How much better than the others a player must be for the board's test to separate it (80 % power)."""
    keep = [k for k, r in enumerate(rows) if not r["collapsed"]]
    per_player = power.detectable(summary, keep, comparisons)
    if not per_player:
        return None
    for k, d in per_player.items():
        rows[k]["detectable_difference"] = d
    values, seeds = list(per_player.values()), [int(summary.seeds[k]) for k in keep]
    return {
        "detectable_difference": float(np.median(values)),
        "range": [min(values), max(values)],
        "players": len(values),
        "of": len(keep),
        "seeds": [min(seeds), max(seeds)],
        "sentences": summary.n,
        "comparisons": comparisons,
        "alpha": stats.ALPHA,
        "power": stats.POWER,
        "simulations": power.SIMULATIONS,
        "about": about,
        "seed_variance_measured": bool(summary.pool_df > 0),
    }


# --- the board -----------------------------------------------------------------------------------


def _game_ranks(rows: list[dict]) -> None:
    ordered = sorted(rows, key=lambda r: -r["points"])
    for i, r in enumerate(ordered):
        same = i and round(r["points"], 6) == round(ordered[i - 1]["points"], 6)
        r["game_rank"] = ordered[i - 1]["game_rank"] if same else i + 1


def _unranked(r: dict) -> dict:
    return {
        "player": r["player"]["name"],
        "seed": r["seed"],
        "data_seed": r["data_seed"],
        "model": r.get("model", {}).get("description") or r["player"]["model"]["kind"],
        "strategy": r["player"]["strategy"]["name"],
        "status": r["status"],
        "error": r["error"],
        "diverged": diverged(r),
    }


def build(
    results: list[dict],
    bonus: float = 10.0,
    speed_metric: str = "train_seconds",
    stale: Sequence[dict] = (),
    planned: dict[str, int] | None = None,
    margin: float = 0.0,
) -> dict:
    """The board: the accuracy verdict over every player, the game's score beside it, unfinished jobs listed.

    ``planned``: seeds the config asks of each player (to count missing ones); ``margin``: the equivalence
    margin in points (0: no equivalence test); ``speed_metric``: what the bonus compares (speed.job_time)."""
    by_player: dict[str, list[dict]] = {}
    ended: dict[str, list[dict]] = {}
    for r in results:
        (by_player if r["status"] == Status.COMPLETED else ended).setdefault(r["player"]["name"], []).append(r)
    rows = _order([_row(n, runs, (planned or {}).get(n, len(runs)), ended.get(n, [])) for n, runs in by_player.items()])
    about = MODELS if any(len(r["seeds"]) < 2 for r in rows) else STRATEGIES
    summary = _summary(rows, [stats.correctness(by_player[r["player"]]) for r in rows]) if rows else None
    pairs = claims.pairs_of([r["player"] for r in rows], summary, margin) if summary is not None else []
    if summary is not None:
        _intervals(rows, summary)
    sets = _extra_sets(rows, by_player)
    comparisons = claims.correct([pairs] + [v["pairwise"] for v in sets.values()])
    best = claims.rank(rows, pairs)
    _extra_best(sets)
    notes = speed.award(rows, by_player, bonus, speed_metric)
    _game_ranks(rows)
    return {
        "schema": "tuneoff.leaderboard/3",
        "about": about,
        "rules": {**rules(about), "fastest_bonus": bonus, "speed_metric": speed_metric, "equivalence_margin": margin},
        "ranked": rows,
        "may_be_best": best,
        "unranked": [_unranked(r) for rs in ended.values() for r in rs],
        "stale": list(stale),
        "notes": notes,
        "pairwise": pairs,
        "power": _power(rows, summary, comparisons, about) if summary is not None else None,
        "extra_eval": sets,
    }
