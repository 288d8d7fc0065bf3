"""Where benchmark figures go: Markdown sections appended to a results file, each with its command."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def command(script: str, argv: list[str] | None = None) -> str:
    """The command line that reproduces this run of ``benchmarks/<script>`` (shell-quoted)."""
    return shlex.join(["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])


def append(out: Path, text: str) -> None:
    """Append text to the results file (created with its title if missing)."""
    out.write_text((out.read_text() if out.exists() else "# Benchmark results\n\n") + text)


def append_section(out: Path, lines: list[str]) -> None:
    """Print a Markdown section and append it to the results file."""
    text = "\n".join(lines) + "\n"
    print(text)
    append(out, text)
