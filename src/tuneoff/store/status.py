"""How a job stands: the one owner of the words a record's ``status`` holds, and of those the report uses for a
job that has no usable record. Every other module compares with these members and never spells the words
(tests/test_structure.py checks it). No torch here.

A final job's result and a tuning trial's record say ``running`` from before the job trains (so a killed job is
never ``completed``) until it ends ``completed``, ``failed`` or ``interrupted``; ``store.record.Record`` is
what changes it on disk. The verdict reads two groups of them: a *not finished* job (running, or interrupted)
is trained again and never counted as failed; a failed job whose loss became non-finite is *diverged*
(``diverged`` in its result) and counts as a collapsed seed of its player.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Status", "Unrecorded"]


class Status(StrEnum):
    """What a result or a trial record says of its job (its ``status``: the schemas' enum). A member is a
    str, so it compares equal to, and is written to JSON as, its word."""

    RUNNING = "running"  # training now, or left so by a process that died (store.liveness tells which)
    COMPLETED = "completed"  # trained and scored: the only status the board ranks
    FAILED = "failed"  # a crash, a loss that became non-finite, a worker that refused or died every retry
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM, a stopped pool or Ray run, a process gone: trained again

    @property
    def unfinished(self) -> bool:
        """Not finished (running or interrupted): the next run trains it again; the board never counts it
        as failed."""
        return self in (Status.RUNNING, Status.INTERRUPTED)


class Unrecorded(StrEnum):
    """What the report says of a job the config asks for where no usable record says how it stands."""

    STALE = "stale"  # its result was trained under another config: not ranked
    UNREADABLE = "unreadable"  # its results file cannot be read
    MISSING = "missing"  # no results file yet: not started, or the run used --only
