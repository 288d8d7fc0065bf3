"""Live logging: a job's per-step records sent to the experiment trackers while it trains.

The training loop calls one function with a dict (``training.loop.train(log=...)``) and never asks
where it goes; this is the object that function belongs to, built here from the job's trackers
(``run --track`` or ``track = [...]`` in the config). Like Hugging Face's ``report_to``: the loss,
learning rate and gradient norm at every recorded step, and each epoch's metrics, appear in the
tracker as the job goes. A tracker that fails is dropped for the rest of the job with one warning;
the job never fails for it, and its export when the job ends writes the whole record anyway.

On Ray, a job's live log of a tracker whose store lies inside the run folder (the default) goes to
the worker's scratch copy; the export at the job's end writes the real one.
"""

from __future__ import annotations

import contextlib

from tuneoff.store.status import Status


class LiveLogs:
    """One job's live logs, one per tracker; a tracker that raises is dropped with one warning."""

    def __init__(self, run, trackers: tuple, result: dict, warn):
        from tuneoff.report.track import live

        self.warn, self.logs = warn, []
        self.what = f"{result['player']['name']} seed {result['seed']}"
        for tracker in trackers:
            try:
                self.logs.append((tracker, live(run, tracker, result)))
            except Exception as err:  # noqa: BLE001 - logging live is a copy; the job goes on without it
                self._dropped(tracker, err)

    def _dropped(self, tracker, err: Exception) -> None:
        first = str(err).splitlines()[0] if str(err) else ""
        self.warn(
            f"{self.what}: not logged live to {tracker.name} ({type(err).__name__}: {first}); "
            "its export when the job ends still writes it"
        )

    def log(self, record: dict) -> None:
        for entry in list(self.logs):
            try:
                entry[1].log(record)
            except Exception as err:  # noqa: BLE001
                self.logs.remove(entry)
                self._dropped(entry[0], err)

    def close(self, status: str) -> None:
        for tracker, log in self.logs:
            try:
                log.close(status)
            except Exception as err:  # noqa: BLE001
                self._dropped(tracker, err)
        self.logs = []


@contextlib.contextmanager
def live_logs(task, result: dict, warn):
    """The job's ``log`` function for the training loop (None without trackers); closed with how the job ended."""
    if not task.track or task.job.kind == "tuning":
        yield None
        return
    logs = LiveLogs(task.run, task.track, result, warn)
    try:
        yield logs.log
    except KeyboardInterrupt:
        logs.close(Status.INTERRUPTED)
        raise
    except BaseException:
        logs.close(Status.FAILED)
        raise
    logs.close(Status.COMPLETED)


def chosen_trackers(flags: list[str], config, config_file: str | None = None) -> tuple:
    """The trackers of ``run --track`` and of the config's ``track`` key together, each installed and answering;
    a name the config gives that is no tracker is refused naming the file, the key and the choices."""
    from tuneoff.plan.config import ConfigError
    from tuneoff.report.track import TRACKERS, trackers

    unknown = [name for name in config.track if name not in TRACKERS.load_plugins()]
    if unknown:
        raise ConfigError(
            f"{config_file or 'the config'}: track = {list(config.track)}: unknown tracker "
            f"{unknown[0]!r}; choices: {sorted(TRACKERS)}"
        )
    names = [*flags, *config.track]
    return trackers(names) if names else ()
