"""What every experiment tracker is: a registry entry that writes one tracker run per job.

Adding a tracker is one class in a file of its own with ``@TRACKERS.register`` above it, and one
import line in this package's ``__init__``; a package of your own adds one through the entry point
group ``tuneoff.trackers``. A tracker imports its library inside its methods, so reading a run
never needs it, and a missing library is one line naming the extra that installs it.
"""

from __future__ import annotations

import importlib.util
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from tuneoff.registry import Registry
from tuneoff.store.runfolder import RunFolder

TRACKERS = Registry("tracker", "name", "tuneoff.trackers")


class TrackerMissing(ValueError):
    """The tracker's library is not installed (the command line prints it as one red line)."""


class Tracker(BaseModel):
    """A tracker and where it writes (``uri``: None for its default, inside the run folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    uri: str | None = None
    module: ClassVar[str]  # the library it needs, imported only when it exports

    def require(self) -> None:
        """Refuse, in one line naming the install command, when the library is not installed."""
        if importlib.util.find_spec(self.module) is None:
            raise TrackerMissing(f"{self.name}: the package {self.module!r} is not installed; "
                                 f"pip install 'tuneoff[{self.name}]'")

    def export(self, run: RunFolder, jobs: list) -> None:
        """Write each job (a ``record.JobLog``) as one tracker run, replacing the one an earlier export wrote."""
        raise NotImplementedError


def trackers(names: list[str], uri: str | None = None) -> tuple[Tracker, ...]:
    """The trackers ``--to``/``--track`` name (repeated, or comma-separated), each checked to be installed."""
    wanted = list(dict.fromkeys(n.strip() for given in names for n in given.split(",") if n.strip()))
    if uri is not None and len(wanted) > 1:
        raise ValueError(f"--uri {uri}: names one place, but {len(wanted)} trackers were given ({', '.join(wanted)})")
    out = tuple(TRACKERS.lookup(n)(uri=uri) for n in wanted)
    for tracker in out:
        tracker.require()
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
