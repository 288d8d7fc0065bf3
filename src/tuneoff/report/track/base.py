"""What every experiment tracker is: a registry entry that writes one tracker run per job.

Adding a tracker is one class in a file of its own with ``@TRACKERS.register`` above it, and one
import line in this package's ``__init__``; a package of your own adds one through the entry point
group ``tuneoff.trackers``. A tracker imports its library inside its methods, so reading a run
never needs it, and a missing library is one line naming the extra that installs it.

A tracker does three things: ``export`` (the jobs of a run folder from their result files, again and
again: each export updates or replaces what the last one wrote), ``live`` (a writer that logs one job's
per-step records while it trains, as Hugging Face's ``report_to`` does), and ``check`` (an address that
does not answer is refused within seconds, before the run folder is locked).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import urllib.error
import urllib.request
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from tuneoff.registry import Registry
from tuneoff.store.runfolder import RunFolder

TRACKERS: Registry[Tracker] = Registry("tracker", "name", "tuneoff.trackers")
PROBE_SECONDS = 5.0  # an http(s) address that does not answer within this is refused


class TrackerMissing(ValueError):
    """The tracker's library is not installed (the command line prints it as one red line)."""


class TrackerUnreachable(ValueError):
    """The tracker's address does not answer (one red line naming it, exit code 2)."""


class Live:
    """One job's live log: ``log`` takes the training loop's records ({"step": N, metric: value, ...}),
    ``close`` ends the tracker run with the job's status. This one does nothing."""

    def log(self, record: dict) -> None:
        pass

    def close(self, status: str) -> None:
        pass


class Tracker(BaseModel):
    """A tracker and where it writes (``uri``: None for its default, inside the run folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    uri: str | None = None
    module: ClassVar[str]  # the library it needs, imported only when it exports
    quiet_loggers: ClassVar[tuple[str, ...]] = ()  # the library's loggers kept below WARNING out of the console
    quiet_prints: ClassVar[bool] = False  # the library prints to stdout: swallowed while it works

    def require(self) -> None:
        """Refuse, in one line naming the install command, when the library is not installed."""
        if importlib.util.find_spec(self.module) is None:
            raise TrackerMissing(
                f"{self.name}: the package {self.module!r} is not installed; pip install 'tuneoff[{self.name}]'"
            )

    def address(self) -> str | None:
        """Where it writes when that is a server (None: a local store)."""
        return self.uri

    def check(self) -> None:
        """Refuse, within PROBE_SECONDS, an http(s) address that does not answer (any HTTP reply counts)."""
        address = self.address()
        if address and address.startswith(("http://", "https://")):
            probe(self.name, address)

    def export(self, run: RunFolder, jobs: list, tournament) -> None:
        """Write each job (a ``record.JobLog``) as one tracker run, updating the one an earlier export of the same
        attempt wrote, replacing an earlier attempt's; ``tournament`` is a ``record.TournamentLog``."""
        raise NotImplementedError

    def live(self, run: RunFolder, job) -> Live:
        """A live log of one job (a ``record.JobLog`` of its running result); by default none."""
        return Live()

    @contextlib.contextmanager
    def quiet(self):
        """The library's own console chatter (prints and INFO logs) kept out of the tournament's log."""
        loggers = [logging.getLogger(n) for n in self.quiet_loggers]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            with contextlib.redirect_stdout(io.StringIO()) if self.quiet_prints else contextlib.nullcontext():
                yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def probe(name: str, address: str, seconds: float | None = None) -> None:
    """One HTTP GET of ``address``; a reply of any status passes, no reply within ``seconds`` is refused."""
    seconds = PROBE_SECONDS if seconds is None else seconds
    try:
        with urllib.request.urlopen(urllib.request.Request(address, method="GET"), timeout=seconds):
            pass
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise TrackerUnreachable(
            f"{name}: {address} does not answer ({reason or type(err).__name__}; waited at most "
            f"{seconds:g} s); start the server or give another --uri"
        ) from None


def trackers(names: list[str], uri: str | None = None) -> tuple[Tracker, ...]:
    """The trackers ``--to``/``--track`` name (repeated, or comma-separated), each checked to be installed and,
    where it writes to a server, to answer."""
    wanted = list(dict.fromkeys(n.strip() for given in names for n in given.split(",") if n.strip()))
    if uri is not None and len(wanted) > 1:
        raise ValueError(f"--uri {uri}: names one place, but {len(wanted)} trackers were given ({', '.join(wanted)})")
    out = tuple(TRACKERS.lookup(n).model_validate({"uri": uri}) for n in wanted)
    for tracker in out:
        tracker.require()
    for tracker in out:
        tracker.check()
    return out


def local_path(uri: str | None):
    """The place on this machine a --uri writes, when it names one: a path, file://PATH, or sqlite:///PATH (as
    SQLAlchemy reads it: relative, or absolute with a fourth slash; its ?query is not part of the path); None
    for a server (http://, postgresql://, ...) or no --uri (the run's own store, written by its owner)."""
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    if uri is None:
        return None
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return Path(uri)
    if scheme == "file":
        return Path(unquote(urlsplit(uri).path))
    if scheme.split("+")[0] == "sqlite" and rest.startswith("/") and rest.split("?")[0][1:]:
        return Path(rest.split("?")[0][1:])
    return None
