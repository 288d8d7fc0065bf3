"""Which process wrote a record, and whether it is still alive: so that a result left 'running' by a
process that died (SIGKILL, power loss) is told apart from one still training. No torch here."""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime

from tuneoff.store.files import now
from tuneoff.store.status import Status

__all__ = ["describe", "now", "process_alive", "process_record", "shown"]


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
    since = record.get("since") or datetime.fromtimestamp(record.get("process_started", 0), UTC).isoformat(
        timespec="seconds"
    )
    return f"`{record.get('command', 'tuneoff')}` (pid {record.get('pid')} on host {record.get('host')}, since {since})"


def shown(result: dict) -> dict:
    """A result as a reader should see it: one left 'running' by a process that is gone shows as
    interrupted (the file is left as it is; the next `tuneoff run` records it)."""
    if result["status"] != Status.RUNNING or process_alive(result.get("process")) is not False:
        return result
    return {
        **result,
        "status": Status.INTERRUPTED,
        "error": f"left 'running' by {describe(result.get('process'))}, which is gone (killed?); "
        "rerun the tournament to train it",
    }
