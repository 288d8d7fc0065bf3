"""What a result is: one self-describing JSON per job (and one per tuning trial), validated against a
shipped schema, and how its recorded identity differs from the current one. No torch here."""

from __future__ import annotations

from pathlib import Path

from tuneoff.store.files import FileError, read_json
from tuneoff.store.schemas import SchemaError, validate

SCHEMA_VERSION = "tuneoff.result/2"
TRIAL_SCHEMA = "tuneoff.tuning/1"


class ResultsError(ValueError):
    """A results file that cannot be used; the message names the path."""


def check(document: dict, kind: str, where: str) -> None:
    """Validate a result ("result") or a trial record ("tuning") before it is written or after it is read."""
    try:
        validate(document, kind, where)
    except SchemaError as err:
        raise ResultsError(str(err)) from None


def read_result(path: Path) -> dict:
    """A job's result; a damaged, foreign or other-version file raises ResultsError naming it."""
    data = _read(path, "tuneoff result")
    if (
        isinstance(data.get("schema"), str)
        and data["schema"].startswith("tuneoff.result/")
        and data["schema"] != SCHEMA_VERSION
    ):
        raise ResultsError(
            f"{path}: written by another tuneoff version ({data['schema']}, this one reads "
            f"{SCHEMA_VERSION}); `tuneoff run` trains it again"
        )
    check(data, "result", str(path))
    return data


def read_trial(path: Path) -> dict:
    """A tuning trial's record; a damaged or foreign file raises ResultsError naming it."""
    data = _read(path, "tuneoff tuning record")
    if data.get("schema") != TRIAL_SCHEMA:
        raise ResultsError(f"{path}: not a {TRIAL_SCHEMA} record (schema {data.get('schema')!r})")
    check(data, "tuning", str(path))
    return data


def _read(path: Path, what: str) -> dict:
    try:
        data = read_json(path, "JSON")
    except FileError as err:
        raise ResultsError(str(err)) from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: not a {what} (a JSON {type(data).__name__}, not an object)")
    return data


def differences(recorded: dict, expected: dict, prefix: str = "") -> list[str]:
    """Where a result's recorded identity differs from the current one: 'protocol.epochs: 2 -> 1'."""
    out = []
    for key in sorted(set(recorded) | set(expected)):
        a, b, where = recorded.get(key, "(absent)"), expected.get(key, "(absent)"), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, where + ".")
        elif a != b:
            short = lambda v: v[:12] + "…" if isinstance(v, str) and len(v) > 16 else v
            out.append(f"{where}: {short(a)} in the result, {short(b)} now")
    return out
