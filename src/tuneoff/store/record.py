"""A job's record from its start to how it ended: the one writer of a status, for a final job (its result) and
a tuning trial (its trial record) alike, whichever executor ran it (this process, a pool worker, a Ray driver).

``Record.start`` writes it ``running`` before the job trains; it then ends once: ``complete``, ``fail`` or
``interrupt`` (``end`` for a status decided elsewhere, a worker that died). An unfinished end never keeps a
checkpoint. ``Final`` and ``Trial`` say what differs between the two kinds of job (a ``plan.jobs.Job``'s
``kind``): where the record lies and what it starts as, the job's folder name, whether the job reads the
test split. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuneoff.store.jobfolder import JobFolder
from tuneoff.store.liveness import now, process_record
from tuneoff.store.results import SCHEMA_VERSION, TRIAL_SCHEMA, ResultsError
from tuneoff.store.runfolder import seed_label, trial_label
from tuneoff.store.status import Status

__all__ = ["Final", "Record", "Trial"]


class Final:
    """A final job: one seed at the player's chosen point, scored once on the test split; its result is what
    the board, the report and the trackers read, and its checkpoint is kept only when it completes."""

    name = "final"
    tested = True  # reads the test split, and has a result to rank, report and export

    @staticmethod
    def label(job) -> str:
        return seed_label(job.seed, job.data_seed)

    @staticmethod
    def fresh(job, labels: tuple[str, ...]) -> dict:
        """The result as the job starts: what it is (identity, protocol, labels) and who trains it."""
        return {
            "schema": SCHEMA_VERSION,
            "status": Status.RUNNING,
            "error": None,
            "tournament": job.tournament,
            "player": job.player.model_dump(mode="json"),
            "seed": job.seed,
            "data_seed": job.data_seed,
            "job": job.identity,
            "job_hash": job.job_hash,
            "protocol": job.protocol.model_dump(mode="json"),
            "overrides": job.overrides,
            "labels": list(labels),
            "warnings": [],
            "process": process_record(),
            **({"tuning": job.tuning} if job.tuning else {}),
            "started_at": now(),
            "finished_at": None,
        }

    @staticmethod
    def read(folder: JobFolder) -> dict | None:
        return folder.result_or_none()

    @staticmethod
    def write(folder: JobFolder, doc: dict) -> None:
        folder.write_result(doc)

    @staticmethod
    def discard(folder: JobFolder) -> None:
        folder.remove_checkpoint()


class Trial:
    """A tuning trial: one point of the player's sweep with one tuning seed, trained and scored on dev only;
    its record feeds the sweep's choice, and it keeps no checkpoint."""

    name = "tuning"
    tested = False

    @staticmethod
    def label(job) -> str:
        return trial_label(job.protocol.learning_rate, job.seed, tuple((f, v) for _, f, v in job.axes))

    @staticmethod
    def fresh(job, labels: tuple[str, ...] = ()) -> dict:
        """The record as the trial starts: its point (rate, and its knob's and second rate's option and value)
        and seed."""
        return {
            "schema": TRIAL_SCHEMA,
            "status": Status.RUNNING,
            "error": None,
            "player": job.name,
            "learning_rate": job.protocol.learning_rate,
            "seed": job.seed,
            **{kind: {"field": field, "value": value} for kind, field, value in job.axes},
            "job": job.identity,
            "job_hash": job.job_hash,
            "protocol": job.protocol.model_dump(mode="json"),
            "warnings": [],
            "started_at": now(),
        }

    @staticmethod
    def read(folder: JobFolder) -> dict | None:
        try:
            return folder.trial()
        except (ResultsError, OSError):
            return None

    @staticmethod
    def write(folder: JobFolder, doc: dict) -> None:
        folder.write_trial(doc)

    @staticmethod
    def discard(folder: JobFolder) -> None:
        """A trial keeps nothing but its record."""


@dataclass
class Record:
    """One job's record in one folder (a job's, or the staging folder of its retrain); ``doc`` is what is
    written, filled in by the training as it goes."""

    kind: type[Final] | type[Trial]
    folder: JobFolder
    doc: dict

    @classmethod
    def new(cls, job, folder: JobFolder, labels: tuple[str, ...] = ()) -> Record:
        """A job's record as it starts, not written yet."""
        return cls(job.kind, folder, job.kind.fresh(job, labels))

    @classmethod
    def start(cls, job, folder: JobFolder, labels: tuple[str, ...] = ()) -> Record:
        """A job's record, written 'running' before it trains: a job killed from here on is never completed."""
        record = cls.new(job, folder, labels)
        record.write()
        return record

    @classmethod
    def found(cls, kind, folder: JobFolder) -> Record | None:
        """The record of a job of this kind in ``folder``; None where there is none or it cannot be read."""
        doc = kind.read(folder)
        return None if doc is None else cls(kind, folder, doc)

    @property
    def status(self) -> Status:
        return Status(self.doc["status"])

    def write(self) -> None:
        self.kind.write(self.folder, self.doc)

    def complete(self) -> dict:
        """The job trained and was scored: recorded completed (after its checkpoint was saved)."""
        self.doc.update(status=Status.COMPLETED, error=None, finished_at=now())
        self.write()
        return self.doc

    def fail(self, why: str, diverged: bool = False) -> None:
        """A crash, a refusal, a worker that died every retry; ``diverged``: the training loss became
        non-finite, so the board counts it as a collapsed seed of its player."""
        if diverged:
            self.doc["diverged"] = True
        self.end(Status.FAILED, why)

    def interrupt(self, why: str) -> None:
        """Stopped before it finished (Ctrl-C, SIGTERM, a stopped pool or Ray run, a process gone)."""
        self.end(Status.INTERRUPTED, why)

    def end(self, status: Status, why: str) -> None:
        """Record a job that did not finish; it is never completed and keeps no checkpoint. The checkpoint
        goes first: after a disk-full error, that frees the space the record needs."""
        self.kind.discard(self.folder)
        self.doc.update(status=status, error=why, finished_at=now())
        self.write()
