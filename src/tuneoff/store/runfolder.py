"""The run folder: where it is, whether it is one, who holds it, and which files tuneoff wrote.

Every command that writes into a run folder holds its lock (``filelock``, an OS
lock released by the kernel when the holder dies), so two runs never mix results
and a report is never built from a half-written run. Next to the lock a small
JSON file names the holder, so a refused command can say who holds it and a new
holder can say that it took over from a process that died.

``report`` and ``leaderboard`` only ever overwrite or delete files listed in the
run's manifest: files tuneoff generated itself. No torch here.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

LOCK_FILE = "tuneoff.lock"
HOLDER_FILE = "tuneoff.lock.json"
MANIFEST_FILE = "manifest.json"
TOURNAMENT_FILE = "tournament.json"
TOURNAMENT_SCHEMA = "tuneoff.tournament/1"


class RunFolderError(ValueError):
    """A run folder that cannot be used; the message names the path."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- where, and whether it can be used -----------------------------------------------------------


def resolve_out(out: str | Path | None, tournament_name: str) -> Path:
    """The run folder as an absolute path: --out, or runs/<tournament name> under the working directory."""
    return Path(out if out else Path("runs") / tournament_name).expanduser().resolve()


def _writable_ancestor(folder: Path) -> Path:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    return probe


def check_target(folder: Path) -> None:
    """Refuse, before anything is written, a --out that `run` cannot or must not write into."""
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{folder}: exists and is not a folder; choose another --out")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / TOURNAMENT_FILE).exists():
        raise RunFolderError(
            f"{folder}: this folder has files and is not a tuneoff run folder (no {TOURNAMENT_FILE}); "
            "tuneoff will not write into it. Choose a new or empty --out."
        )
    base = _writable_ancestor(folder)
    if not base.is_dir():
        raise RunFolderError(f"{folder}: cannot be created, {base} is not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise RunFolderError(f"{folder}: not writable (no write permission on {base})")


def read_tournament(folder: Path) -> dict:
    """The run's tournament.json; a folder without a valid one is not a run."""
    folder = Path(folder)
    path = folder / TOURNAMENT_FILE
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: no such run folder")
    if not path.is_file():
        raise RunFolderError(f"{folder}: not a tuneoff run folder (no {TOURNAMENT_FILE}); nothing was written")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RunFolderError(f"{path}: damaged, not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise RunFolderError(
            f"{path}:{err.lineno}: damaged, not valid JSON ({err.msg}, column {err.colno}); "
            "`tuneoff run` with this run's config rewrites it"
        ) from None
    except OSError as err:
        raise RunFolderError(f"{path}: cannot be read ({err.strerror})") from None
    config = meta.get("config") if isinstance(meta, dict) else None
    players = config.get("players") if isinstance(config, dict) else None
    if not (isinstance(players, list) and all(isinstance(p, dict) and "name" in p for p in players)
            and isinstance(config.get("tournament"), dict)):
        raise RunFolderError(f"{path}: not a tuneoff tournament file (no config with tournament and players)")
    return meta


# --- the processes that write --------------------------------------------------------------------


def process_record() -> dict:
    """This process, precisely enough to tell later whether it is still alive."""
    import psutil

    me = psutil.Process()
    return {
        "pid": me.pid,
        "host": socket.gethostname(),
        "process_started": me.create_time(),
        "command": " ".join(["tuneoff", *sys.argv[1:]])[:300],
    }


def process_alive(record: dict | None) -> bool | None:
    """True or False on this host; None when it ran elsewhere (unknowable from here)."""
    import psutil

    if not record or record.get("host") != socket.gethostname():
        return None
    try:
        return abs(psutil.Process(record["pid"]).create_time() - record["process_started"]) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError):
        return False


def describe(record: dict | None) -> str:
    if not record:
        return "an unknown process"
    since = record.get("since") or datetime.fromtimestamp(record.get("process_started", 0), timezone.utc).isoformat(
        timespec="seconds")
    return f"`{record.get('command', 'tuneoff')}` (pid {record.get('pid')} on host {record.get('host')}, since {since})"


class RunLock:
    """Exclusive use of a run folder; refused at once (RunFolderError) if someone else holds it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.took_over: dict | None = None  # the holder record of a process that died holding it

    def __enter__(self) -> "RunLock":
        from filelock import FileLock, Timeout

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(self.folder / LOCK_FILE), timeout=0)
            self._lock.acquire()
        except Timeout:
            raise RunFolderError(
                f"{self.folder}: in use by {describe(self._holder())}; wait for it to finish, or use another --out"
            ) from None
        except OSError as err:
            raise RunFolderError(f"{self.folder}: cannot be written ({err.strerror or err})") from None
        self.took_over = self._holder()  # a record left behind: its process ended without letting go
        from tuneoff.store.results import write_json

        try:
            write_json(self.folder / HOLDER_FILE, {**process_record(), "since": now()})
        except OSError as err:
            self._lock.release()
            raise RunFolderError(f"{self.folder}: cannot be written ({err.strerror or err})") from None
        return self

    def _holder(self) -> dict | None:
        try:
            return json.loads((self.folder / HOLDER_FILE).read_text())
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc) -> None:
        (self.folder / HOLDER_FILE).unlink(missing_ok=True)
        self._lock.release()


# --- files tuneoff generated ---------------------------------------------------------------------


def generated(folder: Path) -> set[str]:
    """Paths (relative, POSIX) that report and leaderboard wrote into this run folder."""
    try:
        data = json.loads((Path(folder) / MANIFEST_FILE).read_text())
        return {p for p in data.get("generated", []) if isinstance(p, str)}
    except (OSError, ValueError, AttributeError):
        return set()


def record_generated(folder: Path, paths: list[Path], forget: list[Path] = ()) -> None:
    from tuneoff.store.results import write_json

    folder = Path(folder)
    names = generated(folder) | {p.relative_to(folder).as_posix() for p in paths}
    names -= {p.relative_to(folder).as_posix() for p in forget}
    write_json(folder / MANIFEST_FILE, {"schema": "tuneoff.manifest/1", "generated": sorted(names)})
