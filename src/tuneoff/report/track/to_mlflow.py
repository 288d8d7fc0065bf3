"""MLflow: experiment = the tournament, one run per job named player/seed-N, under one parent run.

Where: ``--uri``, else ``MLFLOW_TRACKING_URI``, else a sqlite file inside the run folder (no server),
artifacts beside it: ``mlflow ui --backend-store-uri sqlite:///RUN_DIR/mlflow.db``. The experiment is
``MLFLOW_EXPERIMENT_NAME`` when set, else the tournament's name.

Every run carries its run folder's id (tag ``tuneoff.run_folder_id``) and its job's attempt
(``tuneoff.attempt``: job hash and start), so exporting again finds it and updates it in place (new
metric points only, params it lacks, tags, status, end time): re-exporting adds and deletes nothing.
A retrain is a new attempt: its run replaces the old one. Runs of other run folders are never
touched. Each run starts and ends when its job did. The tournament's parent run (tag
``tuneoff.kind = tournament``) holds ``leaderboard.json``, ``leaderboard.csv`` and ``report.html``.
Live logging (``run --track mlflow``) writes into the same run while the job trains.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from tuneoff.report.track.base import TRACKERS, Live, Tracker
from tuneoff.report.track.record import tournament_of
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.status import Status

BATCH = 900  # MLflow takes at most 1000 metrics per log_batch call
STATUS: dict[str, str] = {
    Status.COMPLETED: "FINISHED",
    Status.FAILED: "FAILED",
    Status.INTERRUPTED: "KILLED",
    Status.RUNNING: "RUNNING",
}
# MLflow's own retries of a request default to 7, with back-off: minutes of silence before an error.
BOUNDED = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
FLUSH_SECONDS = 2.0  # live logging writes at most this often


def ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


@TRACKERS.register
class MLflow(Tracker):
    name: str = "mlflow"
    module = "mlflow"
    quiet_loggers = ("mlflow", "alembic")

    def address(self) -> str | None:
        return self.uri or os.environ.get("MLFLOW_TRACKING_URI") or None

    def store(self, run: RunFolder) -> tuple[str, str | None]:
        """(tracking URI, artifact location of a new experiment): --uri, MLFLOW_TRACKING_URI, or sqlite in the
        run folder (its path quoted: a folder named ``run?v2`` stays the folder, not a query)."""
        if address := self.address():
            return address, None
        return f"sqlite:///{quote(str(run.tracker_store('mlflow')))}", run.tracker_store("mlartifacts").as_uri()

    @contextlib.contextmanager
    def quiet(self):
        saved = {k: os.environ.get(k) for k in BOUNDED}
        os.environ.update({k: v for k, v in BOUNDED.items() if saved[k] is None})
        try:
            with super().quiet():
                yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)

    def open(self, run: RunFolder, tournament: str):
        """(client, experiment id), the experiment created (or restored) when needed."""
        from mlflow.tracking import MlflowClient

        uri, artifacts = self.store(run)
        client = MlflowClient(tracking_uri=uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or tournament
        found = client.get_experiment_by_name(name)
        if found is None:
            return client, client.create_experiment(name, artifact_location=artifacts)
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return client, found.experiment_id

    def export(self, run: RunFolder, jobs: list, tournament) -> None:
        client, experiment = self.open(run, tournament.name)
        mine = runs_of(client, experiment, tournament.folder_id)
        parent = self.parent(client, experiment, tournament, mine.pop(None, []))
        for job in jobs:
            write(client, experiment, parent, job, mine.get((job.player, job.label), []))
        if tournament.final:
            finish_parent(client, parent, tournament)

    def parent(self, client, experiment: str, tournament, found: list) -> str:
        """The tournament's parent run: the one found (any extra deleted), or a new one."""
        for extra in found[1:]:
            client.delete_run(extra.info.run_id)
        if found:
            return found[0].info.run_id
        return client.create_run(
            experiment, start_time=ms(tournament.started), tags=tournament.tags, run_name=tournament.name
        ).info.run_id

    def live(self, run: RunFolder, job) -> Live:
        return MLflowLive(self, run, job)


def runs_of(client, experiment: str, folder: str) -> dict:
    """This run folder's active runs: (player, label) -> runs, and None -> the tournament's parent run(s)."""
    from mlflow.entities import ViewType

    found, token = [], None
    while True:
        page = client.search_runs(
            [experiment],
            f"tags.`tuneoff.run_folder_id` = '{folder}'",
            ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        found += list(page)
        token = page.token
        if not token:
            break
    out: dict = {}
    for r in found:
        tags = r.data.tags
        key = (
            None if tags.get("tuneoff.kind") == "tournament" else (tags.get("tuneoff.player"), tags.get("tuneoff.seed"))
        )
        out.setdefault(key, []).append(r)
    return out


def write(client, experiment: str, parent: str, job, runs: list) -> str:
    """One job's run: this attempt's run updated in place, or a new one; other attempts' runs are replaced."""
    from mlflow.entities import Param, RunTag

    keep = next((r for r in runs if r.data.tags.get("tuneoff.attempt") == job.attempt), None)
    for old in runs:
        if old is not keep:
            client.delete_run(old.info.run_id)
    tags = {**job.tags, "mlflow.runName": job.name, "mlflow.parentRunId": parent}
    if keep is None:
        run_id, have = (
            client.create_run(experiment, start_time=ms(job.started), tags=tags, run_name=job.name).info.run_id,
            {},
        )
    else:
        run_id, have = keep.info.run_id, keep.data.params
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items() if keep.data.tags.get(k) != v])
    params = [Param(k, (v if isinstance(v, str) else _text(v))[:6000]) for k, v in job.params.items() if k not in have]
    metrics = new_points(client, run_id, keep, job)
    for i in range(0, max(len(metrics), 1), BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + BATCH], params=params if i == 0 else [])
    with tempfile.TemporaryDirectory() as scratch:
        for file, png in job.figures.items():
            (Path(scratch) / file).write_bytes(png)
            client.log_artifact(run_id, str(Path(scratch) / file), "figures")  # the same path: replaced, not added
    if job.status != Status.RUNNING:
        client.set_terminated(run_id, STATUS[job.status], end_time=ms(job.finished))
    return run_id


def _text(value) -> str:
    import json

    return json.dumps(value)


def new_points(client, run_id: str, run, job) -> list:
    """The job's metric points (series at their steps, final values at step 0) the run does not hold yet."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    points = [(k, step, v) for series in (job.steps, job.epochs) for k, values in series.items() for step, v in values]
    points += [(k, 0, v) for k, v in job.final.items()]
    if run is not None:
        held = {
            k: {(m.step, m.value) for m in client.get_metric_history(run_id, k)}
            for k in {k for k, _, _ in points} & set(run.data.metrics)
        }
        points = [(k, step, v) for k, step, v in points if (step, v) not in held.get(k, ())]
    return [Metric(k, v, now, step) for k, step, v in points]


def finish_parent(client, parent: str, tournament) -> None:
    """The board and the report on the parent run; it ends when the last job did."""
    for path in tournament.files:
        client.log_artifact(parent, str(path))
    client.set_terminated(parent, "FINISHED", end_time=ms(tournament.finished))


class MLflowLive(Live):
    """A job's run while it trains: created (RUNNING) when the job starts, metrics written every few seconds."""

    def __init__(self, tracker: MLflow, run: RunFolder, job):
        self.tracker, self.flushed = tracker, time.monotonic()
        self.pending: list = []
        with tracker.quiet():
            self.client, experiment = tracker.open(run, job.tournament)
            mine = runs_of(self.client, experiment, job.tags["tuneoff.run_folder_id"])
            parent = tracker.parent(self.client, experiment, tournament_of(job), mine.pop(None, []))
            self.run_id = write(self.client, experiment, parent, job, mine.get((job.player, job.label), []))

    def log(self, record: dict) -> None:
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), int(record["step"])
        self.pending += [Metric(k, float(v), now, step) for k, v in record.items() if k != "step" and v is not None]
        if time.monotonic() - self.flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self.tracker.quiet():
            for i in range(0, len(self.pending), BATCH):
                self.client.log_batch(self.run_id, metrics=self.pending[i : i + BATCH])
        self.pending, self.flushed = [], time.monotonic()

    def close(self, status: str) -> None:
        self.flush()
        with self.tracker.quiet():
            self.client.set_terminated(self.run_id, STATUS.get(status, "FAILED"))
