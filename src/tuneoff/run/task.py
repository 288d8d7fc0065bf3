"""A task (one job with what it needs to run anywhere) and the prologue every job shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuneoff.plan.config import Protocol
from tuneoff.plan.jobs import Job
from tuneoff.store.runfolder import JobFolder, RunFolder

if TYPE_CHECKING:  # torch and the strategies load when a job runs, not when this module is imported
    import torch

    from tuneoff.strategies import Setup


@dataclass(frozen=True)
class Task:
    """One job with what it needs to run anywhere; picklable."""

    job: Job
    data: tuple  # (Dataset, [Extra])
    folder: JobFolder  # where its files go
    run: RunFolder  # the run it belongs to (a student reads its teacher's job there; on Ray, a scratch copy)
    threads: int = 0  # torch threads for this job when the protocol leaves it at 0
    concurrency: int = 1  # how many jobs run at once beside it
    track: tuple = ()  # experiment trackers (report.track.Tracker) this job is exported to when it ends
    position: tuple[int, int] | None = None  # (index, total): job 3 of 8 of what this run trains
    heading: str = ""  # what the executor adds to the job's heading line (job 3 of 8, the tournament's ETA)


@dataclass
class Prepared:
    """What a final job and a tuning trial both train from."""

    protocol: Protocol  # the job's protocol with the device's defaults settled
    device: torch.device
    splits: tuple  # train, dev and (final jobs only) test, sampled as the data options say
    model: Any
    tokenizer: Any
    setup: Setup


def prepare(task: Task, record: dict, warn) -> Prepared:
    """Threads, device, seed, data sample, model and strategy: the prologue every job shares."""
    import torch

    from tuneoff.run.build import build
    from tuneoff.training.batching import steps_per_epoch
    from tuneoff.training.system import fingerprint, pick_device

    job, dataset = task.job, task.data[0]
    if job.protocol.threads:
        torch.set_num_threads(job.protocol.threads)
    device = pick_device(job.protocol.device)
    p = job.protocol.on(device.type)  # captured steps and static shapes: the device's defaults settled
    torch.manual_seed(p.seed)  # new layers' weights and dropout; batch order has its own seeded generator
    record["environment"] = fingerprint(device)
    splits: tuple = (dataset.train.sample(job.data.max_train), dataset.dev.sample(job.data.max_eval))
    if job.kind.tested:  # a tuning trial never reads the test split
        splits += (dataset.test.sample(job.data.max_eval),)
    per_epoch = steps_per_epoch(len(splits[0]), p.batch_size)
    model, tokenizer, setup = build(job, device, record, warn, per_epoch, len(dataset.labels), splits[0])
    record["warnings"] += list(getattr(dataset, "warnings", ()))  # the data's own (splits sharing texts)
    if job.player.strategy.teacher_name() is not None:
        from tuneoff.run.teachers import teacher_context

        setup.context = teacher_context(job, task.run, splits[0], device, p.eval_batch_size)
    return Prepared(p, device, splits, model, tokenizer, setup)
