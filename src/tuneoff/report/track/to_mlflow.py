"""MLflow: experiment = the tournament, one run per job named player/seed-N, tagged with its player.

The default store is a sqlite file inside the run folder (no server), artifacts beside it:
``mlflow ui --backend-store-uri sqlite:///RUN_DIR/mlflow.db``. A job's earlier run (found by its
``tuneoff.job`` tag) is deleted before the new one is written, so exporting twice adds nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tuneoff.report.track.base import TRACKERS, Tracker
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.status import Status

BATCH = 900  # MLflow takes at most 1000 metrics per log_batch call


@TRACKERS.register
class MLflow(Tracker):
    name: str = "mlflow"
    module = "mlflow"

    def store(self, run: RunFolder) -> tuple[str, str | None]:
        """(tracking URI, artifact location of a new experiment): --uri, or sqlite in the run folder."""
        if self.uri:
            return self.uri, None
        return f"sqlite:///{run.tracker_store('mlflow')}", run.tracker_store("mlartifacts").as_uri()

    def export(self, run: RunFolder, jobs: list) -> None:
        from mlflow.tracking import MlflowClient

        uri, artifacts = self.store(run)
        client = MlflowClient(tracking_uri=uri)
        experiments: dict[str, str] = {}
        for job in jobs:
            if job.tournament not in experiments:
                found = client.get_experiment_by_name(job.tournament)
                experiments[job.tournament] = (found.experiment_id if found else
                                               client.create_experiment(job.tournament, artifact_location=artifacts))
            self._write(client, experiments[job.tournament], job)

    def _write(self, client, experiment: str, job) -> None:
        from mlflow.entities import Metric, Param

        for old in client.search_runs([experiment], f"tags.`tuneoff.job` = '{job.key}'"):
            client.delete_run(old.info.run_id)
        run = client.create_run(experiment, run_name=job.name, tags={**job.tags, "mlflow.runName": job.name})
        metrics = [Metric(k, v, 0, step) for series in (job.steps, job.epochs) for k, points in series.items()
                   for step, v in points]
        metrics += [Metric(k, v, 0, 0) for k, v in job.final.items()]
        params = [Param(k, str(v)[:6000]) for k, v in job.params.items()]
        for i in range(0, max(len(metrics), 1), BATCH):
            client.log_batch(run.info.run_id, metrics=metrics[i:i + BATCH], params=params if i == 0 else [])
        with tempfile.TemporaryDirectory() as scratch:
            for file, png in job.figures.items():
                (Path(scratch) / file).write_bytes(png)
                client.log_artifact(run.info.run_id, str(Path(scratch) / file), "figures")
        client.set_terminated(run.info.run_id, "FINISHED" if job.tags["status"] == Status.COMPLETED else "FAILED")
