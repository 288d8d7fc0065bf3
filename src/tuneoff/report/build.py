"""The run report: one offline HTML file and its Markdown twin, built from the results files only.

It never trains and never imports torch: it reads ``tournament.json`` and the jobs'
results, scores them with :mod:`tuneoff.verdict.board`, and draws the charts with
:mod:`tuneoff.report.figures` and :mod:`tuneoff.report.figures_seeds`. The same results give the same files.
"""

from __future__ import annotations

import re
from pathlib import Path

from tuneoff.report import figures, figures_seeds, views
from tuneoff.report.next_steps import ANCHOR as NEXT
from tuneoff.report.next_steps import next_steps
from tuneoff.report.render import Badge, Block, Link, Small, Swatch, View, image_chart, render_html, render_md
from tuneoff.report.setup import setup_section, status_badge
from tuneoff.store.files import write_atomic
from tuneoff.store.runfolder import RunFolder, RunFolderError, seed_label
from tuneoff.store.status import Status, Unrecorded
from tuneoff.verdict import table
from tuneoff.verdict.board import Run, detectable_sentence, read_run
from tuneoff.verdict.format import difference, p_value, seconds, words
from tuneoff.verdict.rows import Row, edge_sentences, extra_eval_table, extra_sentence, game_rows, may_be_best_sentence
from tuneoff.verdict.rows import rows as board_rows


def build_report(run_dir: RunFolder | Path) -> dict:
    """Write the run folder's report.html (self-contained) and report.md (+ figures/*.png)."""
    run = read_run(run_dir)
    blocks, title = document(run)
    home, folder = run.folder.path, run.folder.figures
    html_path, md_path = run.folder.report_paths()
    pngs = {folder / f"{c.name}.png": c.png for c in (image_chart(b) for b in blocks if b.kind == "image")}
    # Only files this tool wrote (listed in the manifest) are ever replaced or removed.
    ours = run.folder.generated()
    mine = [p for p in [*pngs, html_path, md_path] if p.exists() and p.relative_to(home).as_posix() not in ours]
    if mine:
        raise RunFolderError(f"{mine[0]}: exists and was not written by tuneoff; move it away to build the report")
    old = [p for p in folder.glob("*.png") if p not in pngs and p.relative_to(home).as_posix() in ours]
    run.folder.record_generated([*pngs, html_path, md_path])
    for path in old:
        path.unlink()
    run.folder.record_generated([], forget=old)
    for path, png in pngs.items():
        _write(path, png)
    _write(html_path, render_html(blocks, title).encode())
    _write(md_path, render_md(blocks).encode())
    return {"html": html_path, "md": md_path}


def _write(path: Path, data: bytes) -> None:
    if not (path.is_file() and path.read_bytes() == data):  # unchanged files keep their timestamps
        write_atomic(path, data)


def version() -> str:
    from tuneoff import __version__

    return __version__


def _slug(i: int, name: str) -> str:
    return f"{i + 1:02d}-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "player")


def job_states(run: Run, name: str) -> list[tuple[str, str, str]]:
    """(job label, status, why) for every job the config asks of this player, and any others it has."""
    have = {seed_label(r["seed"], r["data_seed"]): r for r in run.jobs.get(name, [])}
    stale = {seed_label(s["seed"], s["data_seed"]): s["reason"] for s in run.stale if s["player"] == name}
    unreadable = {k.split("/", 1)[1]: v for k, v in run.problems.items() if k.split("/", 1)[0] == name}
    out = []
    for label in dict.fromkeys(run.expected.get(name, []) + sorted(have) + sorted(stale) + sorted(unreadable)):
        if label in have:
            r = have[label]
            why = r["error"] or (
                "marked running: still training, or stopped without recording its end (killed)"
                if r["status"] == Status.RUNNING
                else ""
            )
            out.append((label, r["status"], why))
        elif label in stale:
            out.append((label, Unrecorded.STALE, f"trained under another config ({stale[label]}); not ranked"))
        elif label in unreadable:
            out.append((label, Unrecorded.UNREADABLE, f"results file unreadable: {unreadable[label]}"))
        else:
            where = run.folder.job(name, label).result_path.relative_to(run.folder.path).as_posix()
            out.append(
                (label, Unrecorded.MISSING, f"no results file yet ({where}): not started, or the run used --only")
            )
    return out


def document(run: Run) -> tuple[list[Block], str]:
    title = f"tuneoff report: {run.tournament.get('name') or run.folder.path.name}"
    look = figures.looks(run.names)
    blocks = _header(run, title) + _leaderboard(run, look) + _explore(run, look) + _verdicts(run) + _players(run, look)
    blocks += _compare(run, look) + setup_section(run, job_states) + next_steps(run)
    blocks.append(
        Block(
            "p",
            f"Built by tuneoff {version()} from the results files of this run; nothing was trained "
            "to make this report.",
        )
    )
    return blocks, title


CONTENTS = [
    ("Leaderboard", "leaderboard"),
    ("How sure we are", "how-sure-we-are"),
    ("Players", "players"),
    ("All players compared", "all-players-compared"),
    ("Protocol and environment", "protocol-environment-warnings-and-failures"),
    ("Failures and missing jobs", "failures-and-missing-jobs"),
    ("Next steps", NEXT),
]


def _header(run: Run, title: str) -> list[Block]:
    b = [Block("h1", title)]
    if run.tournament.get("description"):
        b.append(Block("p", run.tournament["description"]))
    facts = [f"Run folder: {run.folder.path.name}"] + [
        f"{label}: {run.meta[key]}"
        for key, label in (("config_file", "config file"), ("written_at", "started"))
        if run.meta.get(key)
    ]
    b.append(Block("p", "; ".join(facts) + "."))
    states = [s for n in run.names for _, s, _ in job_states(run, n)]
    counts = {s: states.count(s) for s in dict.fromkeys(states)}
    summary = f"{len(run.names)} players, {len(states)} jobs: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + "."
    unfinished = sorted({n for n in run.names for _, s, _ in job_states(run, n) if s != Status.COMPLETED})
    if unfinished:
        b.append(
            Block(
                "warn",
                [
                    summary,
                    f"Incomplete run: not every job of {', '.join(unfinished)} completed. See",
                    Link("Failures and missing jobs", "failures-and-missing-jobs"),
                ],
            )
        )
    else:
        b.append(Block("note", summary))
    links = [part for text, anchor in CONTENTS for part in ("·", Link(text, anchor))][1:]
    explore = ["·", Link(*EXPLORE)] if run.board["ranked"] else []
    return b + [
        Block("p", ["Contents:"] + links[:1] + explore + links[1:], only="html"),
        Block("p", ["Contents:"] + links, only="md"),
    ]


BADGES = {"best": "best", "collapsed": "collapsed", "missing": "missing", "edge": "warn"}

MEANING = (
    "How to read this. Every pair of players is compared on the same test sentences with a test that counts "
    "{noise}, corrected for the number of pairs. A player's rank interval holds every rank the data allow: "
    "1–3 means it could be first, second or third; all intervals hold together with 95 % confidence. The "
    "players whose interval holds 1 may be best: {best} is among them, 95 % sure, and they cannot be "
    "separated here. That is not the same as being equal: more seeds or a larger test set could still "
    "separate them. A collapsed player is not ranked."
)


def _cell(entry, x: Row, look: dict):
    """A cell of the board's table (verdict/table.py), decorated: the player's colour, badges, the bonus, and a
    stack's further columns in small type under the first."""
    key = entry if isinstance(entry, str) else entry[0]
    if key == "player":
        return [Swatch(look[x.player].color), x.player]
    if key == "notes":
        return [Badge(n.text, BADGES[n.kind]) if n.kind in BADGES else Small(n.text) for n in x.notes]
    if key == "bonus":
        return Badge(x.bonus, "fastest") if x.bonus else ""
    text, *under = table.parts(entry, x)
    return [text, *map(Small, under)] if under else text


def _table(layout: table.Layout, board: dict, shown: list[Row], look: dict, **extra) -> Block:
    return Block(
        "table",
        headers=table.headers(layout, board),
        align=table.align(layout),
        **extra,
        rows=[[_cell(entry, x, look) for entry in layout] for x in shown],
    )


def _leaderboard(run: Run, look: dict) -> list[Block]:
    board, b = run.board, [Block("h2", "Leaderboard", anchor="leaderboard")]
    rules, ranked = board["rules"], board["ranked"]
    if not ranked:
        b.append(Block("warn", "No player has completed yet, so nobody is ranked."))
    else:
        b.append(Block("note", may_be_best_sentence(board)))
        data = [{"strategy": r["strategy"], "dataset": views.dataset(run.completed(r["player"])[0])} for r in ranked]
        b.append(
            _table(
                table.REPORT,
                board,
                board_rows(board),
                look,
                row_ids=[r["player"] for r in ranked],
                row_data=data,
                filter=" ".join(views.FILTERS),
            )
        )
        b.append(Block("p", MEANING.format(**words(board))))
        b.append(
            Block(
                "p",
                f"Majority-class rate (always answering the largest test class): "
                f"{ranked[0]['majority_rate']:.2%}. A player near this accuracy has learned nothing.",
            )
        )
        if board["power"]:
            b.append(Block("note", detectable_sentence(board["power"])))
        collapsed = [
            [Badge("COLLAPSED", "collapsed"), f"{r['player']}: {r['collapse_reason']}"]
            for r in ranked
            if r["collapsed"]
        ]
        b += [Block("list", rows=collapsed)] if collapsed else []
        b.append(Block("h3", "The game's score"))
        b.append(
            Block(
                "p",
                f"Apart from the verdict: {rules['points']} ({rules['fastest_bonus']:g} points). "
                f"Speed: {rules['speed']}.",
            )
        )
        b.append(_table(table.GAME, board, game_rows(board), look))
    b += [Block("note", n) for n in board["notes"]]
    b.append(Block("p", f"Collapsed: {rules['collapse']}. {rules['groups'].capitalize()}."))
    bad = [(n, label, s, why) for n in run.names for label, s, why in job_states(run, n) if s != Status.COMPLETED]
    if bad:
        b.append(Block("p", "Not ranked:"))
        b.append(
            Block(
                "list", rows=[[Swatch(look[n].color), f"{n} {label}", status_badge(s), why] for n, label, s, why in bad]
            )
        )
    if ranked:
        b.append(Block("image", chart=figures_seeds.seed_strip(ranked, look)))
    return b


EXPLORE = ("Explore the jobs", "explore-the-jobs")


def _explore(run: Run, look: dict) -> list[Block]:
    """The interactive charts, HTML only: hover a point to see its job; the leaderboard's filter applies."""
    ranked = run.board["ranked"]
    if not ranked:
        return []
    jobs = views.jobs(ranked, run.completed)
    return [
        Block("h2", EXPLORE[0], anchor=EXPLORE[1], only="html"),
        Block(
            "p",
            "Interactive: hover a point to see its job; the filter above the leaderboard also filters the "
            "first two charts, and a click on a column's header sorts the leaderboard.",
            only="html",
        ),
        Block(
            "view",
            View(
                "jobs",
                views.strip(jobs, look),
                "Test accuracy of every job, players in rank order; hollow: collapsed.",
                linked=True,
            ),
        ),
        Block(
            "view",
            View(
                "cost",
                views.pareto(jobs, look),
                "Accuracy against training time and trainable "
                "parameters, one point per job: up and to the left is better.",
                linked=True,
            ),
        ),
        Block(
            "view",
            View(
                "curves",
                views.loss_curves(views.curves(run.names, run.completed), ranked[0]["player"]),
                "Train (solid) and dev (dashed) loss per epoch of each job of the player picked.",
            ),
        ),
    ]


def _verdicts(run: Run) -> list[Block]:
    b = [Block("h2", "How sure we are", anchor="how-sure-we-are")]
    ranked = run.board["ranked"]
    if not ranked:
        return b + [Block("p", "No completed player yet.")]
    return b + _spread(ranked) + _across_data_sets(run, ranked) + _pairwise(run, ranked)


def _spread(ranked: list[dict]) -> list[Block]:
    """Each player's spread over seeds against the test set's binomial floor."""
    return [
        Block(
            "p",
            "Spread over seeds against the floor set by the test set's size: the binomial standard "
            "error of one accuracy on these test sentences.",
        ),
        Block(
            "table",
            headers=[
                "player",
                "seeds",
                "std over seeds",
                "binomial SE",
                "95 % CI width",
                "generalisation gap at the kept epoch",
            ],
            align="lrrrrr",
            rows=[
                [
                    r["player"],
                    str(len(r["seeds"])),
                    f"{100 * r['test_accuracy_std']:.2f} points" if len(r["seeds"]) > 1 else "– (one seed)",
                    f"{100 * r['binomial_se']:.2f} points",
                    f"{100 * (r['test_accuracy_ci95'][1] - r['test_accuracy_ci95'][0]):.2f} points",
                    "–" if r["generalization_gap"] is None else f"{r['generalization_gap']:+.2%}",
                ]
                for r in ranked
            ],
        ),
    ]


def _across_data_sets(run: Run, ranked: list[dict]) -> list[Block]:
    """The kept weights' scores on the extra test sets, if any were scored."""
    b: list[Block] = []
    headers, extra = extra_eval_table(ranked, own=True)
    if extra:
        b.append(
            Block(
                "p",
                "Across data sets: each player's kept weights scored once on extra test sets "
                "(mean over seeds ± std, and the 95 % CI over seeds and sentences where each "
                "sentence's prediction was kept; never used to choose anything, not part of the points).",
            )
        )
        b.append(Block("table", headers=headers, align="l" + "r" * (len(headers) - 1), rows=extra))
        if sentence := extra_sentence(run.board):
            b.append(Block("p", sentence))
    return b


def _pairwise(run: Run, ranked: list[dict]) -> list[Block]:
    """Every pair's paired test, Holm-corrected, as a table and a matrix."""
    b: list[Block] = []
    pairs = run.board["pairwise"]
    if pairs:
        names = [r["player"] for r in ranked]
        over = words(run.board)["over"]
        family = run.board["power"]["comparisons"] if run.board["power"] else len(pairs)
        b.append(
            Block(
                "p",
                "Every pair: the first player's accuracy minus the second's, in points, with a paired t "
                f"test on the same test sentences over {over}, Holm-corrected over the board's {family} "
                "pairs (every test set's); the CI is simultaneous over them; * marks a pair that can be "
                "separated.",
            )
        )
        b.append(
            Block(
                "table",
                headers=["pair", "difference, points [simultaneous 95 % CI]", "p", "p (Holm)", "test"],
                align="lrrrl",
                rows=[
                    [
                        f"{q['a']} − {q['b']}",
                        difference(q["diff"], q["ci95"]),
                        p_value(q["p"]),
                        p_value(q["p_holm"]) + (" *" if q["separable"] else ""),
                        q["test"],
                    ]
                    for q in pairs
                ],
            )
        )
        b.append(Block("image", chart=figures_seeds.pairwise_matrix(pairs, names)))
    return b


def _players(run: Run, look: dict) -> list[Block]:
    method = words(run.board)["method"]
    b = [Block("h2", "Players", anchor="players")]
    ranked = {r["player"]: r for r in run.board["ranked"]}
    for i, name in enumerate(run.names):
        runs, row, slug = run.completed(name), ranked.get(name), _slug(i, name)
        b.append(
            Block(
                "h3",
                [Swatch(look[name].color), name]
                + ([Badge("COLLAPSED", "collapsed")] if row and row["collapsed"] else []),
                anchor=f"player-{slug}",
            )
        )
        player = (run.jobs.get(name) or [{}])[0].get("player") or next(
            (p for p in run.config.get("players", []) if p["name"] == name), None
        )
        if player:
            b += _player_facts(player, runs, method)
        for w in dict.fromkeys(w for r in run.jobs.get(name, []) for w in r["warnings"]):
            b.append(Block("warn", [Badge("warning", "warn"), w]))
        states = job_states(run, name)
        b.append(
            Block(
                "table",
                headers=[
                    "job",
                    "status",
                    "kept epoch",
                    "lowest dev loss at",
                    "dev acc",
                    "test acc",
                    "macro-F1",
                    "gap",
                    "training",
                ],
                align="llrrrrrrr",
                rows=[_job_row(run, name, label, status, why) for label, status, why in states],
            )
        )
        if not runs:
            continue
        b.append(Block("image", chart=figures_seeds.player_band_curves(runs, look[name], slug)))
        pooled = _pooled(runs)
        if any(map(any, pooled["test"]["confusion_matrix"])):
            b.append(Block("image", chart=figures.confusion(pooled, slug)))
    return b


def _player_facts(player: dict, runs: list[dict], method: str = "strategy") -> list[Block]:
    from tuneoff.report.setup import value

    strategy = dict(player["strategy"])
    kind = strategy.pop("name")
    model = runs[0]["model"] if runs else None
    model = (
        f"{model['description']} ({'pretrained' if model['pretrained'] else 'randomly initialised'})"
        if model
        else value({k: v for k, v in player["model"].items() if v is not None})
    )
    out = [Block("p", player["description"])] if player.get("description") else []
    facts = [
        f"Model: {model}",
        f"{method.capitalize()}: {kind}" + (f" ({value(strategy)})" if strategy else ""),
        f"Protocol overrides: {value(player.get('protocol', {}))}",
    ]
    if runs and (sweep := runs[0].get("tuning")):
        edge = {"low": " (the grid's lowest: widen it)", "high": " (the grid's highest: widen it)"}
        facts.append(
            f"Learning rate {sweep['learning_rate']:g} kept on dev{edge.get(sweep.get('on_edge'), '')}, of "
            + ", ".join(f"{r:g}" for r in sweep["learning_rates"])
        )
        facts += [
            f"{axis['field']} {axis['value']:g} kept on dev{edge.get(axis.get('on_edge'), '')}, of "
            + ", ".join(f"{v:g}" for v in axis["values"])
            for k in ("second_rate", "knob")
            if (axis := sweep.get(k))
        ]
    return out + [Block("list", rows=facts)]


def _job_row(run: Run, name: str, label: str, status: str, why: str) -> list:
    r = next((x for x in run.jobs.get(name, []) if seed_label(x["seed"], x["data_seed"]) == label), None)
    if status != Status.COMPLETED or r is None:
        return [label, [status_badge(status), Small(why) if why else None], "", "", "", "", "", "", ""]
    kept, gap = r["history"]["epochs"][r["best_epoch"] - 1], r["generalization"]["gap_at_best_epoch"]
    return [
        label,
        Status.COMPLETED,
        f"{r['best_epoch']} of {len(r['history']['epochs'])}",
        str(r["generalization"]["lowest_dev_loss_epoch"]),
        f"{kept['dev_accuracy']:.2%}",
        f"{r['test']['accuracy']:.2%}",
        f"{r['test']['macro_f1']:.3f}",
        "–" if gap is None else f"{gap:+.2%}",
        seconds(r["timing"]["train_seconds"]),
    ]


def _pooled(runs: list[dict]) -> dict:
    """A result-shaped dict whose confusion matrix sums the seeds' (for one picture per player)."""
    n = len(runs[0]["test"]["confusion_matrix"])
    matrix = [[sum(r["test"]["confusion_matrix"][i][j] for r in runs) for j in range(n)] for i in range(n)]
    name = runs[0]["player"]["name"] + ("" if len(runs) == 1 else f" ({len(runs)} seeds pooled)")
    return {"player": {"name": name}, "labels": runs[0]["labels"], "test": {"confusion_matrix": matrix}}


def _compare(run: Run, look: dict) -> list[Block]:
    b = [Block("h2", "All players compared", anchor="all-players-compared")]
    by_player = {n: run.completed(n) for n in run.names if run.completed(n)}
    if not by_player:
        return b + [Block("p", "No completed player yet.")]
    if len({r["hardware"] for r in run.board["ranked"]}) > 1:
        b.append(Block("warn", "Players ran on different hardware: their training times are not comparable."))
    b.append(Block("image", chart=figures_seeds.overlays(by_player, look)))
    if any(r["history"].get("steps") for runs in by_player.values() for r in runs):
        b.append(Block("image", chart=figures_seeds.step_losses(by_player, look)))
    sweeps = {n: runs[0]["tuning"] for n, runs in by_player.items() if runs[0].get("tuning")}
    if sweeps:
        b.append(Block("image", chart=figures_seeds.tuning_curves(sweeps, look)))
        b += [Block("warn", sentence) for n, s in sweeps.items() for sentence in edge_sentences(n, s)]
    b.append(Block("image", chart=figures.pareto(run.board["ranked"], look)))
    return b
