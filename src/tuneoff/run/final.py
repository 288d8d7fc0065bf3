"""One job (a player with one seed): a resolved config in, one results file and a checkpoint out.

It shares nothing with other jobs through globals, so a later scheduler can run
jobs in other processes or on other machines.
"""

from __future__ import annotations

import time

from tuneoff.data import Dataset, DatasetSpec
from tuneoff.plan.config import Protocol
from tuneoff.plan.jobs import Job
from tuneoff.run.build import trained_parameters
from tuneoff.run.live import live_logs
from tuneoff.run.task import Task, prepare
from tuneoff.training.batching import encode
from tuneoff.training.evaluate import metrics, score, score_extra
from tuneoff.training.loop import matmul_precision, train
from tuneoff.training.steps import autocast_dtype
from tuneoff.training.system import PeakMemory


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


def run_job(task: Task, result: dict, progress=None, warn=print) -> dict:
    """Train, pick the best epoch on dev, score test once, save the checkpoint; fill in ``result``.

    ``result`` is filled as the job goes, so a caller that catches a failure still
    has what was known (environment, parameters, warnings) to record; the caller records how it ended. With
    trackers (``task.track``) the training loop's records are logged to them live (run.live).
    """
    job, folder, (dataset, extras) = task.job, task.folder, task.data
    prepared = prepare(task, result, warn)
    p, device, splits = prepared.protocol, prepared.device, prepared.splits
    model, tokenizer, setup = prepared.model, prepared.tokenizer, prepared.setup
    sets, probe = _encode(p, job, dataset, splits, tokenizer, result)
    train_set, dev_set, test_set = sets

    with PeakMemory(device) as memory, matmul_precision(p, device), live_logs(task, result, warn) as log:
        if job.ingredients:  # a soup: its final job trains its own sweep and combines the models
            from tuneoff.run.soup import cook

            trained = cook(model, job, train_set, dev_set, p, device, progress, probe, setup)
        else:
            trained = train(
                model,
                train_set,
                dev_set,
                p,
                device,
                progress,
                probe=probe,
                strategy=job.player.strategy,
                setup=setup,
                log=log,
            )
        started = time.perf_counter()
        tested = score(model, test_set, p.eval_batch_size, device, autocast_dtype(p), progress, trained.forward)
        test_seconds = time.perf_counter() - started
        if extras:
            result["extra_eval"] = {x.name: _score_extra(model, tokenizer, x, p, device, progress) for x in extras}

    result["parameters"]["trainable"] = trained_parameters(job.player.strategy, model, setup)  # opened while training
    _record(result, trained, tested, test_set, len(dataset.labels), p)
    result["timing"] = _timing(trained, test_seconds, len(test_set), task.concurrency, result.get("extra_eval"))
    result["memory"] = {"peak_rss_bytes": memory.peak_rss, "peak_gpu_bytes": memory.peak_gpu()}
    folder.remove_checkpoint()
    result["checkpoint"] = job.player.strategy.save(model, tokenizer, folder.checkpoint)
    return result


def _record(result: dict, trained, tested, test_set, classes: int, p: Protocol) -> None:
    """What training and the test left to record: the step, the history, the kept epoch, the test's scores."""
    result["step"] = {**trained.step, "static_shapes": p.static_shapes}
    result["history"] = {
        "epochs": trained.epochs,
        "steps": trained.steps,
        "window_seconds": trained.windows,
        "step_stats": {k: v for k, v in trained.step_stats.items() if v},
    }
    result["best_epoch"] = trained.best_epoch
    if trained.report:  # what the strategy records of its own (WiSE-FT: the alpha chosen on dev; a soup's)
        result["strategy_report"] = trained.report
    result["generalization"] = generalization(trained.epochs, trained.best_epoch)
    result["test"] = {
        "loss": tested.loss,
        **metrics(test_set.labels, tested.predictions, classes),
        "predictions": [int(x) for x in tested.predictions],
        "labels": list(test_set.labels),
    }


def _score_extra(model, tokenizer, extra, p: Protocol, device, progress) -> dict:
    """An extra test set's scores, and how long scoring it took (``seconds``)."""
    started = time.perf_counter()
    scored = score_extra(model, tokenizer, extra, p, device, progress)
    return {**scored, "seconds": time.perf_counter() - started}


def _timing(trained, test_seconds: float, test_size: int, concurrency: int, extra: dict | None) -> dict:
    out = {
        "train_seconds": trained.train_seconds,
        "kernel_warmup_seconds": trained.kernel_warmup_seconds,
        "train_samples_per_second": trained.train_samples / trained.train_seconds,
        "dev_eval_seconds": sum(e["dev_seconds"] for e in trained.epochs),
        "test_eval_seconds": test_seconds,
        "test_samples_per_second": test_size / test_seconds,
        "concurrent_jobs": concurrency,  # jobs running at once on this machine while this one trained
    }
    if extra:  # every extra test set's scoring, together (each set's own: extra_eval.NAME.seconds)
        out["extra_eval_seconds"] = sum(x["seconds"] for x in extra.values())
    return out


PROBE_SEED = 1  # the training sentences scored each epoch are the same for every player and seed


def _encode(p: Protocol, job: Job, dataset: Dataset, splits, tokenizer, result: dict):
    """Train, dev and test sets, and the probe: a fixed random dev-sized subset of the training set."""
    result["data"] = data_record(dataset, job.data, *splits)
    probe = splits[0].sample(len(splits[1]), seed=PROBE_SEED)
    result["data"]["train_probe_size"] = len(probe)
    encoded = [encode(tokenizer, s.texts, s.labels, p.max_seq_len, p.static_shapes or 0) for s in (*splits, probe)]
    return encoded[:3], encoded[3]


def generalization(epochs: list[dict], best_epoch: int) -> dict:
    """Where overfitting starts (lowest dev loss) and the train-minus-dev accuracy gap at the kept epoch."""
    lowest = min(epochs, key=lambda e: (e["dev_loss"], e["epoch"]))["epoch"]
    kept = epochs[best_epoch - 1]
    return {"lowest_dev_loss_epoch": lowest, "gap_at_best_epoch": kept.get("generalization_gap")}
