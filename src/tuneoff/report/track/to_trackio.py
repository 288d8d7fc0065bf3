"""Trackio: project = the tournament, one run per job named player/seed-N, grouped by player.

Written to Trackio's local store (``TRACKIO_DIR``, by default ~/.cache/huggingface/trackio; ``trackio
show`` reads it), or with ``--uri`` to a self-hosted Trackio server. Every series is logged at its
optimizer step (the training loss, learning rate and gradient norm; each epoch's metrics at the step
that ended it; the final test metrics and the confusion matrix, as an image, at the last step); the
config keeps its types (numbers stay numbers). Trackio's own console lines are kept out of the log.

Each run's config names its run folder (``tuneoff.run_folder_id``): exporting again replaces this
folder's run of the job in the local store, never another folder's. When another run folder of the
same tournament already holds the name, this folder's run is called ``player/seed-N (FOLDER-ID)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tuneoff.report.track.base import TRACKERS, Live, Tracker
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.status import Status

FOLDER = "tuneoff.run_folder_id"


@TRACKERS.register
class Trackio(Tracker):
    name: str = "trackio"
    module = "trackio"
    quiet_loggers = ("trackio",)
    quiet_prints = True  # "* Trackio project initialized", "* Run finished...": its own console lines

    def export(self, run: RunFolder, jobs: list, tournament) -> None:
        for job in jobs:
            self._write(job)

    def run_name(self, job) -> str:
        """The job's run name in its project, after removing this run folder's earlier run of it (local store)."""
        if self.uri is not None:
            return job.name
        from trackio.sqlite_storage import SQLiteStorage

        mine, other = job.tags.get(FOLDER, ""), f"{job.name} ({job.tags.get(FOLDER, '')[:8]})"
        taken = False
        for record in SQLiteStorage.get_run_records(job.tournament):
            name = record["name"]
            if name is None or name not in (job.name, other):
                continue
            config = SQLiteStorage.get_run_config(job.tournament, run_id=record.get("id")) or {}
            if config.get(FOLDER) == mine:
                SQLiteStorage.delete_run(job.tournament, name, run_id=record.get("id"))
            elif name == job.name:
                taken = True
        return other if taken else job.name

    def start(self, job):
        """trackio.init for this job's run, quietly; returns the trackio module."""
        import trackio

        name = self.run_name(job)
        with self.quiet():
            trackio.init(
                project=job.tournament,
                name=name,
                group=job.player,
                server_url=self.uri,
                config={**job.params, **job.tags},
                embed=False,
                auto_log_gpu=False,
                auto_log_cpu=False,
            )
        return trackio

    def _write(self, job) -> None:
        trackio = self.start(job)
        with tempfile.TemporaryDirectory() as scratch:  # the figures' files, read until finish() has sent them
            try:
                # Trackio keeps a run only once something is logged: every job logs whether it completed, at
                # step 0, so that a failed job (no losses, no metrics) is there too, with its config.
                points: dict[int, dict] = {0: {"job/completed": float(job.status == Status.COMPLETED)}}
                for series in (job.steps, job.epochs):
                    for metric, values in series.items():
                        for step, value in values:
                            points.setdefault(step, {})[metric] = value
                final = dict(job.final)
                for file, png in job.figures.items():
                    (Path(scratch) / file).write_bytes(png)
                    final[f"figures/{Path(file).stem}"] = trackio.Image(str(Path(scratch) / file), caption=job.name)
                if final:
                    points.setdefault(max(points), {}).update(final)
                for step in sorted(points):
                    trackio.log(points[step], step=step)
            finally:
                with self.quiet():
                    trackio.finish()

    def live(self, run: RunFolder, job) -> Live:
        return TrackioLive(self, self.start(job))


class TrackioLive(Live):
    """A job's run while it trains; its export when the job ends replaces it with the whole record."""

    def __init__(self, tracker: Trackio, trackio):
        self.tracker, self.trackio = tracker, trackio

    def log(self, record: dict) -> None:
        self.trackio.log({k: v for k, v in record.items() if k != "step"}, step=int(record["step"]))

    def close(self, status: str) -> None:
        with self.tracker.quiet():
            self.trackio.finish()
