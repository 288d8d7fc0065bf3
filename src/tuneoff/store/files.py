"""Writing files so that a reader sees the old file or the new one, never half of one; the clock."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path


def now() -> str:
    """The time of day stamped into every record (UTC, to the millisecond: jobs of a tiny run start and end
    within one second, and the overlap of jobs is measured from these stamps)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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
    except OSError as err:  # named by the file it writes, never by its hidden temporary file
        Path(tmp).unlink(missing_ok=True)
        if err.errno is None:
            raise
        raise type(err)(err.errno, err.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


class FileError(ValueError):
    """A file that cannot be read as what it should be; the message names the path (and line)."""


def read_json(path: Path, what: str = "JSON") -> object:
    """A JSON file's content; unreadable, non-UTF-8 or invalid JSON raises FileError naming path and line."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise FileError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise FileError(f"{path}: not valid {what}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise FileError(f"{path}:{err.lineno}: not valid {what}: {err.msg} (column {err.colno})") from None
