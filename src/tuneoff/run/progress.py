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
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), LossColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                    transient=False, disable=not live)
