"""Export a run's jobs to experiment trackers (MLflow, TensorBoard, Trackio), from its result files alone.

``tuneoff track RUN_DIR --to mlflow`` exports every job; ``tuneoff run --track mlflow`` (or ``track =
["mlflow"]`` in the config) logs each job live while it trains, exports it as it ends, then every job
once more with the final leaderboard. One tracker run per job (player × seed) of a run folder, grouped
by player; exporting again updates a job's run, a retrain replaces it, never adds one.
"""

from __future__ import annotations

from tuneoff.report.track import to_mlflow, to_tensorboard, to_trackio  # noqa: F401 - each registers itself
from tuneoff.report.track.base import TRACKERS, Live, Tracker, TrackerMissing, TrackerUnreachable, trackers
from tuneoff.report.track.record import JobLog, job_log, job_logs, live_metrics
from tuneoff.store.runfolder import RunFolder, as_run

__all__ = [
    "TRACKERS",
    "JobLog",
    "Live",
    "Tracker",
    "TrackerMissing",
    "TrackerUnreachable",
    "export",
    "live",
    "trackers",
]


def export(run_dir: RunFolder, to: tuple[Tracker, ...], only: tuple[str, str] | None = None) -> int:
    """Write the run's jobs (or just ``only``: player, label) to each tracker; returns how many jobs."""
    run = as_run(run_dir)
    jobs, tournament = job_logs(run, only)
    for tracker in to:
        with tracker.quiet():
            tracker.export(run, jobs, tournament)
    return len(jobs)


def live(run_dir: RunFolder, tracker: Tracker, result: dict) -> Live:
    """A live log of the job whose result (still 'running') this is, on one tracker."""
    run = as_run(run_dir)
    with tracker.quiet():
        return Named(tracker.live(run, job_log(result, run=run)))


class Named(Live):
    """The training loop's records, named as exports name them (``record.live_metrics``), to a tracker's live log."""

    def __init__(self, inner: Live):
        self.inner = inner

    def log(self, record: dict) -> None:
        self.inner.log({"step": int(record["step"]), **live_metrics(record)})

    def close(self, status: str) -> None:
        self.inner.close(status)
