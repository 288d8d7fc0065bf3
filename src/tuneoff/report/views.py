"""The report's interactive view: Vega-Lite specs (through Altair) of every ranked job. HTML only; no torch.

Three charts over the same jobs: the per-seed accuracies, accuracy against cost (time and
trainable parameters), and the loss curves of one player picked from a dropdown. Hovering a
point shows its job. The leaderboard's filter (``report/table.js``) sets the ``f_player``,
``f_strategy`` and ``f_dataset`` params of the first two, so filtering the table filters them too.
Every param is named here: Altair numbers unnamed ones per process, and the same results must
give the same file.
"""

from __future__ import annotations

import altair as alt

from tuneoff.report.figures import Look
from tuneoff.store.runfolder import seed_label

FILTERS = ("player", "strategy", "dataset")  # the leaderboard's filter sets f_<key>; "" shows all
KEEP = " && ".join(f"(f_{k} == '' || datum.{k} == f_{k})" for k in FILTERS)
TOOLTIP = [
    alt.Tooltip("player:N"),
    alt.Tooltip("strategy:N"),
    alt.Tooltip("dataset:N", title="data set"),
    alt.Tooltip("job:N"),
    alt.Tooltip("accuracy:Q", title="test accuracy", format=".2%"),
    alt.Tooltip("seconds:Q", title="training time (s)", format=".1f"),
    alt.Tooltip("trainable:Q", title="trainable parameters", format=","),
]


def dataset(result: dict) -> str:
    d = result["data"]
    return d.get("name") or d["source"]


def jobs(ranked: list[dict], completed) -> list[dict]:
    """One record per completed job of a ranked player, in rank order; completed(name) gives its results."""
    return [
        {
            "player": r["player"],
            "strategy": r["strategy"],
            "dataset": dataset(x),
            "job": seed_label(x["seed"], x["data_seed"]),
            "accuracy": x["test"]["accuracy"],
            "seconds": x["timing"]["train_seconds"],
            "trainable": x["parameters"]["trainable"],
            "collapsed": r["collapsed"],
        }
        for r in ranked
        for x in completed(r["player"])
    ]


def curves(names: list[str], completed) -> list[dict]:
    """Train and dev loss per epoch of every completed job (long form: one record per point)."""
    return [
        {"player": n, "job": seed_label(x["seed"], x["data_seed"]), "epoch": e["epoch"], "loss": kind, "value": e[key]}
        for n in names
        for x in completed(n)
        for e in x["history"]["epochs"]
        for kind, key in (("train", "train_loss"), ("dev", "dev_loss"))
        if e.get(key) is not None
    ]


def _colour(look: dict[str, Look], names: list[str], legend: bool = False) -> alt.Color:
    """The players' colours (as the PNG charts'); ``legend``: name them beside the chart."""
    return alt.Color(
        "player:N",
        scale=alt.Scale(domain=names, range=[look[n].color for n in names]),
        legend=alt.Legend(title="player", orient="bottom", columns=4) if legend else None,
    )


def _filters() -> list:
    return [alt.param(name=f"f_{k}", value="") for k in FILTERS]


def _points(data: list[dict], look: dict[str, Look], names: list[str], x: alt.X, y, legend: bool = False) -> alt.Chart:
    colour = _colour(look, names, legend)
    return (
        alt.Chart(alt.Data(values=data))
        .transform_filter(KEEP)
        .mark_point(size=70, strokeWidth=2)
        .encode(
            x=x, y=y, color=colour, fill=alt.condition("datum.collapsed", alt.value("white"), colour), tooltip=TOOLTIP
        )
    )


def _scale(values: list[float]) -> alt.Scale:
    wide = min(values) > 0 and max(values) / min(values) > 20  # as the PNG: log when the costs span decades
    return alt.Scale(type="log", padding=12) if wide else alt.Scale(zero=True, padding=12)


def strip(data: list[dict], look: dict[str, Look]) -> dict:
    """Each job's test accuracy, one row per player in rank order; hollow: collapsed."""
    names = list(dict.fromkeys(d["player"] for d in data))
    x = alt.X("accuracy:Q", title="test accuracy", axis=alt.Axis(format=".1%"), scale=alt.Scale(zero=False, padding=12))
    chart = _points(data, look, names, x, alt.Y("player:N", sort=names, title=None))
    return chart.add_params(*_filters()).properties(width=620, height=alt.Step(26)).to_dict()


def pareto(data: list[dict], look: dict[str, Look]) -> dict:
    """Accuracy against training time and against trainable parameters, one point per job."""
    names = list(dict.fromkeys(d["player"] for d in data))
    y = alt.Y("accuracy:Q", title="test accuracy", axis=alt.Axis(format=".0%"), scale=alt.Scale(zero=False, padding=12))
    panels = [
        _points(
            data, look, names, alt.X(f"{key}:Q", title=title, scale=_scale([d[key] for d in data])), y, legend=True
        ).properties(width=380, height=300, title=f"accuracy vs {title.split(' (')[0]}")
        for key, title in (("seconds", "training time (s)"), ("trainable", "trainable parameters"))
    ]
    return alt.hconcat(*panels).add_params(*_filters()).to_dict()


def loss_curves(data: list[dict], first: str) -> dict:
    """The train and dev loss of one player's jobs per epoch; a dropdown picks the player."""
    names = list(dict.fromkeys(d["player"] for d in data))
    pick = alt.param(name="curve_player", value=first, bind=alt.binding_select(options=names, name="loss curves of "))
    chart = (
        alt.Chart(alt.Data(values=data))
        .transform_filter("datum.player == curve_player")
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:O", title="epoch"),
            y=alt.Y("value:Q", title="cross-entropy loss", scale=alt.Scale(zero=False)),
            color=alt.Color("job:N", title="job"),
            strokeDash=alt.StrokeDash("loss:N", title="loss", sort=["train", "dev"]),
            tooltip=[
                alt.Tooltip("player:N"),
                alt.Tooltip("job:N"),
                alt.Tooltip("epoch:O"),
                alt.Tooltip("loss:N"),
                alt.Tooltip("value:Q", title="loss value", format=".4f"),
            ],
        )
    )
    return chart.add_params(pick).properties(width=620, height=280).to_dict()
