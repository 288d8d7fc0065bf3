"""Stops from outside: Ctrl-C (SIGINT) and SIGTERM end a run the same way.

Both raise in the main thread; the tournament records the running player as
``interrupted`` (never ``completed``), and the command exits 130 or 143 as a shell
expects. While that record is written, further signals wait, so a second Ctrl-C
cannot leave a half-told story.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interruption."""

    exit_code = 143


def _raise_terminated(signum, frame):
    raise Terminated()


def install() -> None:
    """Make SIGTERM behave like Ctrl-C (call from the main thread)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


_ORPHANED: list[bool] = []  # set in a pool worker whose driver died: the next interruption says so


def orphaned() -> None:
    """Mark this process's coming interruption as its driver's death (see executors._orphan_watch)."""
    _ORPHANED.append(True)


def exit_code(stop: KeyboardInterrupt) -> int:
    return getattr(stop, "exit_code", 130)


def why(stop: KeyboardInterrupt) -> str:
    if _ORPHANED:
        return "stopped because the tuneoff process that started it died (its pool worker stopped)"
    return "stopped by SIGTERM" if isinstance(stop, Terminated) else "stopped by the user (Ctrl-C)"


@contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back while a record is written; deliver them after."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    saved = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        for signum in held[:1]:
            signal.raise_signal(signum)
