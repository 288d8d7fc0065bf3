"""An equal tuning budget: one trial per (learning rate, tuning seed), trained and scored on dev only.

A trial never touches the test split: it samples the training and dev splits, trains
with the one loop, and records the dev accuracy of every epoch in ``tuning.json`` (no
checkpoint). The tournament then keeps, per player, the rate with the best mean dev
accuracy and runs the final seeds at it; each final result records the whole sweep.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from tuneoff.plan.jobs import Job
from tuneoff.store.results import ResultsError, write_json

TRIAL_FILE = "tuning.json"
TRIAL_SCHEMA = "tuneoff.tuning/1"


def run_trial(job: Job, dataset, folder: Path, record: dict, progress=None, warn=print) -> dict:
    """Train one trial and fill in ``record`` (written by the caller as it goes)."""
    from tuneoff.run.final import _build
    from tuneoff.training.system import fingerprint, pick_device
    from tuneoff.training.loop import matmul_precision, train

    if job.protocol.threads:
        torch.set_num_threads(job.protocol.threads)
    device = pick_device(job.protocol.device)
    p = job.protocol.on(device.type)
    torch.manual_seed(p.seed)
    record["environment"] = fingerprint(device)
    train_split, dev_split = dataset.train.sample(job.data.max_train), dataset.dev.sample(job.data.max_eval)
    steps_per_epoch = math.ceil(len(train_split) / p.batch_size)
    model, tokenizer, setup = _build(job, device, record, warn, steps_per_epoch * p.epochs, steps_per_epoch,
                                     len(dataset.labels))
    setup.context = job.player.strategy.context(job, folder.parents[2], train_split, device, p.eval_batch_size)
    from tuneoff.training.batching import encode

    train_set, dev_set = (encode(tokenizer, s.texts, s.labels, p.max_seq_len, p.static_shapes)
                          for s in (train_split, dev_split))
    with matmul_precision(p, device):
        trained = train(model, train_set, dev_set, p, device, progress, strategy=job.player.strategy, setup=setup)
    record.update(history={"epochs": trained.epochs}, best_epoch=trained.best_epoch,
                  best_dev_accuracy=trained.epochs[trained.best_epoch - 1]["dev_accuracy"],
                  train_seconds=trained.train_seconds, status="completed")
    return record


def base_record(job: Job) -> dict:
    from tuneoff.run.final import now

    return {"schema": TRIAL_SCHEMA, "status": "running", "error": None, "player": job.name,
            "learning_rate": job.protocol.learning_rate, "seed": job.seed, "job": job.identity,
            "job_hash": job.job_hash, "protocol": job.protocol.model_dump(mode="json"), "warnings": [],
            "started_at": now()}


def write_record(folder: Path, record: dict) -> None:
    write_json(folder / TRIAL_FILE, record)


def read_record(folder: Path) -> dict | None:
    """A trial's record, or None when it is missing or unreadable (the trial then runs again)."""
    import json

    try:
        record = json.loads((folder / TRIAL_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("schema") != TRIAL_SCHEMA:
        return None
    return record


def done(folder: Path, job: Job) -> dict | None:
    record = read_record(folder)
    if record and record["status"] == "completed" and record["job_hash"] == job.job_hash:
        return record
    return None


def ensure_complete(records: list[dict | None], player: str) -> list[dict]:
    missing = [r for r in records if r is None or r.get("status") != "completed"]
    if missing:
        raise ResultsError(f"player {player}: {len(missing)} tuning trial(s) did not complete; "
                           "its learning rate cannot be chosen")
    return records
