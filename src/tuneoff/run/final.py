"""One job (a player with one seed): a resolved config in, one results file and a checkpoint out.

It shares nothing with other jobs through globals, so a later scheduler can run
jobs in other processes or on other machines.
"""

from __future__ import annotations

import math
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from tuneoff.plan.config import Protocol
from tuneoff.data import Dataset, DatasetSpec
from tuneoff.training.batching import encode
from tuneoff.training.evaluate import metrics, score, score_extra
from tuneoff.plan.jobs import Job
from tuneoff.store.results import SCHEMA_VERSION, write_result
from tuneoff.store.runfolder import process_record
from tuneoff.models.roles import roles_for
from tuneoff.strategies import Setup, folder_bytes
from tuneoff.training.system import PeakMemory, fingerprint, pick_device
from tuneoff.training.steps import eager_reason
from tuneoff.training.loop import autocast_dtype, matmul_precision, train


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def data_record(dataset: Dataset, spec: DatasetSpec, train_set, dev_set, test_set) -> dict:
    counts = test_set.class_counts(len(dataset.labels))
    return {
        "name": dataset.name,
        "source": dataset.source,
        "dir": str(dataset.root),
        "sha256": dataset.fingerprint,
        "files_sha256": dataset.files,
        "checksums_ok": dataset.checksums_ok,
        "revision": dataset.revision,
        "sizes": {"train": len(train_set), "dev": len(dev_set), "test": len(test_set)},
        "test_sample": "all" if len(test_set) == len(dataset.test) else f"a fixed random {len(test_set)} (seed 0)",
        "max_train": spec.max_train,
        "max_eval": spec.max_eval,
        "test_class_counts": counts,
        "test_majority_rate": max(counts) / sum(counts),
    }


def base_result(job: Job, labels: tuple[str, ...]) -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "status": "running",
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


def run_job(job: Job, dataset: Dataset, folder: Path, result: dict, progress=None, warn=print, extras=(),
            concurrency: int = 1) -> dict:
    """Train, pick the best epoch on dev, score test once, save; fill in and write ``result``.

    ``result`` is filled as the job goes, so a caller that catches a failure still
    has what was known (environment, parameters, warnings) to record.
    """
    run_dir = folder.parents[2]  # <run>/players/<player>/<seed label>
    if job.protocol.threads:
        torch.set_num_threads(job.protocol.threads)
    device = pick_device(job.protocol.device)
    p = job.protocol.on(device.type)  # captured steps and static shapes: the device's defaults settled
    torch.manual_seed(p.seed)  # new layers' weights and dropout; batch order has its own seeded generator
    result["environment"] = fingerprint(device)
    splits = (dataset.train.sample(job.data.max_train), dataset.dev.sample(job.data.max_eval),
              dataset.test.sample(job.data.max_eval))
    steps_per_epoch = math.ceil(len(splits[0]) / p.batch_size)
    model, tokenizer, setup = _build(job, device, result, warn, steps_per_epoch * p.epochs, steps_per_epoch,
                                     len(dataset.labels))
    setup.context = job.player.strategy.context(job, run_dir, splits[0], device, p.eval_batch_size)
    sets, probe = _encode(p, job, dataset, splits, tokenizer, result)
    train_set, dev_set, test_set = sets

    with PeakMemory(device) as memory, matmul_precision(p, device):
        trained = train(model, train_set, dev_set, p, device, progress, probe=probe, strategy=job.player.strategy,
                        setup=setup)
        started = time.perf_counter()
        tested = score(model, test_set, p.eval_batch_size, device, autocast_dtype(p), progress, trained.forward)
        test_seconds = time.perf_counter() - started
        if extras:
            result["extra_eval"] = {x.name: score_extra(model, tokenizer, x, p, device, progress) for x in extras}

    result["step"] = {**trained.step, "static_shapes": p.static_shapes}
    result["history"] = {"epochs": trained.epochs, "steps": trained.steps}
    result["best_epoch"] = trained.best_epoch
    result["generalization"] = generalization(trained.epochs, trained.best_epoch)
    result["test"] = {"loss": tested.loss, **metrics(test_set.labels, tested.predictions, len(dataset.labels)),
                      "predictions": [int(x) for x in tested.predictions], "labels": list(test_set.labels)}
    result["timing"] = {
        "train_seconds": trained.train_seconds,
        "kernel_warmup_seconds": trained.kernel_warmup_seconds,
        "train_samples_per_second": trained.train_samples / trained.train_seconds,
        "dev_eval_seconds": sum(e["dev_seconds"] for e in trained.epochs),
        "test_eval_seconds": test_seconds,
        "test_samples_per_second": len(test_set) / test_seconds,
        "concurrent_jobs": concurrency,  # jobs running at once on this machine while this one trained
    }
    result["memory"] = {"peak_rss_bytes": memory.peak_rss, "peak_gpu_bytes": memory.peak_gpu()}
    _save(job, model, tokenizer, folder, result)
    result["status"] = "completed"
    result["finished_at"] = now()
    write_result(folder, result)
    return result


def _build(job: Job, device, result: dict, warn, total_steps: int, steps_per_epoch: int, classes: int):
    built = job.player.model.build(num_labels=classes)
    setup = Setup(built.pretrained, roles_for(built.model), total_steps, steps_per_epoch)
    model, warnings = job.player.strategy.apply(built.model, setup)
    warnings = random_base_warning(job, model, setup) + warnings
    if job.protocol.precision == "tf32" and device.type != "cuda":
        warnings = [*warnings, f"precision tf32 has no effect on {device.type}: this player ran in plain fp32"]
    if reason := eager_reason(job.protocol, device, job.player.strategy):
        warnings = [*warnings, f"eager training steps: {reason}"]
    for w in warnings:
        warn(w)
    result["warnings"] += warnings
    model.to(device)
    revision = getattr(getattr(built.model, "config", None), "_commit_hash", None)
    result["model"] = {"description": built.description, "pretrained": built.pretrained, "revision": revision}
    owned = job.player.strategy.parameters(model, setup)
    result["parameters"] = {
        "total": sum(q.numel() for q in model.parameters()),
        "trainable": sum(q.numel() for _, q, _ in owned) or sum(q.numel() for q in model.parameters() if q.requires_grad),
    }
    return model, built.tokenizer, setup


def random_base_warning(job: Job, model, setup: Setup) -> list[str]:
    """Frozen weights that were never trained carry no knowledge: say so loudly."""
    head = tuple(f"{h}." for h in setup.roles.head)
    frozen = any(not q.requires_grad and ".modules_to_save." not in n and not n.split("base_model.model.")[-1]
                 .startswith(head) for n, q in model.named_parameters())
    if setup.pretrained or not frozen:
        return []
    name = "LoRA" if job.player.strategy.name == "lora" else job.player.strategy.name
    return [f"{name} over a RANDOMLY INITIALISED base: the frozen weights carry no knowledge, so only what "
            f"{name} trains can learn. Expect a collapse to the majority class; with LoRA this reproduces the "
            "published player 2, it is not a fair test of the strategy."]


PROBE_SEED = 1  # the training sentences scored each epoch are the same for every player and seed


def _encode(p: Protocol, job: Job, dataset: Dataset, splits, tokenizer, result: dict):
    """Train, dev and test sets, and the probe: a fixed random dev-sized subset of the training set."""
    result["data"] = data_record(dataset, job.data, *splits)
    probe = splits[0].sample(len(splits[1]), seed=PROBE_SEED)
    result["data"]["train_probe_size"] = len(probe)
    encoded = [encode(tokenizer, s.texts, s.labels, p.max_seq_len, p.static_shapes) for s in (*splits, probe)]
    return encoded[:3], encoded[3]


def generalization(epochs: list[dict], best_epoch: int) -> dict:
    """Where overfitting starts (lowest dev loss) and the train-minus-dev accuracy gap at the kept epoch."""
    lowest = min(epochs, key=lambda e: (e["dev_loss"], e["epoch"]))["epoch"]
    kept = epochs[best_epoch - 1]
    return {"lowest_dev_loss_epoch": lowest, "gap_at_best_epoch": kept.get("generalization_gap")}


def _save(job: Job, model, tokenizer, folder: Path, result: dict) -> None:
    checkpoint = folder / "checkpoint"
    shutil.rmtree(checkpoint, ignore_errors=True)
    saved = job.player.strategy.save(model, tokenizer, checkpoint)
    result["checkpoint"] = {**saved, "bytes": folder_bytes(checkpoint)}


def end_unfinished(folder: Path, result: dict, status: str, error: str) -> None:
    """Record a job that did not finish; it is never marked completed and keeps no checkpoint.

    The checkpoint goes first: after a disk-full error that frees the space the record needs.
    """
    shutil.rmtree(folder / "checkpoint", ignore_errors=True)
    result.update(status=status, error=error, finished_at=now())
    write_result(folder, result)


CHECKPOINT_FILES = ("config.json", "model.safetensors")


def checkpoint_missing(folder: Path, result: dict) -> str | None:
    """The first file a completed result's checkpoint lacks (relative to the player folder), or None."""
    checkpoint = result.get("checkpoint", {})
    path = checkpoint.get("path", "checkpoint/model")
    for name in CHECKPOINT_FILES:
        if not (folder / path / name).is_file():
            return f"{path}/{name}"
    if checkpoint.get("adapter") and not (folder / checkpoint["adapter"] / "adapter_config.json").is_file():
        return f"{checkpoint['adapter']}/adapter_config.json"
    return None
