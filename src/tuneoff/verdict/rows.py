"""The leaderboard's rows as text, built once: every cell of a completed player formatted here (through
verdict/format.py), the columns and which output shows which in verdict/table.py; the renderers only lay them out.
Also the sentences of the verdict, in the board's words (format.words). No torch here."""

from __future__ import annotations

from dataclasses import dataclass, field

from tuneoff.store.status import Status
from tuneoff.verdict.format import (
    accuracy,
    accuracy_ci,
    difference,
    inseparable,
    mean_std,
    p_is,
    p_value,
    percent,
    seconds,
    trained_models,
)


@dataclass(frozen=True)
class Note:
    text: str
    kind: str  # best | collapsed | partly-collapsed | missing | fastest | edge


@dataclass(frozen=True)
class Row:
    """One completed player, every cell already formatted (verdict/table.py names the columns)."""

    rank: str  # position by mean accuracy; "–" for a collapsed player (not ranked)
    rank_interval: str  # "1–2": the ranks the data allow, all intervals together at 95 % ("–": not ranked)
    player: str
    strategy: str
    hardware: str
    accuracy: str  # mean ± std over seeds, in points
    ci: str  # 95 % CI of the mean accuracy (seeds and sentences)
    macro_f1: str
    seeds: str  # completed of planned
    std: str  # over seeds; "–" with one seed
    binomial_se: str
    vs_best: str  # "best", "–" (not ranked), or the difference [simultaneous CI], p (Holm)
    diff: str  # "best", "–", or the difference from the first player [simultaneous CI], in points
    p: str  # its Holm p-value; "–" for the first player and an unranked one
    points: str  # the game's score
    game_rank: str
    bonus: str
    train_seconds: str  # the median over seeds
    concurrency: str  # jobs at once while it trained
    parameters: str  # trainable / total
    trainable_share: str
    peak_rss: str
    gap: str  # train minus dev accuracy at the kept epoch
    notes: list[Note] = field(default_factory=list)


def _notes(r: dict) -> list[Note]:
    notes = []
    if r["may_be_best"]:
        notes.append(Note("may be best", "best"))
    if r["collapsed"]:
        k, n = len(r["collapsed_seeds"]), len(r["seeds"]) + r.get("seeds_diverged", 0)
        notes.append(Note(("COLLAPSED" if k == n else f"COLLAPSED in {k} of {n} seeds") + ", not ranked", "collapsed"))
    if (sweep := r.get("tuning")) and sweep.get("on_edge"):
        notes.append(
            Note(f"tuned rate {sweep['learning_rate']:g} on the grid's {sweep['on_edge']} edge: widen the grid", "edge")
        )
    for kind in AXIS_KEYS:
        if sweep and (axis := sweep.get(kind)) and axis.get("on_edge"):
            notes.append(Note(f"tuned {axis['field']} {axis['value']:g} on its {axis['on_edge']} edge", "edge"))
    if len(r["seeds"]) < r["seeds_planned"]:
        why = [
            f"{r[key]} {word}"
            for key, word in (
                ("seeds_failed", Status.FAILED),
                ("seeds_unfinished", "not finished"),
                ("seeds_diverged", "diverged"),
            )
            if r.get(key)
        ]
        notes.append(
            Note(
                f"{len(r['seeds'])} of {r['seeds_planned']} seeds" + (f" ({', '.join(why)})" if why else ""), "missing"
            )
        )
    if borrowed := r.get("seed_variance_borrowed"):
        notes.append(
            Note(
                f"one seed: seed-to-seed spread borrowed from the others (std {100 * borrowed['std']:.2f} "
                f"points, {borrowed['df']:g} df)",
                "missing",
            )
        )
    return notes


def row(r: dict) -> Row:
    """A ranked entry of leaderboard.json as text."""
    first, none = r["rank"] == 1, r["p_vs_best"] is None
    diff = "best" if first else "–" if none else difference(r["diff_vs_best"], r["diff_vs_best_ci95"])
    a, b = r["rank_interval"] or ("–", "–")
    return Row(
        rank="–" if r["rank"] is None else str(r["rank"]),
        rank_interval=f"{a}" if a == b else f"{a}–{b}",
        player=r["player"],
        strategy=r["strategy"],
        hardware=r["hardware"],
        accuracy=mean_std(r["test_accuracy"], r["test_accuracy_std"] if len(r["seeds"]) > 1 else None),
        ci=accuracy_ci(*r["test_accuracy_ci95"]),
        macro_f1=f"{r['macro_f1']:.3f}",
        seeds=f"{len(r['seeds'])}" + (f" of {r['seeds_planned']}" if len(r["seeds"]) < r["seeds_planned"] else ""),
        std=f"{100 * r['test_accuracy_std']:.2f}" if len(r["seeds"]) > 1 else "–",
        binomial_se=f"{100 * r['binomial_se']:.2f}",
        vs_best=diff if first or none else f"{diff}, {p_is(r['p_vs_best'])}",
        diff=diff,
        p="–" if none else p_value(r["p_vs_best"]),
        points=f"{r['points']:.2f}",
        game_rank=str(r["game_rank"]),
        bonus=f"⚡ +{r['bonus']:g}" if r["fastest"] else "",
        train_seconds=seconds(r["train_seconds"]),
        concurrency=", ".join(str(c) for c in r["concurrent_jobs"]),
        parameters=f"{r['trainable_parameters']:,} / {r['total_parameters']:,}",
        trainable_share=percent(r["trainable_parameters"] / r["total_parameters"]),
        peak_rss=f"{r['peak_rss_bytes'] / 2**20:,.1f} MiB",
        gap="–" if r["generalization_gap"] is None else f"{r['generalization_gap']:+.2%}",
        notes=_notes(r),
    )


def edge_sentence(name: str, sweep: dict) -> str:
    """Why a learning rate kept at its grid's edge matters, and what to do (the run's log and the report)."""
    end = "lowest" if sweep["on_edge"] == "low" else "highest"
    return (
        f"{name} kept {sweep['learning_rate']:g}, the {end} rate of its tuning grid: its best rate may lie "
        f"beyond the grid; widen it (tuning.span, or tuning.players.{name}.learning_rates) and run again"
    )


AXIS_KEYS = {"knob": "knob", "second_rate": "second_rates"}  # an axis of the sweep -> a player's own list of it


def edge_sentences(name: str, sweep: dict) -> list[str]:
    """One sentence per axis of the sweep whose kept value is at its edge: the rate, the knob, the second rate."""
    out = [edge_sentence(name, sweep)] if sweep.get("on_edge") else []
    for kind, key in AXIS_KEYS.items():
        if (axis := sweep.get(kind)) and axis.get("on_edge"):
            end = "lowest" if axis["on_edge"] == "low" else "highest"
            out.append(
                f"{name} kept {axis['field']} = {axis['value']:g}, the {end} value its sweep tried: its best "
                f"may lie beyond; widen it (tuning.players.{name}.{key}) and run again"
            )
    return out


def rows(board: dict) -> list[Row]:
    """The completed players in verdict order."""
    return [row(r) for r in board["ranked"]]


def game_rows(board: dict) -> list[Row]:
    """The same players in the game's order (points: accuracy in % + the speed bonus)."""
    return [row(r) for r in sorted(board["ranked"], key=lambda r: (r["game_rank"], -r["points"]))]


def note_text(notes: list[Note], bold=lambda s: s) -> str:
    return ", ".join(bold(n.text) if n.kind == "collapsed" else n.text for n in notes)


def may_be_best_sentence(board: dict) -> str:
    best = board["may_be_best"]
    if not board["ranked"]:
        return "No player has completed yet."
    if not best:
        return "No player may be called best: every player collapsed."
    models = trained_models(board)
    if len(best) == 1:
        if models:
            return (
                f"With 95 % confidence, {best[0]} has the best of the trained models here: every other is "
                "significantly behind it on this test set."
            )
        return f"With 95 % confidence, {best[0]} is the best player here: every other is significantly behind it."
    if models:
        return (
            f"With 95 % confidence the best of the trained models here is one of {', '.join(best)}: these "
            f"{len(best)} {inseparable(board)}."
        )
    return f"With 95 % confidence the best player is one of {', '.join(best)}: these {len(best)} {inseparable(board)}."


def ended(unranked: dict) -> str:
    """How a job that did not complete ended, in the board's words: a running or interrupted job is not
    finished (never failed); a diverged one counts against its player as a collapsed seed."""
    if unranked.get("diverged"):
        return "diverged (counted as a collapsed seed)"
    return Status.FAILED if unranked["status"] == Status.FAILED else f"not finished ({unranked['status']})"


def extra_cell(entry: dict | None) -> str:
    """One player's score on one extra test set: mean ± std over seeds, the 95 % CI where each sentence's
    prediction was kept, and whether it may be best on that set."""
    if entry is None:
        return "–"
    text = accuracy(entry["mean"], entry["std"] if len(entry["per_seed"]) > 1 else None, entry.get("ci95"))
    return text + (", may be best" if entry.get("may_be_best") else "")


def extra_eval_table(ranked: list[dict], own: bool = False) -> tuple[list[str], list[list[str]]]:
    """Extra test sets (mean ± std over seeds, 95 % CI, may be best there), one row per player; empty when there
    are none. ``own`` adds the player's accuracy on its own test set as the first value column."""
    sets = sorted({n for r in ranked for n in r.get("extra_eval", {})})
    if not sets:
        return [], []
    headers = ["player"] + (["test accuracy (own data)"] if own else []) + sets
    body = [
        [r["player"]]
        + ([f"{r['test_accuracy']:.2%}"] if own else [])
        + [extra_cell(r["extra_eval"].get(n)) for n in sets]
        for r in ranked
    ]
    return headers, body


def all_pairs(board: dict) -> list[dict]:
    """Every pair the board's Holm family holds: the test set's and every extra set's."""
    return board["pairwise"] + [q for v in (board.get("extra_eval") or {}).values() for q in v["pairwise"]]


def extra_sentence(board: dict) -> str:
    """Which players may be best on each extra test set (the same test as the test set's, in the board's one
    Holm family); empty when no set kept its predictions."""
    parts = []
    for name, verdict in (board.get("extra_eval") or {}).items():
        if note := verdict.get("note"):
            parts.append(f"{name}: {note}.")
        elif verdict["players"]:
            best = verdict["may_be_best"]
            who = "trained models" if trained_models(board) else "players"  # one seed: no claim about strategies
            parts.append(
                f"On {name}, with 95 % confidence the best of the {len(verdict['players'])} {who} scored "
                f"there is {'one of ' if len(best) > 1 else ''}{', '.join(best) or 'none (all collapsed)'}."
            )
    if parts:
        parts.append(
            f"Every pair on every test set is one Holm family ({len(all_pairs(board))} pairs), so these "
            "verdicts and the test set's hold together."
        )
    return " ".join(parts)
