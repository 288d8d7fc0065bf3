"""Results pages from the committed, machine-readable results under results/ (one folder per published run).

A run's folder holds ``summary.json`` (validated against results/summary.schema.json): what ran (config,
command, date, machine, provenance) and, for a run whose folder was not kept, its published numbers
transcribed. A run whose ``leaderboard.json`` was kept (a ``tuneoff leaderboard`` file) drops it beside the
summary, which then holds only what ran: the players and pairs are read from the board. An optional
``notes.md`` beside them is the run's narrative, written by hand and shown after the generated tables.

Accuracies, differences and gaps are in points of accuracy (percent); p-values are Holm-adjusted over the
board's pairs unless named otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tuneoff.verdict.format import accuracy, accuracy_ci, difference, mean_std, p_value, seconds

from gen import before_after
from gen.markdown import code, page, table

TEASER = ("<!-- results-teaser:start -->", "<!-- results-teaser:end -->")
TEASER_RUN = "offline-3seeds"  # the main set-up command's config (offline.toml), over three seeds


def _fraction(x: float | None) -> float | None:
    """A number in points (these files' unit) as the fraction verdict/format.py writes."""
    return None if x is None else x / 100


def ci_text(ci: list[float] | None) -> str:
    return "" if not ci else accuracy_ci(*(_fraction(v) for v in ci))


def diff_text(d: dict | None) -> str:
    """A difference in points with its 95 % CI and Holm p, as the board writes it: -0.05 [-1.48, +1.39], p = 1."""
    return "best" if d is None else difference(d["diff"], d.get("ci95"), d.get("p_holm"), below=d.get("p_below", False))


def accuracy_text(a: dict) -> str:
    return mean_std(_fraction(a["mean"]), _fraction(a.get("std")))


# --- reading a run ------------------------------------------------------------------------------------------


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 6)


def from_leaderboard(board: dict) -> dict:
    """The players, pairs and verdict of a ``tuneoff leaderboard`` file, in the summary's shape and units."""
    players = []
    for r in board["ranked"]:
        seeds = len(r["seeds"])
        vs = (
            None
            if r["p_vs_best"] is None
            else {"diff": r["diff_vs_best"], "ci95": r["diff_vs_best_ci95"], "p_holm": r["p_vs_best"]}
        )
        extra = {
            name: {
                "mean": _pct(e["mean"]),
                "std": _pct(e["std"]) if seeds > 1 else None,
                **({"ci95": [_pct(v) for v in e["ci95"]]} if "ci95" in e else {}),
                "may_be_best": r["player"] in board.get("extra_eval", {}).get(name, {}).get("may_be_best", []),
            }
            for name, e in r["extra_eval"].items()
        }
        players.append(
            {
                "rank": r["rank"],
                "player": r["player"],
                "strategy": r["strategy"],
                "model": r["model"],
                "seeds": seeds,
                "accuracy": {
                    "mean": _pct(r["test_accuracy"]),
                    "std": _pct(r["test_accuracy_std"]) if seeds > 1 else None,
                    "ci95": [_pct(v) for v in r["test_accuracy_ci95"]],
                    "per_seed": [_pct(v) for v in r["per_seed_test_accuracy"]],
                },
                "rank_interval": r["rank_interval"],
                "may_be_best": r["may_be_best"],
                "vs_best": vs,
                "collapsed_seeds": len(r["collapsed_seeds"]),
                "extra": extra,
                "trainable_parameters": r["trainable_parameters"],
                "total_parameters": r["total_parameters"],
                "train_seconds": r["train_seconds"],
                "gap": _pct(r["generalization_gap"]),
                "points": r["points"],
                "bonus": r["bonus"],
            }
        )
    pairs = [
        {
            "a": q["a"],
            "b": q["b"],
            "diff": q["diff"],
            "ci95": q["ci95"],
            "p": q["p"],
            "p_holm": q["p_holm"],
            "separable": q["separable"],
        }
        for q in board["pairwise"]
    ]
    extra_pairs = {
        name: [
            {
                "a": q["a"],
                "b": q["b"],
                "diff": q["diff"],
                "ci95": q["ci95"],
                "p_holm": q["p_holm"],
                "separable": q["separable"],
            }
            for q in v["pairwise"]
        ]
        for name, v in (board.get("extra_eval") or {}).items()
        if v["pairwise"]
    }
    power = board.get("power") or {}
    return {
        "players": players,
        "pairs": pairs,
        "extra_pairs": extra_pairs,
        "may_be_best": board["may_be_best"],
        **({"detectable_difference": power["detectable_difference"]} if power else {}),
    }


def load(folder: Path, schema: dict) -> dict:
    """One run: its summary, with the board's players and pairs where its leaderboard.json was kept."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    jsonschema.validate(summary, schema)
    board = folder / "leaderboard.json"
    if board.is_file():
        summary = {**summary, **from_leaderboard(json.loads(board.read_text(encoding="utf-8")))}
    if not summary.get("players"):
        raise ValueError(f"{folder}: neither players in summary.json nor a leaderboard.json")
    notes = folder / "notes.md"
    return {**summary, "notes": notes.read_text(encoding="utf-8") if notes.is_file() else ""}


def runs(root: Path) -> list[dict]:
    schema = json.loads((root / "summary.schema.json").read_text(encoding="utf-8"))
    found = [load(f, schema) for f in sorted(root.iterdir()) if (f / "summary.json").is_file()]
    return sorted(found, key=lambda r: (r["date"], r["run"]), reverse=True)


# --- the tables ----------------------------------------------------------------------------------------------


def _extra_cell(e: dict) -> str:
    ci = [_fraction(v) for v in e["ci95"]] if e.get("ci95") else None
    text = accuracy(_fraction(e["mean"]), _fraction(e.get("std")), ci)
    return f"**{text}**" if e.get("may_be_best") else text


def rank_interval_text(interval: list[int] | None) -> str:
    """1 or 1–3; a dash for a player that is not ranked (collapsed in every seed)."""
    if not interval:
        return "–"
    low, high = interval
    return str(low) if low == high else f"{low}–{high}"


COLUMNS = [  # header, alignment, the player field it shows, how
    ("rank", "r", "rank", lambda p: "–" if p["rank"] is None else str(p["rank"])),
    ("may be best", "c", "may_be_best", lambda p: "**yes**" if p["may_be_best"] else ""),
    ("rank interval", "c", "rank_interval", lambda p: rank_interval_text(p.get("rank_interval"))),
    ("player", "l", "player", lambda p: code(p["player"])),
    ("model, strategy", "l", "model", lambda p: f"{p['model']}, {p['strategy']}"),
    ("strategy", "l", "strategy", lambda p: p["strategy"]),
    ("seeds", "r", "seeds", lambda p: str(p["seeds"])),
    ("test accuracy", "r", "accuracy", lambda p: accuracy_text(p["accuracy"])),
    ("95 % CI", "r", "accuracy.ci95", lambda p: ci_text(p["accuracy"].get("ci95"))),
    ("per seed", "l", "accuracy.per_seed", lambda p: ", ".join(f"{a:.2f}" for a in p["accuracy"].get("per_seed", []))),
    ("vs the best, points [95 % CI], Holm p", "l", "vs_best", lambda p: diff_text(p["vs_best"])),
    (
        "collapsed seeds",
        "c",
        "collapsed_seeds",
        lambda p: f"**{p['collapsed_seeds']} of {p['seeds']}**" if p["collapsed_seeds"] else f"0 of {p['seeds']}",
    ),
    ("macro-F1", "r", "macro_f1", lambda p: f"{p['macro_f1']:.3f}"),
    ("best epoch", "r", "best_epoch", lambda p: str(p["best_epoch"])),
    ("trainable parameters", "r", "trainable_parameters", lambda p: f"{p['trainable_parameters']:,}"),
    ("training", "r", "train_seconds", lambda p: seconds(p["train_seconds"])),
    ("samples/s", "r", "samples_per_second", lambda p: f"{p['samples_per_second']:.0f}"),
    ("peak RSS", "r", "peak_rss_gib", lambda p: f"{p['peak_rss_gib']:.2f} GiB"),
    ("gap", "r", "gap", lambda p: "" if p["gap"] is None else f"{p['gap']:+.1f}"),
    ("points", "r", "points", lambda p: f"{p['points']:.2f}" + (f" (+{p['bonus']:g})" if p.get("bonus") else "")),
]


def _has(p: dict, field: str) -> bool:
    node = p
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _players_table(run: dict) -> str:
    players = run["players"]
    columns = [c for c in COLUMNS if any(_has(p, c[2]) for p in players)]
    if any(_has(p, "model") for p in players):
        columns = [c for c in columns if c[0] != "strategy"]
    extras = sorted({name for p in players for name in p.get("extra", {})})
    at = 1 + max(i for i, c in enumerate(columns) if c[2].startswith(("accuracy", "vs_best", "collapsed_seeds")))
    headers = [c[0] for c in columns[:at]] + [f"{n} transfer" for n in extras] + [c[0] for c in columns[at:]]
    align = "".join(c[1] for c in columns[:at]) + "r" * len(extras) + "".join(c[1] for c in columns[at:])
    rows = []
    for p in players:
        cells = [c[3](p) if _has(p, c[2]) else "" for c in columns]
        extra = [_extra_cell(p["extra"][n]) if n in p.get("extra", {}) else "" for n in extras]
        rows.append(cells[:at] + extra + cells[at:])
    return table(headers, rows, align)


def _pairs_table(pairs: list[dict]) -> str:
    with_p = any("p" in q for q in pairs)
    headers = ["pair", "difference, points [95 % CI]"] + (["p"] if with_p else []) + ["Holm p", "separable"]
    rows = [
        [f"{q['a']} − {q['b']}", difference(q["diff"], q["ci95"])]
        + ([p_value(q["p"]) if "p" in q else ""] if with_p else [])
        + [p_value(q["p_holm"], below=q.get("p_below", False)), "**yes**" if q["separable"] else "no"]
        for q in pairs
    ]
    return table(headers, rows, "lr" + ("r" if with_p else "") + "rc")


def _facts(run: dict) -> str:
    facts = [
        ("config", code(run["config"])),
        ("command", code(run["command"])),
        ("date", run["date"]),
        ("machine", run["machine"]),
        ("seeds", ", ".join(map(str, run["seeds"]))),
        ("test set", f"{run['test_set']['name']}, {run['test_set']['sentences']:,} sentences"),
    ]
    facts += [(k.replace("_", " "), run[k]) for k in ("precision", "wall_clock") if run.get(k)]
    source = run["provenance"]
    facts.append(("source", f"{source['how']} from {source['source']} at commit {source['commit']}"))
    return table(["", ""], [[f"**{k}**", v] for k, v in facts])


def run_page(run: dict) -> str:
    parts = [run.get("description", ""), _facts(run), "## Players\n\n" + (run.get("legend", "")), _players_table(run)]
    if run.get("may_be_best"):
        parts.append(f"May be best (95 %): {', '.join(run['may_be_best'])}.")
    if run.get("detectable_difference") is not None:
        parts.append(
            f"Smallest difference the board's test detects (80 % power, Holm over its pairs): "
            f"{run['detectable_difference']:.2f} points"
            + (
                f", as the board of {run['date']} printed it, from its formula of the time; the current "
                "board simulates its own test (`tuneoff leaderboard` rebuilds it)."
                if run["provenance"]["how"] == "transcribed"
                else "."
            )
        )
    if run.get("pairs"):
        parts += ["## Pairs\n\nEvery pair on the test set, first minus second.", _pairs_table(run["pairs"])]
    for name, pairs in (run.get("extra_pairs") or {}).items():
        parts += [f"## Pairs on {name}\n\nHolm over these pairs.", _pairs_table(pairs)]
    if run["notes"]:
        parts.append("## What it says\n\n" + run["notes"])
    return page(run["title"], f"`results/{run['run']}/`", *parts)


def index_page(found: list[dict]) -> str:
    rows = [
        [
            f"[{r['title']}]({r['run']}.md)",
            code(r["config"]),
            r["date"],
            str(len(r["players"])),
            ", ".join(map(str, r["seeds"])),
            ", ".join(r.get("may_be_best") or []),
        ]
        for r in found
    ]
    intro = (
        "Every published run, from the machine-readable files under `results/` (one folder per run: "
        "`summary.json`, and `leaderboard.json` where the run's board was kept). `python docs/generate.py` "
        "writes these pages from them; a test fails when a page and its file disagree. Points of accuracy "
        "throughout; CIs are 95 %. Speed, calibration and executor measurements are in "
        "[the benchmark log](../benchmarks/log.md) (`benchmarks/RESULTS.md`, written by the scripts under "
        "`benchmarks/`)."
    )
    return page(
        "Results",
        "`results/*/`",
        intro,
        table(["run", "config", "date", "players", "seeds", "may be best (95 %)"], rows, "llrrrl"),
    )


def teaser(run: dict) -> str:
    """The README's results teaser: one run's players with their CI and rank interval (no pipes in cells)."""
    rows = [
        [
            p["player"] + (" **COLLAPSED**" if p.get("collapsed_seeds") else ""),
            f"{p.get('model', '')}, {p['strategy']}".lstrip(", "),
            accuracy_text(p["accuracy"]),
            ci_text(p["accuracy"].get("ci95")),
            rank_interval_text(p.get("rank_interval")),
        ]
        for p in run["players"]
    ]
    return f"{run['title']} (`{run['command']}`, {run['date']}):\n\n" + table(
        ["player", "model, strategy", "test accuracy, mean ± std", "95 % CI", "rank interval"], rows, "llrrc"
    )


def with_teaser(text: str, root: Path) -> str:
    """``text`` with the block between the teaser markers replaced by the teaser of TEASER_RUN, and the block
    between the before-and-after markers by the table of BEFORE_AFTER_RUNS."""
    found = {r["run"]: r for r in runs(root)}
    text = _between(text, TEASER, lambda: teaser(found[TEASER_RUN]))
    before, after = (found[name] for name in before_after.BEFORE_AFTER_RUNS)
    return _between(
        text, before_after.BEFORE_AFTER, lambda: before_after.table(before, after, before_after.SST2_SENTENCES)
    )


def _between(text: str, markers: tuple[str, str], block) -> str:
    """``text`` with what lies between the two markers replaced by ``block()``; unchanged without them."""
    start, end = markers
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    return head + start + "\n" + block() + end + rest.split(end, 1)[1]


def pages(root: Path) -> dict[str, str]:
    found = runs(root)
    return {"results/index.md": index_page(found), **{f"results/{r['run']}.md": run_page(r) for r in found}}
