"""The one way tuneoff prints: our own styling is markup, everything else is text.

Rich reads ``[...]`` as markup and ``:name:`` as an emoji code. A sentence typed by
the user (``"[/b] great [sic]"``), a file's content, a path or an error message
(``train.txt:100: malformed tree``) must print exactly as it is, so every such
value goes through :func:`esc`, and emoji codes are off for the whole console.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output (logs, CI) gets a wide console so tables and paths are not cut or wrapped.
    return Console(
        soft_wrap=True,
        width=None if stream.isatty() else 160,
        emoji=False,
        highlight=False,
        stderr=stderr,
    )


def esc(value) -> str:
    """Any value as literal text inside a markup string."""
    return escape(str(value))


def error(console: Console, message) -> None:
    console.print(f"[bold red]error:[/] {esc(message)}")


def warning_panel(message: str) -> Panel:
    return Panel(Text(message), title="WARNING", style="bold red")
