"""The leaderboard's table, defined once: every column's header, alignment and cell (a field of
:class:`~tuneoff.verdict.rows.Row`, already formatted), and which columns each output shows. The renderers (the
terminal's rich table and leaderboard.md in verdict/board.py, the report, benchmarks/tables.py) only lay the
cells out and decorate them (a colour swatch, a badge, bold).

A layout lists column keys; an entry may also be a stack of keys, one cell holding the first column's text with
the others under it, each named by its header ("95 % CI 47.13% – 66.87%"): the report stacks to stay narrow.
No torch here."""

from __future__ import annotations

from dataclasses import dataclass

from tuneoff.verdict.format import words
from tuneoff.verdict.rows import Row, note_text


@dataclass(frozen=True)
class Column:
    key: str  # the Row field it shows
    header: str  # "{method}" is the board's word for what a player brings (strategy, or method)
    align: str  # "l" or "r"
    short: str = ""  # the header where width is scarce (the terminal); default: the header

    def text(self, x: Row) -> str:
        value = getattr(x, self.key)
        return note_text(value) if self.key == "notes" else value


COLUMNS = {
    c.key: c
    for c in (
        Column("rank", "rank", "r"),  # by mean accuracy; "–": collapsed, not ranked
        Column("rank_interval", "rank interval", "r", "interval"),
        Column("player", "player", "l"),
        Column("strategy", "{method}", "l"),
        Column("accuracy", "test accuracy, mean ± std", "r", "test acc"),
        Column("ci", "95 % CI", "r"),
        Column("macro_f1", "macro-F1", "r"),
        Column("seeds", "seeds", "r"),
        Column("std", "std over seeds, points", "r"),
        Column("binomial_se", "binomial SE, points", "r"),
        Column("vs_best", "vs best, points [simultaneous 95 % CI], p (Holm)", "l", "vs best"),
        Column("diff", "vs best, points [simultaneous 95 % CI]", "l"),
        Column("p", "p (Holm)", "r"),
        Column("parameters", "trainable / total parameters", "r"),
        Column("trainable_share", "trainable", "r"),
        Column("peak_rss", "peak memory (RSS)", "r"),
        Column("gap", "generalisation gap", "r"),
        Column("notes", "notes", "l"),
        Column("game_rank", "game rank", "r"),
        Column("points", "points", "r"),
        Column("bonus", "bonus", "l"),
        Column("train_seconds", "training time (median)", "r"),
        Column("concurrency", "jobs at once", "r"),
        Column("hardware", "device", "l"),
    )
}

VERDICT = ("rank", "rank_interval", "player", "strategy", "accuracy", "ci", "seeds", "vs_best")  # every output
MARKDOWN = (*VERDICT, "notes")  # leaderboard.md (the game's score is a table of its own)
TERMINAL = (*VERDICT, "points", "bonus", "notes")  # one table: the verdict, and the game's score beside it
REPORT = (
    *VERDICT[:4],
    ("accuracy", "ci", "macro_f1"),
    *VERDICT[6:],
    ("parameters", "trainable_share"),
    "peak_rss",
    "notes",
)
GAME = ("game_rank", "player", "points", "bonus", "train_seconds", "concurrency", "hardware")  # apart from the verdict
BENCHMARK = (
    "rank",
    "rank_interval",
    "player",
    "strategy",
    "accuracy",
    "ci",
    "seeds",
    "std",
    "binomial_se",
    "diff",
    "p",
    "parameters",
    "train_seconds",
    "peak_rss",
    "points",
    "bonus",
    "gap",
    "notes",
)  # benchmarks/tables.py


Layout = tuple  # of column keys, and of stacks of them (tuples)


def _keys(entry) -> tuple[str, ...]:
    return (entry,) if isinstance(entry, str) else entry


def headers(layout: Layout, board: dict, short: bool = False) -> list[str]:
    """The layout's headers in the board's words (a stack's: its first column's); ``short``: where width is
    scarce."""
    say, shown = words(board), [COLUMNS[_keys(entry)[0]] for entry in layout]
    return [((short and c.short) or c.header).format(**say) for c in shown]


def align(layout: Layout) -> str:
    return "".join(COLUMNS[_keys(entry)[0]].align for entry in layout)


def parts(entry, x: Row) -> list[str]:
    """An entry's cell: its first column's text, then each stacked column's, named by its header."""
    first, *under = _keys(entry)
    return [COLUMNS[first].text(x)] + [f"{COLUMNS[key].header} {COLUMNS[key].text(x)}" for key in under]


def cells(layout: Layout, x: Row) -> list[str]:
    """The row's cells as plain text (a stack's parts on one line)."""
    return [" ".join(parts(entry, x)) for entry in layout]


def markdown(layout: Layout, board: dict, shown: list[Row]) -> list[str]:
    """The layout as a Markdown table (a collapsed player's note in bold)."""
    lines = [
        "| " + " | ".join(headers(layout, board)) + " |",
        "|" + "".join("---:|" if a == "r" else "---|" for a in align(layout)),
    ]
    for x in shown:
        row = [
            note_text(x.notes, bold=lambda t: f"**{t}**") if key == "notes" else text
            for key, text in zip(layout, cells(layout, x))
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines
