"""Players of two runs compared on the same test sentences, with the leaderboard's statistics.

``tuneoff compare RUN_A[:PLAYER] RUN_B[:PLAYER]``: each side's completed seeds are the ones its
board ranks (stale and foreign results left out); their difference is :func:`stats.difference`,
the board's seed-aware t test, and with several players compared at once their p-values are
Holm-adjusted together. Two runs that scored different test sentences cannot be paired, and are
refused. No torch here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table

from tuneoff.console import esc
from tuneoff.store.runfolder import RunFolder, RunFolderError
from tuneoff.verdict import stats
from tuneoff.verdict.board import Run, read_run
from tuneoff.verdict.collapse import collapsed_seeds, side_note
from tuneoff.verdict.format import accuracy, difference, inseparable, p_value, words

SCHEMA = "tuneoff.compare/2"  # /2: accuracies in points (were fractions), collapse, config differences


@dataclass(frozen=True)
class Side:
    """One argument: a run folder, and the player named after its last ':' (None: every shared player)."""

    run: Path
    player: str | None

    @classmethod
    def parse(cls, text: str) -> Side:
        path = Path(text)
        if path.is_dir() or ":" not in text:
            return cls(path, None)
        run, _, player = text.rpartition(":")
        return cls(Path(run), player or None)


def _pairs(a: Side, b: Side, run_a: Run, run_b: Run) -> list[tuple[str, str]]:
    """Which players to compare: the named pair; one name on one side, the same name on the other; else every
    player that has completed seeds in both runs under the same name."""
    if named := a.player or b.player:
        pairs = [(a.player or named, b.player or named)]
    else:
        pairs = [(n, n) for n in run_a.names if run_a.completed(n) and run_b.completed(n)]
        if not pairs:
            raise RunFolderError(
                f"{a.run} and {b.run}: no player with completed seeds in both runs under the same "
                f"name (A: {_done(run_a)}, B: {_done(run_b)}); name them: RUN_A:PLAYER RUN_B:PLAYER"
            )
    for side, run, name in ((a, run_a, pairs[0][0]), (b, run_b, pairs[0][1])):
        if not run.completed(name):
            raise RunFolderError(
                f"{side.run}: no completed seed of player {name!r}; players with completed seeds: {_done(run)}"
            )
    return pairs


def _done(run: Run) -> list[str]:
    return [n for n in run.names if run.completed(n)]


def _test_set(result: dict) -> tuple:
    """What makes two results' test sentences the same: the labels in order, and where recorded, the test
    split's content fingerprint and which of its sentences were scored."""
    data = result.get("data", {})
    return (data.get("sha256", {}).get("test"), data.get("test_sample")), result["test"]["labels"]


def _check_same_sentences(sides: list[tuple[str, list[dict]]]) -> None:
    (first_where, first), *_ = sides
    reference = _test_set(first[0])
    for where, results in sides:
        for r in results:
            (sha, sample), labels = _test_set(r)
            if labels != reference[1]:
                why = (
                    f"{len(labels)} test labels, not {len(reference[1])}"
                    if len(labels) != len(reference[1])
                    else "the same number of test sentences but other labels"
                )
            elif sha and reference[0][0] and (sha, sample) != reference[0]:
                why = f"test split fingerprint {sha[:12]}… ({sample}), not {reference[0][0][:12]}… ({reference[0][1]})"
            else:
                continue
            raise RunFolderError(
                f"{where} seed {r['seed']} scored other test sentences than {first_where}: {why}; "
                "a paired comparison needs the same test sentences in the same order"
            )


def _side(run: Run, name: str) -> dict:
    """One side's player: its seeds, accuracy with its CI and per seed (in points), and its collapsed seeds."""
    done = run.completed(name)
    matrix = stats.correctness(done)
    estimate = stats.accuracy(matrix)
    lo, hi = estimate.ci()
    planned = max(len(run.expected.get(name, [])), len(run.jobs.get(name, [])), len(done))
    return {
        "run": str(run.folder),
        "player": name,
        "seeds": [r["seed"] for r in done],
        "seeds_planned": planned,
        "accuracy": 100 * estimate.mean,
        "accuracy_ci95": [100 * max(0.0, lo), 100 * min(1.0, hi)],
        "per_seed_accuracy": [100 * float(x) for x in matrix.mean(axis=1)],
        "collapsed_seeds": {str(s): why for s, why in collapsed_seeds(done).items()},
    }


def _flat(value, prefix: str = "") -> dict:
    """A nested config table as {"protocol.epochs": 3, ...}; arrays stay whole."""
    if not isinstance(value, dict):
        return {prefix.rstrip("."): value}
    out = {}
    for key, item in value.items():
        out.update(_flat(item, f"{prefix}{key}."))
    return out


def settings(run: Run, name: str) -> dict:
    """What a player of a run trained under, flat: the tournament's seeds, data, extra sets and tuning, its
    protocol with its own overrides applied, its model and its strategy (names and descriptions left out)."""
    config = run.config or {}
    player: dict = next((p for p in config.get("players", []) if p.get("name") == name), {})
    rules = {k: v for k, v in (config.get("tournament") or {}).items() if k in ("seeds", "data_seeds")}
    return {
        **_flat(rules, "tournament."),
        **_flat(config.get("data") or {}, "data."),
        "eval": config.get("eval") or [],
        **_flat(config.get("tuning") or {}, "tuning."),
        **_flat({**(config.get("protocol") or {}), **(player.get("protocol") or {})}, "protocol."),
        **_flat(player.get("model") or {}, "model."),
        **_flat(player.get("strategy") or {}, "strategy."),
    }


def config_differences(run_a: Run, x: str, run_b: Run, y: str) -> list[dict]:
    """Every setting that differs between the two players' runs: {"key", "a", "b"} (absent: None)."""
    a, b = settings(run_a, x), settings(run_b, y)
    return [{"key": k, "a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def verdict(p_holm: float, diff: float) -> str:
    """As the board words it: a winner only when the (Holm-adjusted) test separates them."""
    if p_holm >= stats.ALPHA:
        return "cannot be separated"
    return "A is better" if diff > 0 else "B is better"


def compare(a: Side, b: Side) -> dict:
    """The comparison as a JSON-able document: accuracies, their CIs and the differences all in percentage
    points; each side's collapsed seeds; and what differs between the two players' settings."""
    run_a, run_b = read_run(RunFolder(a.run)), read_run(RunFolder(b.run))
    pairs = _pairs(a, b, run_a, run_b)
    _check_same_sentences(
        [(f"{a.run}:{x}", run_a.completed(x)) for x, _ in pairs]
        + [(f"{b.run}:{y}", run_b.completed(y)) for _, y in pairs]
    )
    tests, out = [], []
    for x, y in pairs:
        ca, cb = stats.correctness(run_a.completed(x)), stats.correctness(run_b.completed(y))
        tests.append((stats.difference(ca, cb), ca, cb))
    ps = [t.p() for t, _, _ in tests]
    for (x, y), (t, ca, cb), p, p_holm in zip(pairs, tests, ps, stats.holm(ps)):
        lo, hi = t.ci()
        out.append(
            {
                "a": _side(run_a, x),
                "b": _side(run_b, y),
                "diff": 100 * t.mean,
                "ci95": [100 * lo, 100 * hi],
                "p": p,
                "p_holm": p_holm,
                "separable": p_holm < stats.ALPHA,
                "verdict": verdict(p_holm, float(t.mean)),
                "sentences": int(ca.shape[1]),
                "sentences_a_better": int(np.sum(ca.mean(0) > cb.mean(0))),
                "sentences_b_better": int(np.sum(ca.mean(0) < cb.mean(0))),
                "test": "t test over seeds and sentences"
                if t.seeds_measured
                else "t test over sentences (one seed on a side: the trained models are compared)",
                "config_differences": config_differences(run_a, x, run_b, y),
            }
        )
    about = "trained models" if any(len(c[s]["seeds"]) < 2 for c in out for s in ("a", "b")) else "strategies"
    return {
        "schema": SCHEMA,
        "unit": "percentage points",
        "a": str(a.run),
        "b": str(b.run),
        "alpha": stats.ALPHA,
        "about": about,
        "holm_over": len(out),
        "comparisons": out,
        "left_out": left_out(a, run_a, {x for x, _ in pairs}) + left_out(b, run_b, {y for _, y in pairs}),
    }


def left_out(side: Side, run: Run, names: set[str]) -> list[str]:
    """The compared players' seeds a side's board does not rank, and why: a damaged results file, or stale."""
    damaged = [
        f"{side.run}: {where}: left out, its results file is damaged ({why})"
        for where, why in run.problems.items()
        if where.split("/")[0] in names
    ]
    return damaged + [
        f"{side.run}: {s['player']} seed {s['seed']}: left out, stale ({s['reason']})"
        for s in run.stale
        if s["player"] in names
    ]


def _seeds(side: dict) -> str:
    done = len(side["seeds"])
    return f"{done}" if done == side["seeds_planned"] else f"{done} of {side['seeds_planned']}"


def _accuracy(side: dict) -> str:
    """The side's accuracy with its 95 % CI (the document holds points; shown as the board shows accuracies)."""
    collapsed = " COLLAPSED" if side["collapsed_seeds"] else ""
    return accuracy(side["accuracy"] / 100, ci=[x / 100 for x in side["accuracy_ci95"]]) + collapsed


def table(document: dict) -> Table:
    """One row per comparison; the p column is Holm-adjusted when several players are compared at once."""
    many = document["holm_over"] > 1
    out = Table(title=f"A = {esc(document['a'])}\nB = {esc(document['b'])}", title_justify="left")
    headers = [
        "player",
        "seeds A",
        "accuracy A (95 % CI)",
        "seeds B",
        "accuracy B (95 % CI)",
        f"A − B, points [{'unadjusted ' if many else ''}95 % CI]",
        "p",
        *(["p (Holm)"] if many else []),
        "verdict",
    ]
    for header in headers:
        out.add_column(esc(header), no_wrap=True, justify="left" if header in ("player", "verdict") else "right")
    for c in document["comparisons"]:
        a, b = c["a"], c["b"]
        name = a["player"] if a["player"] == b["player"] else f"{a['player']} / {b['player']}"
        out.add_row(
            esc(name),
            _seeds(a),
            _accuracy(a),
            _seeds(b),
            _accuracy(b),
            difference(c["diff"], c["ci95"]),
            p_value(c["p"]),
            *([p_value(c["p_holm"])] if many else []),
            c["verdict"],
            style="bold" if c["separable"] else "",
        )
    return out


def notes(document: dict) -> list[str]:
    """The sentences under the table: how many sentences, which test, and what 'cannot be separated' means."""
    out = [f"warning: {line}" for line in document.get("left_out", [])]
    for c in document["comparisons"]:
        out.append(
            f"{c['a']['player']} vs {c['b']['player']}: {c['sentences']} test sentences, {c['test']}; "
            f"{c['sentences_a_better']} sentences A gets right more often, {c['sentences_b_better']} B"
        )
    for c in document["comparisons"]:
        for where in ("a", "b"):
            side = c[where]
            if side["collapsed_seeds"]:
                seeds = {int(s): why for s, why in side["collapsed_seeds"].items()}
                out.append(side_note(where.upper() + "'s", side["player"], seeds, len(side["seeds"])))
    out += _difference_lines(document)
    if document["holm_over"] > 1:
        out.append(f"p is Holm-adjusted over the {document['holm_over']} comparisons")
    if any(not c["separable"] for c in document["comparisons"]):
        out.append(
            f"where the verdict is 'cannot be separated', the two {words(document)['who']}s {inseparable(document)}"
        )
    return out


def _value(value) -> str:
    return "(absent)" if value is None else json.dumps(value) if isinstance(value, (list, dict, str)) else str(value)


def _difference_lines(document: dict) -> list[str]:
    """What differs between the two runs' settings: once when every comparison shares it, else per pair."""
    lists = [c["config_differences"] for c in document["comparisons"]]
    if all(d == lists[0] for d in lists):
        groups = [("", lists[0])]
    else:
        groups = [
            (f"{c['a']['player']} vs {c['b']['player']}: ", c["config_differences"]) for c in document["comparisons"]
        ]
    out = []
    for lead, diffs in groups:
        if not diffs:
            out.append(f"{lead}the settings are the same on both sides (but for names and descriptions)")
            continue
        shown = "; ".join(f"{d['key']}: A {_value(d['a'])}, B {_value(d['b'])}" for d in diffs[:12])
        more = f" (and {len(diffs) - 12} more: see --json)" if len(diffs) > 12 else ""
        out.append(f"{lead}settings that differ: {shown}{more}")
    return out
