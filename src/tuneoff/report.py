"""The run report: one offline HTML file and its Markdown twin, built from the results files only.

It never trains and never imports torch: it reads ``tournament.json`` and the
players' ``result.json`` files, scores them with :mod:`tuneoff.leaderboard`, and
draws the charts with :mod:`tuneoff.figures`. The same results give the same files.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

from . import figures
from .leaderboard import Run, read_run
from .render import FIGURES, Badge, Block, Link, Small, Swatch, render_html, render_md
from .results import RESULT_FILE, write_atomic
from .runfolder import RunFolderError, generated, record_generated


def build_report(run_dir: Path) -> dict:
    """Write RUN_DIR/report.html (self-contained) and RUN_DIR/report.md (+ figures/*.png)."""
    run = read_run(run_dir)
    blocks, title = document(run)
    charts = [b.chart for b in blocks if b.kind == "image"]
    folder = run.folder / FIGURES
    html_path, md_path = run.folder / "report.html", run.folder / "report.md"
    pngs = {folder / f"{c.name}.png": c.png for c in charts}
    # Only files this tool wrote (listed in the manifest) are ever replaced or removed.
    ours = generated(run.folder)
    mine = [p for p in [*pngs, html_path, md_path] if p.exists() and p.relative_to(run.folder).as_posix() not in ours]
    if mine:
        raise RunFolderError(f"{mine[0]}: exists and was not written by tuneoff; move it away to build the report")
    old = [p for p in folder.glob("*.png") if p not in pngs and p.relative_to(run.folder).as_posix() in ours]
    record_generated(run.folder, [*pngs, html_path, md_path])
    for path in old:
        path.unlink()
    record_generated(run.folder, [], forget=old)
    for path, png in pngs.items():
        _write(path, png)
    _write(html_path, render_html(blocks, title).encode())
    _write(md_path, render_md(blocks).encode())
    return {"html": html_path, "md": md_path}


def _write(path: Path, data: bytes) -> None:
    if not (path.is_file() and path.read_bytes() == data):  # unchanged files keep their timestamps
        write_atomic(path, data)


def version() -> str:
    try:
        return metadata.version("tuneoff")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- the report's content ---------------------------------------------------------------------


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.2f} s" if s < 1 else f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _bytes(n: int | None) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n is not None and n >= size:
            return f"{n / size:,.1f} {unit}"
    return "–" if n is None else f"{n} B"


def _value(v) -> str:
    if isinstance(v, list):
        return ", ".join(map(_value, v)) or "[]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_value(x)}" for k, x in v.items()) or "none"
    return "–" if v is None else str(v)


def _slug(i: int, name: str) -> str:
    return f"{i + 1:02d}-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "player")


def _status(run: Run, name: str) -> str:
    if name in run.results:
        return run.results[name]["status"]
    return "unreadable" if name in run.problems else "missing"


def _reason(run: Run, name: str) -> str:
    r = run.results.get(name)
    if r is None:
        return (f"results file unreadable: {run.problems[name]}" if name in run.problems else
                f"no results file yet (players/{name}/{RESULT_FILE}): not started, or the run used --only")
    if r["status"] == "running":
        return "marked running: still training, or stopped without recording its end (killed)"
    return r["error"] or "no reason recorded"


def _status_badge(status: str) -> Badge:
    return Badge(status, {"unreadable": "failed"}.get(status, status if status in ("failed", "interrupted", "running")
                                                       else "missing"))


def document(run: Run) -> tuple[list[Block], str]:
    title = f"tuneoff report: {run.tournament.get('name') or run.folder.name}"
    look = figures.looks(run.names)
    blocks = _header(run, title) + _leaderboard(run, look) + _players(run, look) + _compare(run, look)
    blocks += _setup(run)
    blocks.append(Block("p", f"Built by tuneoff {version()} from the results files of this run; nothing was trained "
                             "to make this report."))
    return blocks, title


SETUP = "protocol-environment-warnings-and-failures"
CONTENTS = [("Leaderboard", "leaderboard"), ("Players", "players"), ("All players compared", "all-players-compared"),
            ("Protocol and environment", SETUP), ("Failures and missing players", "failures-and-missing-players")]


def _header(run: Run, title: str) -> list[Block]:
    b = [Block("h1", title)]
    if run.tournament.get("description"):
        b.append(Block("p", run.tournament["description"]))
    facts = [f"Run folder: {run.folder.name}"] + [
        f"{label}: {run.meta[key]}" for key, label in (("config_file", "config file"), ("written_at", "started"))
        if run.meta.get(key)]
    b.append(Block("p", "; ".join(facts) + "."))
    counts: dict[str, int] = {}
    for n in run.names:
        counts[_status(run, n)] = counts.get(_status(run, n), 0) + 1
    summary = f"{len(run.names)} players: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + "."
    unfinished = [n for n in run.names if _status(run, n) != "completed"]
    if unfinished:
        b.append(Block("warn", [summary, f"Incomplete run: no completed result for {', '.join(unfinished)}. See",
                                Link("Failures and missing players", CONTENTS[-1][1])]))
    else:
        b.append(Block("note", summary))
    links = [part for text, anchor in CONTENTS for part in ("·", Link(text, anchor))][1:]
    return b + [Block("p", ["Contents:"] + links)]


COLUMNS = ["rank", "player", "model", "strategy", "points", "test accuracy", "macro-F1", "fastest bonus",
           "training time", "samples/s", "trainable / total parameters", "peak memory", "collapsed"]


def _board_row(r: dict, result: dict, look: dict, bonus: float) -> list:
    gpu = result["memory"]["peak_gpu_bytes"]
    share = r["trainable_parameters"] / r["total_parameters"]
    return [
        str(r["rank"]), [Swatch(look[r["player"]].color), r["player"]], r["model"], r["strategy"],
        f"{r['points']:.2f}", f"{r['test_accuracy']:.2%}", f"{r['macro_f1']:.3f}",
        Badge(f"⚡ +{bonus:g}", "fastest") if r["fastest"] else "",
        _seconds(r["train_seconds"]), f"{r['samples_per_second']:,.1f}",
        [f"{r['trainable_parameters']:,} / {r['total_parameters']:,}", Small(f"{share:.2%} trainable")],
        [f"{_bytes(r['peak_rss_bytes'])} RSS", Small(f"GPU {_bytes(gpu)}") if gpu is not None else None],
        Badge("COLLAPSED", "collapsed") if r["collapsed"] else "",
    ]


def _leaderboard(run: Run, look: dict) -> list[Block]:
    board, b = run.board, [Block("h2", "Leaderboard", anchor="leaderboard")]
    rules = board["rules"]
    if not board["ranked"]:
        b.append(Block("warn", "No player has completed yet, so nobody is ranked."))
    for group in board["hardware_groups"]:
        rows = [r for r in board["ranked"] if r["hardware"] == group]
        b.append(Block("h3" if len(board["hardware_groups"]) > 1 else "p", f"Hardware: {group}"))
        b.append(Block("table", headers=COLUMNS, align="rlllrrrlrrrrl", row_ids=[r["player"] for r in rows],
                       rows=[_board_row(r, run.results[r["player"]], look, rules["fastest_bonus"]) for r in rows]))
        b.append(Block("p", f"Majority-class rate (always answering the largest test class): "
                            f"{rows[0]['majority_rate']:.2%}. A player near this accuracy has learned nothing."))
        collapsed = [[Badge("COLLAPSED", "collapsed"), f"{r['player']}: {r['collapse_reason']}"]
                     for r in rows if r["collapsed"]]
        b += [Block("list", rows=collapsed)] if collapsed else []
    b.append(Block("p", f"Points: {rules['points']} ({rules['fastest_bonus']:g} points for the fastest by "
                        f"{rules['speed_metric']}). Collapsed: {rules['collapse']}. {rules['groups'].capitalize()}."))
    unranked = [n for n in run.names if _status(run, n) != "completed"]
    if unranked:
        b.append(Block("p", "Not ranked:"))
        b.append(Block("list", rows=[[Swatch(look[n].color), n, _status_badge(_status(run, n)), _reason(run, n)]
                                     for n in unranked]))
    if board["ranked"]:
        b.append(Block("image", chart=figures.accuracy_bars(board["ranked"], look)))
    return b


def _config_player(run: Run, name: str) -> dict | None:
    return next((p for p in (run.config or {}).get("players", []) if p["name"] == name), None)


def _players(run: Run, look: dict) -> list[Block]:
    b = [Block("h2", "Players", anchor="players")]
    ranked = {r["player"]: r for r in run.board["ranked"]}
    for i, name in enumerate(run.names):
        r, status, row, slug = run.results.get(name), _status(run, name), ranked.get(name), _slug(i, name)
        head = [Swatch(look[name].color), name] + ([] if status == "completed" else [_status_badge(status)])
        b.append(Block("h3", head + ([Badge("COLLAPSED", "collapsed")] if row and row["collapsed"] else []),
                       anchor=f"player-{slug}"))
        player = r["player"] if r else _config_player(run, name)
        if player:
            if player.get("description"):
                b.append(Block("p", player["description"]))
            strategy = dict(player["strategy"])
            kind = strategy.pop("name")
            model = (r or {}).get("model")
            model = (f"{model['description']} ({'pretrained' if model['pretrained'] else 'randomly initialised'})"
                     if model else _value({k: v for k, v in player["model"].items() if v is not None}))
            b.append(Block("list", rows=[f"Model: {model}", f"Strategy: {kind}" + (f" ({_value(strategy)})" if strategy
                                         else ""), f"Protocol overrides: {_value(player.get('protocol', {}))}"]))
        for w in (r or {}).get("warnings", []):
            b.append(Block("warn", [Badge("warning", "warn"), w]))
        if status != "completed":
            b.append(Block("warn", [_status_badge(status), _reason(run, name)]))
            continue
        t = r["test"]
        b.append(Block("p", f"Kept epoch {r['best_epoch']} of {len(r['history']['epochs'])} (best dev accuracy): "
                            f"test accuracy {t['accuracy']:.2%}, macro-F1 {t['macro_f1']:.3f}, test loss "
                            f"{t['loss']:.3f}." + (f" Collapsed: {row['collapse_reason']}." if row["collapsed"] else "")))
        if r["history"]["epochs"]:
            b.append(Block("image", chart=figures.player_curves(r, look[name], slug)))
        if len(t["confusion_matrix"]) == len(r["labels"]) and any(map(any, t["confusion_matrix"])):
            b.append(Block("image", chart=figures.confusion(r, slug)))
        b.append(Block("table", headers=["class", "precision", "recall", "F1", "test examples", "predicted"],
                       align="lrrrrr", rows=[[label, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}",
                                              str(c["support"]), str(p)] for label, c, p in
                                             zip(r["labels"], t["per_class"], t["predicted_distribution"])]))
    return b


def _compare(run: Run, look: dict) -> list[Block]:
    b = [Block("h2", "All players compared", anchor="all-players-compared")]
    done = [run.results[n] for n in run.names if _status(run, n) == "completed"]
    if not done:
        return b + [Block("p", "No completed player yet.")]
    if len(run.board["hardware_groups"]) > 1:
        b.append(Block("warn", "Players ran on different hardware: their training times are not comparable."))
    b.append(Block("image", chart=figures.dev_loss_overlay(done, look)))
    b.append(Block("image", chart=figures.pareto(run.board["ranked"], look)))
    return b


def _groups(run: Run, key: str) -> list[tuple[list[str], dict]]:
    """Players sharing an identical record (data, environment), in player order."""
    out: dict[str, tuple[list[str], dict]] = {}
    for n in run.names:
        if key in run.results.get(n, {}):
            out.setdefault(json.dumps(run.results[n][key], sort_keys=True), ([], run.results[n][key]))[0].append(n)
    return list(out.values())


def _data_rows(d: dict, labels: list[str]) -> list[list]:
    rows = [[k, _value(d[k])] for k in ("name", "source", "dir", "sizes", "max_train", "max_eval") if k in d]
    rows.append(["checksums match", "yes" if d["checksums_ok"] else Badge("NO: not the published files", "warn")])
    rows.append(["test class counts", _value(dict(zip(labels, d["test_class_counts"])))])
    rows.append(["test majority-class rate", f"{d['test_majority_rate']:.2%}"])
    return rows + [[f"sha256 {split}", digest] for split, digest in d["sha256"].items()]


def _setup(run: Run) -> list[Block]:
    b = [Block("h2", "Protocol, environment, warnings and failures", anchor=SETUP), Block("h3", "Protocol")]
    shared = (run.config or {}).get("protocol")
    if shared:
        b.append(Block("table", headers=["setting", "shared value"], align="ll",
                       rows=[[k, _value(v)] for k, v in shared.items()]))
    b.append(Block("p", f"Players may override: {_value(run.tournament.get('overridable', []))}."))
    rows = []
    for n in run.names:
        r, player = run.results.get(n), _config_player(run, n)
        overrides = r["overrides"] if r else (player or {}).get("protocol", {})
        resolved = {k: v for k, v in (r["protocol"] if r else {}).items() if shared and shared.get(k) != v}
        rows.append([n, _value(overrides), _value(resolved) if r else "(no result)"])
    b.append(Block("table", headers=["player", "overrides", "resolved protocol differs from shared in"],
                   align="lll", rows=rows))

    b.append(Block("h3", "Data"))
    if run.config and "data" in run.config:
        b.append(Block("p", f"Config: {_value(run.config['data'])}."))
    for names, d in _groups(run, "data"):
        b.append(Block("p", f"Used by: {', '.join(names)}"))
        b.append(Block("table", headers=["", "value"], align="ll", rows=_data_rows(d, run.results[names[0]]["labels"])))

    b.append(Block("h3", "Hardware and software"))
    envs = _groups(run, "environment")
    for names, env in envs:
        b.append(Block("p", f"Used by: {', '.join(names)}"))
        b.append(Block("table", headers=["", "value"], align="ll", rows=[
            [f"{part}.{k}", _value(v)] for part in ("hardware", "software") for k, v in env[part].items()]))
    unknown = [n for n in run.names if n not in {m for names, _ in envs for m in names}]
    if unknown:
        b.append(Block("p", f"No fingerprint recorded for: {', '.join(unknown)}."))

    b.append(Block("h3", "Warnings"))
    warnings = [[f"{n}:", w] for n in run.names for w in run.results.get(n, {}).get("warnings", [])]
    warnings += [[f"{n}:", "data checksums do not match the published SST-5 files"] for n in run.names
                 if not run.results.get(n, {}).get("data", {}).get("checksums_ok", True)]
    warnings += [[f"{r['player']['name']}:", f"results file written for tournament '{r['tournament']}'"]
                 for r in run.results.values() if run.tournament.get("name") not in (None, r["tournament"])]
    warnings += [[f"players/{n}:", "results for a player not in this tournament's config; left out"]
                 for n in run.ignored]
    b.append(Block("list", rows=warnings) if warnings else Block("p", "None."))

    b.append(Block("h3", "Failures and missing players", anchor="failures-and-missing-players"))
    bad = [n for n in run.names if _status(run, n) != "completed"]
    if not bad:
        return b + [Block("p", "None: every player completed.")]
    b.append(Block("table", headers=["player", "status", "reason", "started", "ended"], align="lllll",
                   row_ids=bad, rows=[[n, _status_badge(_status(run, n)), _reason(run, n),
                                       run.results.get(n, {}).get("started_at") or "–",
                                       run.results.get(n, {}).get("finished_at") or "–"] for n in bad]))
    return b
