"""Checks that need no training, run for every job about to train, before the first one does."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuneoff.plan.config import ConfigError
from tuneoff.plan.jobs import Job
from tuneoff.run.teachers import teacher_job
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.status import Status
from tuneoff.training.system import pick_device


def preflight(todo: list[Job], out: RunFolder, classes: int = 5) -> None:
    """Every check that needs no training, for every player about to train; one error lists them all."""
    problems, skeletons, seen = [], {}, set()
    training = {job.name for job in todo}
    for job in todo:
        folder = out.job(job.name, job.label).path
        if folder.exists() and not (folder.is_dir() and _writable(folder)):
            problems.append(f"player {job.name} {job.label}: {folder} is not a writable folder")
        if (teacher := job.player.strategy.teacher_name()) is not None and teacher not in training:
            problems += _teacher_missing(job, teacher, out)
        options = json.dumps(job.player.strategy.model_dump(mode="json"), sort_keys=True)
        if (job.name, options) in seen:  # the checks depend on the strategy's options (a trial's knob), not the seed
            continue
        seen.add((job.name, options))
        name, source = job.player.name, job.player.model
        key = json.dumps(source.model_dump(mode="json"), sort_keys=True)
        if key not in skeletons:
            try:
                skeletons[key] = source.skeleton(num_labels=classes)
            except Exception as err:  # noqa: BLE001 - any reason a source cannot resolve is reported
                skeletons[key] = f"{type(err).__name__}: {err}" if not isinstance(err, RuntimeError) else str(err)
        model = skeletons[key]
        if isinstance(model, str):
            problems.append(f"player {name}: model {source.kind}: {model}")
            continue
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions and job.protocol.max_seq_len > positions:
            problems.append(
                f"player {name}: protocol.max_seq_len = {job.protocol.max_seq_len} exceeds the model's "
                f"{positions} positions; use at most {positions}"
            )
        problems += [f"player {name}: {p}" for p in job.player.strategy.check(model, job.protocol)]
        try:
            pick_device(job.protocol.device)
        except RuntimeError as err:
            problems.append(f"player {name}: {err}")
    if problems:
        raise ConfigError("\n".join(problems) + "\nNothing was trained.")


def _teacher_missing(job: Job, teacher: str, out: RunFolder) -> list[str]:
    """A student whose teacher is not about to train needs the teacher's completed result (same seeds) in ``out``."""
    folder = teacher_job(job, out)
    if folder is None:  # not a student
        return []
    result = folder.result_or_none()
    # A trial is planned before its teacher's finals, so it knows no teacher hash yet: any completed result does.
    current = job.identity.get("teacher") in (None, (result or {}).get("job_hash"))
    if result and result["status"] == Status.COMPLETED and current:
        return []
    state = "no completed result" if not result or result["status"] != Status.COMPLETED else "a stale result"
    return [
        f"player {job.name} {job.label}: its teacher {teacher!r} has {state} for {folder.label} in {out.path} "
        f"under this config and is not selected to train; add --only {teacher}"
    ]


def _writable(folder: Path) -> bool:

    return os.access(folder, os.W_OK | os.X_OK) and all(
        os.access(p, os.W_OK | os.X_OK) for p in folder.rglob("*") if p.is_dir()
    )
