"""Export a run's jobs to experiment trackers (MLflow, TensorBoard, Trackio), from its result files alone.

``tuneoff track RUN_DIR --to mlflow`` exports every job; ``tuneoff run --track mlflow`` exports each
job as it ends, then every job once more with the final leaderboard. One tracker run per job
(player × seed), grouped by player; exporting again replaces a job's run, never adds one.
"""

from __future__ import annotations

from tuneoff.report.track import to_mlflow, to_tensorboard, to_trackio  # noqa: F401 - each registers itself
from tuneoff.report.track.base import TRACKERS, Tracker, TrackerMissing, trackers
from tuneoff.report.track.record import JobLog, job_logs
from tuneoff.store.runfolder import RunFolder, as_run

__all__ = ["TRACKERS", "JobLog", "Tracker", "TrackerMissing", "export", "trackers"]


def export(run_dir: RunFolder, to: tuple[Tracker, ...], only: tuple[str, str] | None = None) -> int:
    """Write the run's jobs (or just ``only``: player, label) to each tracker; returns how many jobs."""
    run = as_run(run_dir)
    jobs = job_logs(run, only)
    for tracker in to:
        tracker.export(run, jobs)
    return len(jobs)
