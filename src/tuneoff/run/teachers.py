"""A student's teacher, read from the run folder by the runner (strategies never read it themselves).

On Ray the run folder is the driver's: the executor ships the teacher's job (``teacher_job``) with the
student's task and the worker reads it from its own scratch copy of the run folder's layout."""

from __future__ import annotations

import hashlib
import io

from tuneoff.plan.jobs import Job
from tuneoff.store.files import write_atomic
from tuneoff.store.runfolder import JobFolder, RunFolder, seed_label
from tuneoff.store.status import Status
from tuneoff.strategies.regularisers import TeacherContext

CACHE = "train_logits.npy"


def teacher_job(job: Job, run: RunFolder) -> JobFolder | None:
    """The folder of the job that teaches this one (its teacher player, same seeds); None without a teacher."""
    teacher = job.player.strategy.teacher_name()
    return None if teacher is None else run.job(teacher, seed_label(job.seed, job.data_seed))


def teacher_context(job: Job, run: RunFolder, train_split, device, batch_size: int) -> TeacherContext:
    """The teacher job's (same seeds) log-probabilities on the student's training sentences, cached beside it."""
    import numpy as np
    import torch

    folder = teacher_job(job, run)
    if folder is None:
        raise RuntimeError(f"player {job.name!r} learns from no teacher")
    result = folder.result_or_none()
    if not result or result["status"] != Status.COMPLETED or result["job_hash"] != job.identity.get("teacher"):
        raise RuntimeError(
            f"teacher {folder.player!r} has no completed result for {folder.label} under the "
            "current config; it must train first (the tournament orders teachers before students)"
        )
    key = hashlib.sha256(("\n".join(train_split.texts) + result["job_hash"]).encode()).hexdigest()[:16]
    path = folder.cache(key, CACHE)
    if not path.is_file():
        buffer = io.BytesIO()
        np.save(buffer, _log_probabilities(folder, result, train_split, device, batch_size))
        write_atomic(path, buffer.getvalue())
    return TeacherContext(torch.from_numpy(np.load(path)))


def _log_probabilities(folder, result: dict, train_split, device, batch_size: int):
    import numpy as np

    from tuneoff.strategies import load_checkpoint
    from tuneoff.training.batching import encode
    from tuneoff.training.evaluate import score

    tokenizer, model = load_checkpoint(folder.checkpoint_of(result))
    model = model.to(device)
    data = encode(tokenizer, train_split.texts, train_split.labels, result["protocol"]["max_seq_len"])
    probs = score(model, data, batch_size, device).probabilities
    return np.log(np.clip(probs, 1e-12, None)).astype(np.float32)
