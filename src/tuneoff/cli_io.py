"""What the command line reads and writes besides its own messages: sentences from stdin or a file, JSON for
``--json`` (on stdout, the messages then going to stderr), and shell completion scripts (``shtab``)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

SHELLS = ("bash", "zsh", "tcsh")
# argument dests completed as folders or files (shtab's markers), whichever subcommand has them
FOLDERS = {"run_dir", "run_a", "run_b", "out", "data_dir"}
FILES = {"config", "file", "ray_runtime_env"}


def wants_json_on_stdout(args: argparse.Namespace) -> bool:
    """--json as a flag (leaderboard, list, predict, data, score) or compare's ``--json -``."""
    value = getattr(args, "json", None)
    return value is True or value == "-"


def emit_json(document, to: str | None = "-") -> None:
    """The document as JSON on stdout ("-" or None), else into the file ``to`` (atomically)."""
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    if to in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from tuneoff.store.files import write_json

        write_json(Path(to), document)


def read_texts(texts: list[str], file: str | None) -> list[str]:
    """The sentences to label: given as arguments, one per line of ``--file``, or one per line of stdin when the
    only argument is "-" (blank lines skipped); at least one, from exactly one of these."""
    if file is not None and texts:
        raise ValueError(f"--file {file}: give sentences as arguments or in a file, not both")
    if "-" in texts and texts != ["-"]:
        raise ValueError("'-' reads the sentences from stdin: give it alone")
    if file is not None:
        path = Path(file)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise ValueError(f"--file {file}: cannot be read ({err.strerror or err})") from None
        lines = raw.decode("utf-8", "surrogateescape").splitlines()
    elif texts == ["-"]:
        lines = sys.stdin.read().splitlines()
    else:
        lines = texts
    out = [line for line in lines if line.strip()] if (file is not None or texts == ["-"]) else lines
    if not out:
        raise ValueError(
            "no sentence to label: give them as arguments, '-' to read stdin, or --file FILE (one per line)"
        )
    return out


def predictions_document(predictions) -> list[dict]:
    """predict --json: each sentence with its label, every label's probability, and its notes."""
    return [{**asdict(p), "label": max(p.probabilities, key=p.probabilities.get)} for p in predictions]


def dataset_document(dataset) -> dict:
    """data --json: a data set's splits with their counts, class distribution and fingerprints."""
    splits = []
    for split in dataset.splits():
        counts = split.class_counts(len(dataset.labels))
        splits.append(
            {
                "split": split.name,
                "examples": len(split),
                "sha256": split.sha256,
                "file_sha256": dataset.files.get(split.name),
                "class_counts": dict(zip(dataset.labels, counts)),
            }
        )
    return {
        "name": dataset.name,
        "root": str(dataset.root),
        "source": dataset.source,
        "labels": list(dataset.labels),
        "checksums_ok": dataset.checksums_ok,
        "splits": splits,
    }


def _mark(parser: argparse.ArgumentParser, shtab) -> None:
    """Tell shtab which arguments are folders and files, in every subcommand."""
    for action in parser._actions:
        if action.dest in FOLDERS or action.metavar == "DIR":
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]  # shtab's attribute on argparse's
        elif action.dest in FILES or action.metavar == "FILE":
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark(sub, shtab)


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The shell's completion script for the whole command line (``tuneoff completion bash``)."""
    import shtab

    _mark(parser, shtab)
    return shtab.complete(parser, shell=shell)
