"""Live progress bars: one per epoch with the running loss, and one over a pool's jobs."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class LossColumn(ProgressColumn):
    def render(self, task) -> Text:
        loss = task.fields.get("loss")
        return Text(f"loss {loss:.3f}" if loss is not None else "")


def make_progress(console: Console, live: bool = True) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        LossColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not live,
    )


def duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 1 h 02 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    return f"{minutes} min {sec:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Tally:
    """The jobs of a run played one after another: which one this is ("job 3 of 8") and, from the jobs already
    played in this run, about how long the tournament has left (the mean job's time × the jobs left)."""

    def __init__(self):
        self.seconds: list[float] = []

    def done(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def heading(self, position: tuple[int, int] | None) -> str:
        if position is None:
            return ""
        index, total = position
        text = f"job {index} of {total}"
        if self.seconds and total >= index:
            left = sum(self.seconds) / len(self.seconds) * (total - index + 1)
            text += f", tournament ETA about {duration(left)}"
        return text


def positions(count: int, start: int, total: int) -> list[tuple[int, int]]:
    """(index, total) of ``count`` jobs that begin at job ``start`` (1-based) of ``total``."""
    return [(start + i, total) for i in range(count)]
