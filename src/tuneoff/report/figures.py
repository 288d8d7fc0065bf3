"""The report's charts: result dicts in, PNG bytes out.

Drawn on matplotlib's Agg canvas without pyplot (no global figure state, no GUI
backend) and without torch. The same input gives the same bytes: PNG metadata
carries no software version or timestamp.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DPI = 100
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")
MAJORITY = {"color": "#555555", "linestyle": "--", "linewidth": 1.2}
STYLE: dict[RcKeyType, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "tuneoff",
}


@dataclass(frozen=True)
class Look:
    color: str
    marker: str


@dataclass(frozen=True)
class Chart:
    name: str  # file name stem, safe for a path
    png: bytes
    alt: str
    caption: str


def looks(names: list[str]) -> dict[str, Look]:
    """One colour and marker per player, by player order, the same in every chart."""
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: Look(to_hex(cmap(i % cmap.N)), MARKERS[i % len(MARKERS)]) for i, n in enumerate(names)}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _draw(size: tuple[float, float], ncols: int, paint) -> bytes:
    with rc_context(STYLE):
        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(1, ncols)
        paint(fig, axes)
        return _png(fig)


def _majority(ax, rate: float, vertical: bool = False) -> None:
    label = f"majority-class rate (test) {rate:.1%}"
    (ax.axvline if vertical else ax.axhline)(rate, label=label, **MAJORITY)


def _heatmap(ax, values, text, labels, cmap, vmax) -> None:
    data = np.array(values, dtype=float)
    ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=0, vmax=vmax or 1, aspect="equal")
    ax.set_facecolor("#eeeeee")
    n = len(labels)
    size = 9 if n <= 6 else 7
    for i in range(n):
        for j in range(n):
            v = data[i, j]
            dark = v == v and v > 0.55 * (vmax or 1)
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=size, color="white" if dark else "black")
    ax.set_xticks(range(n), labels, rotation=30, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.grid(False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)


def confusion(result: dict, slug: str) -> Chart:
    """Test confusion matrix: counts, and each true class's row as shares of that class."""
    name = result["player"]["name"]
    labels = result["labels"]
    matrix = result["test"]["confusion_matrix"]
    totals = [sum(row) for row in matrix]
    shares = [[c / t if t else float("nan") for c in row] for row, t in zip(matrix, totals)]

    def paint(fig, axes):
        _heatmap(
            axes[0], matrix, [[str(c) for c in row] for row in matrix], labels, "Blues", max(max(row) for row in matrix)
        )
        axes[0].set_yticks(range(len(labels)), [f"{lab} (n={t})" for lab, t in zip(labels, totals)])
        axes[0].set_ylabel("true label")
        axes[0].set_title("counts")
        text = [["–" if s != s else f"{s:.0%}" for s in row] for row in shares]
        _heatmap(axes[1], shares, text, labels, "Purples", 1.0)
        axes[1].set_title("row-normalised (diagonal = recall)")

    png = _draw((10, 4.4), 2, paint)
    correct = sum(matrix[i][i] for i in range(len(matrix)))
    recalls = ", ".join(
        f"{lab} {s[i]:.0%}" if s[i] == s[i] else f"{lab} no examples" for i, (lab, s) in enumerate(zip(labels, shares))
    )
    alt = (
        f"{name}: test confusion matrix, {correct} of {sum(totals)} correct. Rows are true labels, columns "
        f"predicted: "
        + "; ".join(f"{lab}: {row}" for lab, row in zip(labels, matrix))
        + f". Recall per class: {recalls}."
    )
    caption = (
        f"{name}: test confusion matrix, counts (left) and each true class's row as shares of "
        "that class (right); grey rows have no test examples."
    )
    return Chart(f"{slug}-confusion", png, alt, caption)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both lower x and higher y, by increasing x."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def pareto(rows: list[dict], look: dict[str, Look]) -> Chart:
    """Accuracy against training time and against trainable parameters, with the Pareto front."""
    majority = rows[0]["majority_rate"]
    views = [("train_seconds", "training time (s)"), ("trainable_parameters", "trainable parameters")]
    healthy = [r for r in rows if not r["collapsed"]]  # a player that learned nothing is no trade-off

    def paint(fig, axes):
        for ax, (key, label) in zip(axes, views):
            _pareto_panel(ax, rows, healthy, look, key, label, majority)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)

    png = _draw((11, 4.4 + 0.25 * (len(rows) // 4)), 2, paint)
    caption = (
        "Pareto view: up and to the left is better. Grey halos mark the players no other player beats on "
        "both accuracy and cost (the Pareto front, joined by the grey staircase); hollow markers are "
        "collapsed players, left off the front."
    )
    return Chart("pareto", png, _pareto_alt(rows, healthy, [key for key, _ in views]), caption)


def _pareto_panel(
    ax, rows: list[dict], healthy: list[dict], look: dict[str, Look], key: str, label: str, majority: float
):
    """One panel: every job's accuracy against one cost, the healthy jobs' front as a grey staircase."""
    xs = [r[key] for r in rows]
    front = pareto_front([(r[key], r["test_accuracy"]) for r in healthy])
    if front:
        # The front as a staircase, carried on to the costliest player: everything below it is beaten.
        fx, fy = [p[0] for p in front] + [max(xs)], [p[1] for p in front] + [front[-1][1]]
        ax.step(fx, fy, where="post", color="#888888", linewidth=2.5, alpha=0.6, zorder=1, label="Pareto front")
        ax.scatter(fx[:-1], fy[:-1], s=260, color="#cccccc", zorder=2)
    for r in rows:
        lk = look[r["player"]]
        ax.scatter(
            [r[key]],
            [r["test_accuracy"]],
            s=70,
            marker=lk.marker,
            zorder=3,
            color="white" if r["collapsed"] else lk.color,
            edgecolors=lk.color,
            linewidths=1.8,
            label=r["player"] + (" (collapsed)" if r["collapsed"] else ""),
        )
    _majority(ax, majority)
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    else:
        ax.set_xlim(left=0, right=max(xs) * 1.15 or 1)
    top = max([majority] + [r["test_accuracy"] for r in rows])
    ax.set_ylim(0, min(1.0, top * 1.25 + 0.02))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(label + (", log scale" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel("test accuracy")
    ax.set_title(f"accuracy vs {label.split(' (')[0]}")


def _pareto_alt(rows: list[dict], healthy: list[dict], keys: list[str]) -> str:
    """The Pareto chart's alt text: every job's numbers and who is on each front."""
    fronts = {
        key: [
            r["player"]
            for r in healthy
            if (r[key], r["test_accuracy"]) in pareto_front([(q[key], q["test_accuracy"]) for q in healthy])
        ]
        or ["none"]
        for key in keys
    }
    return (
        "Scatter plots of test accuracy against training time and against trainable parameters: "
        + "; ".join(
            f"{r['player']} {r['test_accuracy']:.1%} in {r['train_seconds']:.3g} s with "
            f"{r['trainable_parameters']:,} trainable parameters"
            for r in rows
        )
        + f". Pareto front by time: {', '.join(fronts['train_seconds'])}; by parameters: "
        + f"{', '.join(fronts['trainable_parameters'])}."
    )
