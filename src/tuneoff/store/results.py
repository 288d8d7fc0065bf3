"""Results files: one self-describing JSON per player, validated against a shipped schema.

This module does not import torch: the leaderboard and the report read results
through it alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path

SCHEMA_VERSION = "tuneoff.result/2"
RESULT_FILE = "result.json"


class ResultsError(ValueError):
    pass


@cache
def schema() -> dict:
    return json.loads((resources.files("tuneoff") / "schema" / "result.schema.json").read_text())


def validate(result: dict, where: str = "result") -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(result), key=lambda e: list(e.path))
    if errors:
        lines = [f"{where}: {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors[:10]]
        raise ResultsError("\n".join(lines))


def write_atomic(path: Path, data: bytes) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def write_result(player_dir: Path, result: dict) -> Path:
    validate(result, str(player_dir / RESULT_FILE))
    write_json(player_dir / RESULT_FILE, result)
    return player_dir / RESULT_FILE


def read_result(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ResultsError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}:{err.lineno}: not valid JSON: {err.msg} (column {err.colno})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: not a tuneoff result (a JSON {type(data).__name__}, not an object)")
    if isinstance(data.get("schema"), str) and data["schema"].startswith("tuneoff.result/") and \
            data["schema"] != SCHEMA_VERSION:
        raise ResultsError(f"{path}: written by another tuneoff version ({data['schema']}, this one reads "
                           f"{SCHEMA_VERSION}); `tuneoff run` trains it again")
    validate(data, str(path))
    return data


def job_dirs(run_dir: Path) -> list[Path]:
    """Every job folder of a run: players/<player>/<seed label>/."""
    return sorted(p for p in (Path(run_dir) / "players").glob("*/*") if p.is_dir())


def player_names(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (Path(run_dir) / "players").glob("*") if p.is_dir())


def load_results(run_dir: Path, problems: dict[str, str] | None = None) -> list[dict]:
    """Every job's result in a run folder, sorted by player then seed.

    An unreadable or invalid file raises, unless ``problems`` is given: then it is
    recorded there (job folder relative to players/ -> why) and the other results still load.
    """
    results = []
    for d in job_dirs(run_dir):
        if (d / RESULT_FILE).is_file():
            try:
                results.append(read_result(d / RESULT_FILE))
            except ResultsError as err:
                if problems is None:
                    raise
                problems[f"{d.parent.name}/{d.name}"] = str(err)
    return sorted(results, key=lambda r: (r["player"]["name"], r["seed"], r["data_seed"] or -1))
