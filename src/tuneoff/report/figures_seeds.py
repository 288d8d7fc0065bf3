"""The report's charts over seeds: accuracies with their CI, curves with a band, the gap, the pairwise matrix.

Same conventions as :mod:`tuneoff.figures` (Agg canvas, no pyplot, byte-stable PNGs,
one colour and marker per player). The band around a mean curve spans the seeds'
minimum to maximum; with one seed there is no band.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator, PercentFormatter

from tuneoff.report.figures import Chart, Look, _draw, _heatmap, _majority
from tuneoff.verdict.format import accuracy_ci, p_is


def _series(runs: list[dict], key: str) -> np.ndarray:
    """seeds x epochs of one per-epoch value (cut to the shortest history)."""
    rows = [[e.get(key) for e in r["history"]["epochs"]] for r in runs]
    n = min(len(r) for r in rows)
    return np.array([[np.nan if v is None else v for v in r[:n]] for r in rows], dtype=float)


def _band(ax, values: np.ndarray, color: str, label: str, **line) -> None:
    x = np.arange(1, values.shape[1] + 1)
    ax.plot(x, np.nanmean(values, axis=0), color=color, label=label, **line)
    if values.shape[0] > 1:
        ax.fill_between(x, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=color, alpha=0.18, linewidth=0)


def seed_strip(rows: list[dict], look: dict[str, Look]) -> Chart:
    """Each ranked player's per-seed test accuracies (dots), mean (bar) and 95 % CI (whisker)."""
    rows = list(reversed(rows))
    majority = rows[0]["majority_rate"]

    def paint(fig, ax):
        for i, r in enumerate(rows):
            lk, (lo, hi) = look[r["player"]], r["test_accuracy_ci95"]
            accs = r["per_seed_test_accuracy"]
            jitter = np.linspace(-0.18, 0.18, len(accs)) if len(accs) > 1 else [0.0]
            ax.hlines(i, lo, hi, color=lk.color, linewidth=2.2, alpha=0.8)
            ax.vlines(r["test_accuracy"], i - 0.28, i + 0.28, color="black", linewidth=2)
            ax.scatter(
                accs,
                i + np.asarray(jitter),
                s=34,
                marker=lk.marker,
                zorder=3,
                color="white" if r["collapsed"] else lk.color,
                edgecolors=lk.color,
                linewidths=1.4,
            )
        ax.set_yticks(
            range(len(rows)),
            [f"#{r['rank'] or '–'} {r['player']}" + (" (may be best)" if r["may_be_best"] else "") for r in rows],
        )
        ax.grid(axis="y", visible=False)
        _majority(ax, majority, vertical=True)
        lows = [min(r["test_accuracy_ci95"][0], *r["per_seed_test_accuracy"]) for r in rows] + [majority]
        highs = [max(r["test_accuracy_ci95"][1], *r["per_seed_test_accuracy"]) for r in rows]
        pad = max(0.01, (max(highs) - min(lows)) * 0.08)
        ax.set_xlim(max(0.0, min(lows) - pad), min(1.0, max(highs) + pad))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        ax.set_xlabel("test accuracy")
        fig.legend(loc="outside lower center", frameon=False)

    png = _draw((8, 1.7 + 0.5 * len(rows)), 1, paint)
    alt = (
        "Test accuracy per seed for every ranked player, with the mean and 95 % CI: "
        + "; ".join(
            f"{r['player']} seeds "
            + ", ".join(f"{a:.2%}" for a in r["per_seed_test_accuracy"])
            + f", mean {r['test_accuracy']:.2%}, CI {accuracy_ci(*r['test_accuracy_ci95'])}"
            for r in reversed(rows)
        )
        + f". Dashed line: majority-class rate {majority:.2%}."
    )
    return Chart(
        "accuracy",
        png,
        alt,
        "Test accuracy of every seed (dots), the mean over seeds (black bar) and its "
        "95 % confidence interval over seeds and test sentences (coloured whisker); hollow dots are "
        "collapsed players; the dashed line is always answering the largest test class.",
    )


def player_band_curves(runs: list[dict], look: Look, slug: str) -> Chart:
    """One player over its seeds: losses and accuracies per epoch, mean with a min-max band."""
    name, majority = runs[0]["player"]["name"], runs[0]["data"]["test_majority_rate"]
    dev_acc, probe = _series(runs, "dev_accuracy"), _series(runs, "train_eval_accuracy")

    def paint(fig, axes):
        _band(axes[0], _series(runs, "train_loss"), look.color, "train loss (epoch mean)", marker="o")
        _band(axes[0], _series(runs, "dev_loss"), "black", "dev loss", linestyle="--", marker="s")
        axes[0].set_ylabel("cross-entropy loss")
        axes[0].set_title("training vs validation loss")
        if not np.isnan(probe).all():
            _band(axes[1], probe, look.color, "train accuracy (probe)", linestyle=":", marker="^")
        _band(axes[1], dev_acc, look.color, "dev accuracy", marker=look.marker)
        for r in runs:
            kept = r["history"]["epochs"][r["best_epoch"] - 1]
            axes[1].plot(
                [r["best_epoch"]],
                [kept["dev_accuracy"]],
                marker="*",
                markersize=13,
                color=look.color,
                markeredgecolor="black",
                linestyle="none",
            )
        _majority(axes[1], majority)
        axes[1].yaxis.set_major_formatter(PercentFormatter(1.0))
        axes[1].set_title("accuracy per epoch (stars: kept epochs)")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(loc="best", fontsize=8)

    png = _draw((10, 3.6), 2, paint)
    mean = np.nanmean(dev_acc, axis=0)
    alt = (
        f"{name}: loss and accuracy per epoch over {dev_acc.shape[1]} epochs and {len(runs)} seeds. "
        f"Mean dev accuracy per epoch {', '.join(f'{v:.1%}' for v in mean)}; kept epochs "
        f"{', '.join(str(r['best_epoch']) for r in runs)}; majority-class rate {majority:.1%}."
    )
    caption = (
        f"{name}: left, train and dev loss; right, accuracy on dev and on a fixed sample of training "
        "sentences the size of dev. Lines are means over seeds; shaded bands span the seeds' range."
    )
    return Chart(f"{slug}-curves", png, alt, caption)


def overlays(by_player: dict[str, list[dict]], look: dict[str, Look]) -> Chart:
    """Dev loss and the generalisation gap per epoch, every player, mean over seeds with a band."""

    def paint(fig, axes):
        for name, runs in by_player.items():
            lk = look[name]
            _band(axes[0], _series(runs, "dev_loss"), lk.color, name, marker=lk.marker)
            gap = _series(runs, "generalization_gap")
            if not np.isnan(gap).all():
                _band(axes[1], gap, lk.color, name, marker=lk.marker)
        axes[0].set_ylabel("dev cross-entropy loss")
        axes[0].set_title("dev loss per epoch")
        axes[1].axhline(0, color="#555555", linewidth=1)
        axes[1].yaxis.set_major_formatter(PercentFormatter(1.0))
        axes[1].set_title("generalisation gap: train minus dev accuracy")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), frameon=False)

    png = _draw((11, 4.2), 2, paint)
    parts = []
    for name, runs in by_player.items():
        loss = np.nanmean(_series(runs, "dev_loss"), axis=0)
        gap = np.nanmean(_series(runs, "generalization_gap"), axis=0)
        parts.append(
            f"{name} dev loss {loss[0]:.3f} to {loss[-1]:.3f}, gap "
            + ("not measured" if np.isnan(gap).all() else f"{gap[0]:+.1%} to {gap[-1]:+.1%}")
        )
    return Chart(
        "overlays",
        png,
        "Dev loss and generalisation gap per epoch, means over seeds: " + "; ".join(parts) + ".",
        "Left: dev loss per epoch; a rising curve is overfitting. Right: accuracy on training "
        "sentences minus accuracy on dev. Lines are means over seeds; bands span the seeds' range.",
    )


SIGNIFICANCE_CAP = 4.0  # -log10 of the Holm-adjusted p: p = 0.0001 or less is the darkest shade


def significance(p_holm: float) -> float:
    """A pair's shade in the pairwise matrix: -log10 of its Holm-adjusted p, 0 (p = 1) to SIGNIFICANCE_CAP."""
    return float(min(SIGNIFICANCE_CAP, -np.log10(max(p_holm, 10**-SIGNIFICANCE_CAP))))


def pairwise_matrix(pairs: list[dict], names: list[str]) -> Chart:
    """Row minus column, in points of accuracy, with the Holm-corrected p-value of each pair; each cell shaded by
    how significant the pair is (-log10 p), so a large gap the test cannot trust stays pale."""
    n = len(names)
    shade, text = np.full((n, n), np.nan), [["" for _ in names] for _ in names]
    for p in pairs:
        i, j = names.index(p["a"]), names.index(p["b"])
        strength = significance(p["p_holm"])
        for a, b, sign in ((i, j, 1), (j, i, -1)):
            shade[a, b] = strength
            star = "*" if p["separable"] else ""
            text[a][b] = f"{sign * p['diff']:+.1f}{star}\n{p_is(p['p_holm'], digits=2)}"

    def paint(fig, ax):
        _heatmap(ax, shade, text, names, "Greens", SIGNIFICANCE_CAP)
        ax.set_xlabel("compared with")
        ax.set_ylabel("player")

    png = _draw((2.2 + 1.3 * n, 1.6 + 1.1 * n), 1, paint)
    alt = (
        "Pairwise accuracy differences in points with Holm-corrected p-values: "
        + "; ".join(f"{p['a']} minus {p['b']} {p['diff']:+.2f} ({p_is(p['p_holm'])})" for p in pairs)
        + "."
    )
    return Chart(
        "pairwise",
        png,
        alt,
        "Each cell: the row player's accuracy minus the column player's, in points, "
        "and the Holm-corrected p-value of the paired test; * marks p < 0.05. Shading is significance, not "
        "size: the darker the cell, the smaller its p (white: p = 1; darkest: p ≤ 0.0001).",
    )


def _mean_steps(runs: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, mean, min-max band) of the recorded training loss over seeds that share their steps; else None."""
    series = [r["history"].get("steps") or [] for r in runs]
    steps = [s for s, _ in series[0]]
    if not steps or any([s for s, _ in other] != steps for other in series[1:]):
        return None
    values = np.array([[v for _, v in one] for one in series], dtype=float)
    return np.array(steps), values.mean(axis=0), np.vstack([values.min(axis=0), values.max(axis=0)])


def step_losses(by_player: dict[str, list[dict]], look: dict[str, Look]) -> Chart:
    """The training loss at every recorded optimizer step, every player: mean over seeds with a min-max band
    (seeds that did not record the same steps are drawn one by one)."""

    def paint(fig, ax):
        for name, runs in by_player.items():
            lk, mean = look[name], _mean_steps(runs)
            if mean is not None:
                steps, values, band = mean
                ax.plot(steps, values, color=lk.color, label=name, linewidth=1.6)
                if len(runs) > 1:
                    ax.fill_between(steps, band[0], band[1], color=lk.color, alpha=0.18, linewidth=0)
                continue
            for i, r in enumerate(runs):
                points = np.array(r["history"].get("steps") or [[0, np.nan]], dtype=float)
                ax.plot(points[:, 0], points[:, 1], color=lk.color, linewidth=1.1, label=name if i == 0 else None)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss (mean since the previous record)")
        ax.set_title("training loss per step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), frameon=False)

    png = _draw((11, 4.2 + 0.25 * (len(by_player) // 5)), 1, paint)
    parts = [
        f"{name} from {r['history']['steps'][0][1]:.3f} at step {r['history']['steps'][0][0]} to "
        f"{r['history']['steps'][-1][1]:.3f} at step {r['history']['steps'][-1][0]}"
        for name, runs in by_player.items()
        for r in runs[:1]
        if r["history"].get("steps")
    ]
    return Chart(
        "step-losses",
        png,
        "Training loss per optimizer step, first seed of each player: " + "; ".join(parts) + ".",
        "Training loss at every recorded optimizer step (the mean since the previous record), one "
        "colour per player; lines are means over seeds and bands span the seeds' range.",
    )


def tuning_curves(sweeps: dict[str, dict], look: dict[str, Look]) -> Chart:
    """Each player's mean best dev accuracy at every learning rate of the sweep (the best over its other axes),
    the chosen rate starred."""

    def paint(fig, ax):
        for name, sweep in sweeps.items():
            lk = look[name]
            ax.plot(sweep["learning_rates"], sweep["dev_accuracy"], color=lk.color, marker=lk.marker, label=name)
            best = sweep["learning_rates"].index(sweep["learning_rate"])
            ax.plot(
                [sweep["learning_rate"]],
                [sweep["dev_accuracy"][best]],
                marker="*",
                markersize=15,
                color=lk.color,
                markeredgecolor="black",
                linestyle="none",
            )
        ax.set_xscale("log")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("learning rate, log scale")
        ax.set_ylabel("best dev accuracy")
        ax.set_title("the tuning sweep (dev only; stars: the rate each player kept)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))

    png = _draw((9, 3.8), 1, paint)
    alt = (
        "Best dev accuracy per learning rate: "
        + "; ".join(
            f"{n} "
            + ", ".join(f"{r:g}: {a:.1%}" for r, a in zip(s["learning_rates"], s["dev_accuracy"]))
            + f" (kept {s['learning_rate']:g})"
            for n, s in sweeps.items()
        )
        + "."
    )
    return Chart(
        "tuning",
        png,
        alt,
        "Every player tried the same number of points per tuning seed: rates log-spaced "
        "around its strategy's published rate, crossed with its knob (and second rate) where it has them, "
        "each trial with the finals' epochs unless tuning.epochs said otherwise; it kept the point with the "
        "best mean dev accuracy over the tuning seeds. Each curve: at every rate, the best mean over the "
        "other axes. The test split was not read while tuning. A star at either end of a curve: the best "
        "rate may lie beyond the grid.",
    )
