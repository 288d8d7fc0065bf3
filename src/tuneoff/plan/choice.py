"""The sweep's choice: the point (rate, knob value, second rate) with the best mean dev accuracy over the
tuning seeds, with an edge flag per axis. No torch here."""

from __future__ import annotations

from tuneoff.plan.grid import on_edge

METRIC = "best dev accuracy, mean over tuning seeds"
OTHER_AXES = ("second_rate", "knob")


def _value(trial: dict, kind: str):
    axis = trial.get(kind)
    return None if axis is None else axis["value"]


def _point(trial: dict) -> tuple:
    return (trial["learning_rate"], *(_value(trial, k) for k in OTHER_AXES))


def choose(trials: list[dict]) -> dict:
    """The sweep's summary from its completed trial records.

    Each point's score is the mean of its trials' best-epoch dev accuracy over the tuning seeds; the kept point
    is the best (ties: the smaller rate, then the smaller second rate, then the smaller knob value). Recorded:
    the kept rate (``learning_rate``) with the rate axis (``learning_rates``), the best mean dev accuracy at
    each rate over the other axes (``dev_accuracy``, the curve the report plots) and the rate's edge flag
    (``on_edge``: "low", "high" or None); for a knob and a second rate, the same per axis (``knob``,
    ``second_rate``: field, kept value, values, on_edge); every point with its mean and per-seed accuracies
    (``points``); the seeds and the number of trials."""
    scores: dict[tuple, list[float]] = {}
    for t in trials:
        scores.setdefault(_point(t), []).append(t["best_dev_accuracy"])
    mean = {point: sum(s) / len(s) for point, s in scores.items()}
    best = max(mean, key=lambda point: (mean[point], *(-v for v in point if v is not None)))
    rates = sorted({point[0] for point in mean})
    out = {
        "learning_rate": best[0],
        "learning_rates": rates,
        "dev_accuracy": [max(m for point, m in mean.items() if point[0] == r) for r in rates],
        "trials": len(trials),
        "metric": METRIC,
        "on_edge": on_edge(best[0], rates),
        "seeds": sorted({t["seed"] for t in trials if "seed" in t}),
    }
    for i, kind in enumerate(OTHER_AXES, start=1):
        if best[i] is None:
            continue
        field = next(t[kind]["field"] for t in trials if t.get(kind))
        values = sorted({point[i] for point in mean})
        out[kind] = {"field": field, "value": best[i], "values": values, "on_edge": on_edge(best[i], values)}
    out["points"] = [
        {
            "learning_rate": point[0],
            **{k: point[i] for i, k in enumerate(OTHER_AXES, start=1) if point[i] is not None},
            "dev_accuracy": mean[point],
            "dev_accuracies": scores[point],
        }
        for point in sorted(mean, key=_key)
    ]
    return out


def _key(point: tuple) -> tuple:
    return tuple((v is None, v if v is not None else 0) for v in point)
