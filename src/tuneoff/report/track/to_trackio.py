"""Trackio: project = the tournament, one run per job named player/seed-N, grouped by player.

Written to Trackio's local store (``TRACKIO_DIR``, by default ~/.cache/huggingface/trackio; ``trackio
show`` reads it), or with ``--uri`` to a self-hosted Trackio server. A run of the same name in the
local store is deleted first, so exporting twice adds nothing. Trackio has one x axis per run (the
step): the training loss is logged at its step, the epoch metrics at their epoch.
"""

from __future__ import annotations

from tuneoff.report.track.base import TRACKERS, Tracker
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.status import Status


@TRACKERS.register
class Trackio(Tracker):
    name: str = "trackio"
    module = "trackio"

    def export(self, run: RunFolder, jobs: list) -> None:
        for job in jobs:
            self._write(job)

    def _write(self, job) -> None:
        import trackio
        from trackio.sqlite_storage import SQLiteStorage

        if self.uri is None and job.name in SQLiteStorage.get_runs(job.tournament):
            SQLiteStorage.delete_run(job.tournament, job.name)
        trackio.init(project=job.tournament, name=job.name, group=job.player, server_url=self.uri,
                     config={**job.params, **job.tags}, embed=False, auto_log_gpu=False, auto_log_cpu=False)
        try:
            # Trackio keeps a run only once something is logged: every job logs whether it completed, at step 0,
            # so that a failed job (no losses, no metrics) is there too, with its tags.
            completed = float(job.tags.get("status") == Status.COMPLETED)
            points: dict[int, dict[str, float]] = {0: {"job/completed": completed}}
            for series in (job.steps, job.epochs):
                for metric, values in series.items():
                    for step, value in values:
                        points.setdefault(step, {})[metric] = value
            for step in sorted(points):
                trackio.log(points[step], step=step)
            if job.final:
                trackio.log(job.final, step=max(points, default=0))
        finally:
            trackio.finish()
