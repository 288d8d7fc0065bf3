"""One job's folder in a run folder: its record (result or trial), its checkpoint, its caches, the files a
user keeps there, and the swap that replaces it after a retrain. The run folder's layout is store.runfolder's.
No torch here.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tuneoff.store.checkpoint import Checkpoint
from tuneoff.store.files import write_atomic, write_json
from tuneoff.store.results import ResultsError, check, read_result, read_trial


@dataclass(frozen=True)
class JobFolder:
    """One job's folder: its result or trial record, its checkpoint and its caches. Picklable."""

    path: Path

    RESULT = "result.json"
    TRIAL = "tuning.json"
    CHECKPOINT = Checkpoint.FOLDER
    STAGING = ".staging"

    @property
    def player(self) -> str:
        return self.path.parent.name

    @property
    def label(self) -> str:
        return self.path.name

    def __str__(self) -> str:
        return str(self.path)

    # --- a final job's result -------------------------------------------------------------------

    @property
    def result_path(self) -> Path:
        return self.path / self.RESULT

    def has_result(self) -> bool:
        return self.result_path.is_file()

    def result(self) -> dict:
        """The result; a damaged or foreign file raises ResultsError naming it."""
        return read_result(self.path / self.RESULT)

    def result_or_none(self) -> dict | None:
        """The result, or None when there is none or it cannot be read (the caller trains again)."""
        try:
            return self.result() if self.has_result() else None
        except (ResultsError, OSError):
            return None

    def write_result(self, result: dict) -> None:
        check(result, "result", str(self.path / self.RESULT))
        write_json(self.path / self.RESULT, result)

    # --- a tuning trial's record ----------------------------------------------------------------

    def trial(self) -> dict | None:
        """The trial's record, None when there is none; a damaged one raises ResultsError naming it."""
        path = self.path / self.TRIAL
        return read_trial(path) if path.is_file() else None

    def write_trial(self, record: dict) -> None:
        check(record, "tuning", str(self.path / self.TRIAL))
        write_json(self.path / self.TRIAL, record)

    # --- the checkpoint (its layout: store.checkpoint) -------------------------------------------

    @property
    def checkpoint(self) -> Checkpoint:
        """This job's checkpoint, where a strategy writes it."""
        return Checkpoint(self.path)

    def checkpoint_of(self, result: dict) -> Checkpoint:
        """A result's checkpoint in this folder, as its record describes it."""
        return Checkpoint.of(result, self.path)

    def remove_checkpoint(self) -> None:
        shutil.rmtree(self.checkpoint.folder, ignore_errors=True)

    def checkpoint_missing(self, result: dict) -> str | None:
        """What is wrong with a completed result's checkpoint (a file missing or unreadable), or None."""
        return self.checkpoint_of(result).missing()

    # --- a retrain beside the result it replaces -------------------------------------------------

    def staged(self) -> JobFolder:
        """The staging folder a retrain writes in (see ``attempt``), as it is."""
        return JobFolder(self.path.parents[2] / self.STAGING / self.player / self.label)

    def attempt(self) -> JobFolder:
        """Where a retrain writes while this folder's result stays: an empty staging folder."""
        staging = self.staged()
        shutil.rmtree(staging.path, ignore_errors=True)
        staging.path.mkdir(parents=True)
        return staging

    def adopt(self, attempt: JobFolder) -> None:
        """Replace this job's files by a completed attempt's (the earlier ones go only then). Files tuneoff
        does not own (a user's NOTES.md, say: see ``owns``) are carried over into the new folder."""
        if attempt.path == self.path:
            return
        old = attempt.path.with_name(attempt.path.name + ".old")
        if old.exists() and not self.path.exists():  # a swap a crash cut between its renames: put it back
            os.replace(old, self.path)
        elif old.exists():  # one cut after them: its user files are carried over, never deleted
            self.carry_over(JobFolder(old))
            shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            os.replace(self.path, old)  # a crash between the two renames: RunFolder.recover() puts it back
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(attempt.path, self.path)
        self.carry_over(JobFolder(old))
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def owns(cls, name: str) -> bool:
        """Whether tuneoff wrote a file of this name in a job folder: its record, its checkpoint, a teacher's
        cached predictions (``cache``), a temporary file of an atomic write."""
        return (
            name in (cls.RESULT, cls.TRIAL, cls.CHECKPOINT)
            or bool(re.fullmatch(r"[0-9a-f]{16}-.+", name))
            or (name.startswith(".") and name.endswith(".tmp"))
        )

    def foreign_files(self) -> list[str]:
        """The names in this folder that tuneoff did not write (a user's notes)."""
        return sorted(p.name for p in self.path.iterdir() if not self.owns(p.name)) if self.path.is_dir() else []

    def carry_over(self, earlier: JobFolder) -> None:
        """Move the files tuneoff does not own from an earlier copy of this job's folder into this one
        (a name this folder already has stays where it was)."""
        for name in earlier.foreign_files():
            if not (self.path / name).exists() and not (self.path / name).is_symlink():
                os.replace(earlier.path / name, self.path / name)

    def cache(self, key: str, name: str) -> Path:
        """A file cached beside this job (a teacher's predictions for its students)."""
        return self.path / f"{key}-{name}"

    # --- moving a job between machines (Ray) ----------------------------------------------------

    def pack(self) -> dict:
        """Every file of this job: small files as bytes, the checkpoint as one tar.gz."""
        payload: dict = {"files": {}}
        for path in sorted(self.path.rglob("*")):
            if path.is_file() and self.CHECKPOINT not in path.relative_to(self.path).parts:
                payload["files"][path.relative_to(self.path).as_posix()] = path.read_bytes()
        if self.checkpoint.folder.is_dir():
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                tar.add(self.checkpoint.folder, arcname=self.CHECKPOINT)
            payload["checkpoint"] = buffer.getvalue()
        return payload

    def unpack(self, payload: dict) -> None:
        """Write a packed job into this (empty) folder."""
        for name, data in payload["files"].items():
            write_atomic(self.path / name, data)
        if "checkpoint" in payload:
            with tarfile.open(fileobj=io.BytesIO(payload["checkpoint"]), mode="r:gz") as tar:
                tar.extractall(self.path, filter="data")
