"""A run folder's leaderboard: read the results, leave out stale and foreign ones, write and print it.

The one place that turns a run folder into a board, used by the tournament, `tuneoff
leaderboard` and the report. A result counts only when it belongs to a job of the run's
current config (tournament.json lists each job's hash): a result with another hash is
*stale*, listed with the keys that differ, and never ranked. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tuneoff.console import esc
from tuneoff.store.files import write_atomic, write_json
from tuneoff.store.liveness import shown
from tuneoff.store.results import ResultsError, differences
from tuneoff.store.runfolder import RunFolder, as_run, seed_label
from tuneoff.store.schemas import SchemaError, validate
from tuneoff.store.status import Status
from tuneoff.verdict import rules as leaderboard
from tuneoff.verdict import table
from tuneoff.verdict.advice import collapse_advice
from tuneoff.verdict.board_csv import board_csv
from tuneoff.verdict.format import words
from tuneoff.verdict.rows import ended, extra_eval_table, extra_sentence, game_rows, may_be_best_sentence, rows


@dataclass
class Run:
    folder: RunFolder
    tournament: dict  # the rules table of the config
    config: dict
    names: list[str]  # the players, in config order
    jobs: dict[str, list[dict]]  # player -> its current results (any status), by seed
    expected: dict[str, list[str]]  # player -> the job labels the config asks for
    problems: dict[str, str]  # job folder -> why its results file could not be read
    ignored: list[str]  # results of players or seeds the config does not name
    stale: list[dict]
    board: dict
    meta: dict = field(default_factory=dict)

    def completed(self, name: str) -> list[dict]:
        return [r for r in self.jobs.get(name, []) if r["status"] == Status.COMPLETED]


def _label(r: dict) -> str:
    return seed_label(r["seed"], r["data_seed"])


def read_run(run_dir: RunFolder | Path) -> Run:
    """The run's config (tournament.json) and results, and the board of its current jobs."""
    run_dir = as_run(run_dir)
    meta = run_dir.tournament()  # a folder that is not a run is refused here
    config = meta["config"]
    names = [p["name"] for p in config["players"]]
    planned = {(j["player"], seed_label(j["seed"], j.get("data_seed"))): j for j in meta.get("jobs", [])}
    problems: dict[str, str] = {}
    jobs: dict[str, list[dict]] = {}
    rules = config.get("tournament", {})
    ignored, stale = [], []
    for r in (shown(r) for r in run_dir.results(problems)):
        name, key = r["player"]["name"], (r["player"]["name"], _label(r))
        foreign = r["tournament"] != rules.get("name", r["tournament"])  # written for another tournament
        if foreign or name not in names or (planned and key not in planned):
            ignored.append(f"{name}/{_label(r)}")
        elif planned and planned[key]["job_hash"] != r["job_hash"]:
            reason = "; ".join(differences(r["job"], planned[key]["job"])[:4]) or "a different job"
            stale.append({"player": name, "seed": r["seed"], "data_seed": r["data_seed"], "reason": reason})
        else:
            jobs.setdefault(name, []).append(r)
    expected: dict[str, list] = {n: [] for n in names}
    for player, label in planned or ((n, label) for n in names for label in _config_labels(config)):
        expected.setdefault(player, []).append(label)
    results = [r for n in names for r in jobs.get(n, [])]
    board = leaderboard.build(
        results,
        rules.get("fastest_bonus", 10.0),
        rules.get("speed_metric", "train_seconds"),
        stale,
        {n: len(labels) for n, labels in expected.items()},
        rules.get("equivalence_margin", 0.0),
    )
    if advice := collapse_advice(board, results):  # every player collapsed: why, and what to change
        board["notes"].append(advice)
    return Run(run_dir, rules, config, names, jobs, expected, problems, sorted(ignored), stale, board, meta)


def _config_labels(config: dict) -> list[str]:
    """The jobs a config asks of each player, for a tournament.json that does not list them."""
    rules, protocol = config.get("tournament", {}), config.get("protocol") or {}
    if "seed" not in protocol and not rules.get("seeds"):
        return []
    seeds = rules.get("seeds") or [protocol["seed"]]
    data_seeds = rules.get("data_seeds") or [protocol.get("data_seed")]
    return [seed_label(s, d) for s in seeds for d in data_seeds]


def write(board: dict, run_dir: RunFolder) -> None:
    try:
        validate(board, "leaderboard", "leaderboard")
    except SchemaError as err:
        raise ResultsError(str(err)) from None
    paths = run_dir.board_paths()
    run_dir.record_generated(list(paths))  # first: a file is listed before it exists, never after
    write_json(paths[0], board)
    write_atomic(paths[1], markdown(board).encode())
    write_atomic(paths[2], board_csv(board).encode())


def publish(run_dir: RunFolder | Path, console) -> Run:
    """Rebuild the board from the results files, write leaderboard.json/.md, print it."""
    run = read_run(run_dir)
    for folder, why in run.problems.items():
        console.print(f"[red]{esc(folder)}: results file unreadable, left off the leaderboard: {esc(why)}[/]")
    for name in run.ignored:
        console.print(f"[yellow]{esc(name)}: not a job of this tournament's config, left off the leaderboard[/]")
    for s in run.stale:
        console.print(
            f"[yellow]{esc(s['player'])} seed {s['seed']}: stale, not ranked ({esc(s['reason'])}); "
            "`tuneoff run` trains it again[/]"
        )
    write(run.board, run.folder)
    console.print(rich_table(run.board))
    return run


# --- text renderings -----------------------------------------------------------------------------


def markdown(board: dict) -> str:
    ranked, power, rules, say = board["ranked"], board["power"], board["rules"], words(board)
    lines = ["# Leaderboard", "", f"## {say['question']}", ""] + table.markdown(table.MARKDOWN, board, rows(board))
    lines += ["", may_be_best_sentence(board), ""]
    if ranked:
        lines += [f"Majority-class rate (always the largest test class): {ranked[0]['majority_rate']:.2%}", ""]
    if power:
        lines += [detectable_sentence(power), ""]
    headers, extra = extra_eval_table(ranked)
    if extra:
        lines += ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
        lines += ["| " + " | ".join(cells) + " |" for cells in extra] + [""]
        lines += [sentence, ""] if (sentence := extra_sentence(board)) else []
    lines += [
        "## The game's score",
        "",
        "Apart from the verdict: points = mean test accuracy in % + the speed bonus.",
        "",
    ] + table.markdown(table.GAME, board, game_rows(board))
    lines += [""] + [f"- {n}" for n in board["notes"]]
    lines += [
        f"- {r['player']} {seed_label(r['seed'], r['data_seed'])}: **{ended(r)}** — {r['error']}"
        for r in board["unranked"]
    ]
    lines += [
        f"- {s['player']} {seed_label(s['seed'], s['data_seed'])}: **stale**, not ranked — {s['reason']}"
        for s in board["stale"]
    ]
    lines += [
        "",
        f"Rules. Accuracy: {rules['accuracy']}. Rank interval: {rules['rank_interval']}. May be best: "
        f"{rules['may_be_best']}. Collapse: {rules['collapse']}. Points: {rules['points']}. Speed: "
        f"{rules['speed']}. Groups: {rules['groups']}.",
        "",
    ]
    return "\n".join(lines)


def detectable_sentence(p: dict) -> str:
    """The detectable difference as the board quotes it: simulated through the board's own test."""
    low, high = p["seeds"]
    seeds = f"{low}" if low == high else f"{low} to {high}"
    across = "players" if p.get("players", 0) == p.get("of", 0) else f"{p['players']} of the {p['of']} players"
    spread = "" if low == high == 1 else f" ({p['range'][0]:.2f} to {p['range'][1]:.2f} across {across})"
    return (
        f"With {p['sentences']:,} test sentences and {seeds} seed(s) per player, a {words(p)['who']} must be "
        f"{p['detectable_difference']:.2f} points better than the others{spread} for this board's test to "
        f"separate it from another in {p['power']:.0%} of boards (α = {p['alpha']}, Holm over "
        f"{p['comparisons']} pairs; {p['simulations']:,} boards simulated from this one's spread)."
    )


def rich_table(board: dict):
    from rich.table import Table

    say, layout = words(board), table.TERMINAL
    shown = Table(title=f"tuneoff leaderboard: {say['title']}", show_lines=False)
    for header, side in zip(table.headers(layout, board, short=True), table.align(layout)):
        shown.add_column(esc(header), justify="right" if side == "r" else "left")
    for x in rows(board):
        shown.add_row(*(esc(text) for text in table.cells(layout, x)))
    for r in board["unranked"]:
        colour = "red" if r["status"] == Status.FAILED else "yellow"
        cells = {
            "player": esc(r["player"]),
            "strategy": esc(r["strategy"]),
            "seeds": str(r["seed"]),
            "notes": f"[{colour}]{esc(ended(r))}[/]: {esc(r['error'])}",
        }
        shown.add_row(*(cells.get(key, "-") for key in layout))
    caption = [esc(may_be_best_sentence(board))]
    if board["ranked"]:
        caption.append(
            f"majority-class rate {board['ranked'][0]['majority_rate']:.2%}; points = the game's score "
            "(accuracy in % + speed bonus), apart from the verdict"
        )
    caption += [esc(detectable_sentence(board["power"]))] if board["power"] else []
    caption += [esc(sentence)] if (sentence := extra_sentence(board)) else []
    caption += [
        f"{esc(r['player'])} COLLAPSED, not ranked: {esc(r['collapse_reason'])}"
        for r in board["ranked"]
        if r["collapsed"]
    ]
    caption += [esc(n) for n in board["notes"]]
    caption += [f"{esc(s['player'])} seed {s['seed']}: stale, not ranked" for s in board["stale"]]
    shown.caption = "\n".join(caption) or None
    return shown
