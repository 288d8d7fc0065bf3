"""Scoring the game: points, the fastest bonus, collapse flags. Reads results only; no torch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .console import esc
from .results import load_results, write_atomic, write_json
from .runfolder import describe, process_alive, read_tournament, record_generated

COLLAPSE_MARGIN = 0.01  # accuracy within 1 point of always answering the majority class
COLLAPSE_SHARE = 0.90  # or >= 90 % of predictions in one class


def collapse_reason(result: dict) -> str | None:
    """Why a completed player counts as having learned nothing, or None."""
    test, data = result["test"], result["data"]
    majority = data["test_majority_rate"]
    if abs(test["accuracy"] - majority) <= COLLAPSE_MARGIN:
        return f"accuracy {test['accuracy']:.2%} is within 1 point of the majority-class rate {majority:.2%}"
    predicted = test["predicted_distribution"]
    share = max(predicted) / max(1, sum(predicted))
    if share >= COLLAPSE_SHARE:
        label = result["labels"][predicted.index(max(predicted))]
        return f"{share:.0%} of test predictions are '{label}'"
    return None


def hardware_key(result: dict) -> str:
    hw = result.get("environment", {}).get("hardware", {})
    parts = [hw.get("gpu") or hw.get("cpu") or "unknown", hw.get("device"), f"{hw.get('threads')} threads"]
    return " / ".join(str(p) for p in parts if p)


def _speed(result: dict, metric: str) -> float:
    """Larger is faster."""
    timing = result["timing"]
    return -timing["train_seconds"] if metric == "train_seconds" else timing["train_samples_per_second"]


def build(results: list[dict], bonus: float = 10.0, speed_metric: str = "train_seconds") -> dict:
    """Rank completed players within each hardware group; list the others as unranked."""
    rows, groups = [], {}
    for r in results:
        row = {
            "player": r["player"]["name"],
            "model": r.get("model", {}).get("description") or r["player"]["model"]["kind"],
            "strategy": r["player"]["strategy"]["name"],
            "status": r["status"],
            "error": r["error"],
        }
        if r["status"] == "completed":
            reason = collapse_reason(r)
            row.update(
                hardware=hardware_key(r),
                test_accuracy=r["test"]["accuracy"],
                macro_f1=r["test"]["macro_f1"],
                train_seconds=r["timing"]["train_seconds"],
                samples_per_second=r["timing"]["train_samples_per_second"],
                trainable_parameters=r["parameters"]["trainable"],
                total_parameters=r["parameters"]["total"],
                peak_rss_bytes=r["memory"]["peak_rss_bytes"],
                best_epoch=r["best_epoch"],
                majority_rate=r["data"]["test_majority_rate"],
                collapsed=reason is not None,
                collapse_reason=reason,
                fastest=False,
                points=100 * r["test"]["accuracy"],
            )
            groups.setdefault(row["hardware"], []).append((row, r))
        rows.append(row)

    for members in groups.values():
        # A player that learned nothing cannot win the speed bonus.
        eligible = [(row, r) for row, r in members if not row["collapsed"]]
        if eligible and bonus:
            fastest = max(eligible, key=lambda m: _speed(m[1], speed_metric))[0]
            fastest["fastest"] = True
            fastest["points"] += bonus
        ranked = sorted((row for row, _ in members), key=lambda row: -row["points"])
        for position, row in enumerate(ranked, start=1):
            # equal points share a rank (1, 1, 3): list order must not break a tie
            tied = position > 1 and round(row["points"], 6) == round(ranked[position - 2]["points"], 6)
            row["rank"] = ranked[position - 2]["rank"] if tied else position

    ranked = [r for r in rows if "rank" in r]
    ranked.sort(key=lambda r: (r["hardware"], r["rank"]))
    return {
        "rules": {
            "points": "test accuracy in % + fastest bonus",
            "fastest_bonus": bonus,
            "speed_metric": speed_metric,
            "collapse": f"accuracy within {COLLAPSE_MARGIN:.0%} of the majority-class rate, "
            f"or >= {COLLAPSE_SHARE:.0%} of predictions in one class; collapsed players get no bonus",
            "groups": "players are ranked only against results with the same hardware fingerprint",
        },
        "hardware_groups": sorted(groups),
        "ranked": ranked,
        "unranked": [r for r in rows if "rank" not in r],
    }


def _mark(row: dict) -> str:
    return ("  ⚡+bonus" if row["fastest"] else "") + ("  **COLLAPSED**" if row["collapsed"] else "")


def markdown(board: dict) -> str:
    lines = ["# Leaderboard", ""]
    for group in board["hardware_groups"]:
        lines += [
            f"Hardware: {group}",
            "",
            "| rank | player | strategy | points | test acc | macro-F1 | train s | samples/s | trainable / total | notes |",
            "|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in (r for r in board["ranked"] if r["hardware"] == group):
            lines.append(
                f"| {r['rank']} | {r['player']} | {r['strategy']} | {r['points']:.2f} | {r['test_accuracy']:.2%} "
                f"| {r['macro_f1']:.3f} | {r['train_seconds']:.1f} | {r['samples_per_second']:.1f} "
                f"| {r['trainable_parameters']:,} / {r['total_parameters']:,} |{_mark(r)} |"
            )
        majority = next(r["majority_rate"] for r in board["ranked"] if r["hardware"] == group)
        lines += ["", f"Majority-class rate (always the largest test class): {majority:.2%}", ""]
    for r in board["unranked"]:
        lines.append(f"- {r['player']}: **{r['status']}** — {r['error']}")
    lines += ["", f"Rules: {board['rules']['points']}; {board['rules']['collapse']}.", ""]
    return "\n".join(lines)


def write(board: dict, run_dir: Path) -> None:
    run_dir = Path(run_dir)
    paths = [run_dir / "leaderboard.json", run_dir / "leaderboard.md"]
    record_generated(run_dir, paths)  # first: a file is listed before it exists, never after
    write_json(paths[0], board)
    write_atomic(paths[1], markdown(board).encode())


def rich_table(board: dict):
    from rich.table import Table

    table = Table(title="tuneoff leaderboard", show_lines=False)
    for col in ("rank", "player", "strategy", "points", "test acc", "macro-F1", "train s", "samples/s", "notes"):
        table.add_column(col, justify="right" if col not in ("player", "strategy", "notes") else "left")
    for r in board["ranked"]:
        notes = ("[bold yellow]fastest[/] " if r["fastest"] else "") + ("[bold red]COLLAPSED[/]" if r["collapsed"] else "")
        table.add_row(
            str(r["rank"]), r["player"], r["strategy"], f"{r['points']:.2f}", f"{r['test_accuracy']:.2%}",
            f"{r['macro_f1']:.3f}", f"{r['train_seconds']:.0f}", f"{r['samples_per_second']:.1f}", notes,
        )
    for r in board["unranked"]:
        table.add_row("-", r["player"], r["strategy"], "-", "-", "-", "-", "-",
                      f"[red]{esc(r['status'])}[/]: {esc(r['error'])}")
    if board["ranked"]:
        caption = [
            f"{group}: majority-class rate "
            f"{next(r['majority_rate'] for r in board['ranked'] if r['hardware'] == group):.2%}"
            for group in board["hardware_groups"]
        ]
        caption += [f"{r['player']} COLLAPSED: {esc(r['collapse_reason'])}" for r in board["ranked"] if r["collapsed"]]
        table.caption = "\n".join(caption)
    return table


# --- a run folder's leaderboard, for the tournament, `tuneoff leaderboard` and the report ------


@dataclass
class Run:
    folder: Path
    tournament: dict
    config: dict | None
    names: list[str]  # the players, in order
    results: dict[str, dict]
    problems: dict[str, str]  # player folder -> why its results file could not be read
    ignored: list[str]  # readable results of players not in this tournament's config
    board: dict
    meta: dict


def _dead_if_gone(result: dict) -> dict:
    """A result left 'running' by a process that no longer exists is shown as interrupted (the file is
    left as it is: the next `tuneoff run` records it)."""
    if result["status"] != "running" or process_alive(result.get("process")) is not False:
        return result
    who = describe(result.get("process"))
    return {**result, "status": "interrupted", "finished_at": result.get("finished_at"),
            "error": f"left 'running' by {who}, which is gone (killed?); rerun the tournament to train it"}


def read_run(run_dir: Path) -> Run:
    """The run's config (tournament.json) and results, and the board of its players.

    An unreadable results file is recorded in ``problems`` and does not hide the others;
    results of players the config does not name are left off the board.
    """
    run_dir = Path(run_dir)
    meta = read_tournament(run_dir)  # a folder that is not a run is refused here
    config = meta.get("config")
    problems: dict[str, str] = {}
    results = [_dead_if_gone(r) for r in load_results(run_dir, problems)]
    by_name = {r["player"]["name"]: r for r in results}
    if config:
        names = [p["name"] for p in config["players"]]
    else:
        names = list(dict.fromkeys([r["player"]["name"] for r in results] + sorted(problems)))
    kept = [by_name[n] for n in names if n in by_name]
    rules = (config or {}).get("tournament", {})
    board = build(kept, rules.get("fastest_bonus", 10.0), rules.get("speed_metric", "train_seconds"))
    return Run(run_dir, rules, config, names, {r["player"]["name"]: r for r in kept},
               problems, sorted(set(by_name) - set(names)), board, meta)


def publish(run_dir: Path, console) -> Run:
    """Rebuild the board from the results files, write leaderboard.json/.md, print it."""
    run = read_run(run_dir)
    for folder, why in run.problems.items():
        console.print(f"[red]players/{esc(folder)}: results file unreadable, left off the leaderboard: {esc(why)}[/]")
    for name in run.ignored:
        console.print(f"[yellow]players/{esc(name)}: not a player of this tournament's config, "
                      "left off the leaderboard[/]")
    write(run.board, run.folder)
    console.print(rich_table(run.board))
    return run
