"""The one training loop. It never asks which model or strategy it is running."""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from tuneoff.plan.config import Protocol
from tuneoff.strategies import Full, Setup, Strategy
from tuneoff.strategies.base import Evaluated, Rate
from tuneoff.training.batching import Encoded, collate, steps_per_epoch, train_batches
from tuneoff.training.evaluate import score
from tuneoff.training.steps import (
    CapturedForward,
    CapturedStep,
    CudaGraphs,
    EagerStep,
    autocast,
    autocast_dtype,
    eager_reason,
    updated_parameters,
)

LOG_EVERY = 10  # steps between train-loss records (and non-finite checks)
PAUSE_AT = "TUNEOFF_TEST_PAUSE_AT"  # test-only, see pause_for_a_test


class NonFiniteLoss(RuntimeError):
    pass


@dataclass
class Trained:
    epochs: list[dict] = field(default_factory=list)
    steps: list[list[float]] = field(default_factory=list)  # [step, mean train loss since last record]
    windows: list[list[float]] = field(default_factory=list)  # [steps, samples, seconds] between loss reads
    # at the same steps: the head's learning rate after the step, and the gradient norm before clipping
    step_stats: dict = field(default_factory=lambda: {"learning_rate": [], "grad_norm": []})
    best_epoch: int = 0
    train_seconds: float = 0.0
    train_samples: int = 0
    kernel_warmup_seconds: float = 0.0
    step: dict = field(default_factory=dict)  # which step path ran ({"path", "eager_reason", "graphs"})
    forward: object = None  # scoring's captured forward pass, for the test set too (None: eager)
    report: dict = field(default_factory=dict)  # what the strategy records of its own (WiSE-FT: the alpha it chose)


@contextmanager
def matmul_precision(p: Protocol, device: torch.device):
    """precision = "tf32": fp32 matmuls run on TF32 tensor cores on CUDA, for the
    duration of the block only (the setting is process-wide). Elsewhere a no-op."""
    if p.precision != "tf32" or device.type != "cuda":
        yield
        return
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved)


def make_optimizer(model, p: Protocol, params: list | None = None, capturable: bool = False) -> torch.optim.Optimizer:
    """AdamW over the given (name, parameter, rate) triples, by default every trainable parameter at the
    protocol's rate (frozen ones get no state). A rate is a scale of the protocol's learning rate or a ``Rate``
    (an absolute rate, a say on weight decay); by default no decay on biases and norms. ``capturable``: for
    captured steps on CUDA, learning rates are device tensors the schedule fills in place."""
    if params is None:
        params = [(n, q, 1.0) for n, q in model.named_parameters() if q.requires_grad]
    by_rate: dict[tuple, list] = {}
    for name, param, rate in params:
        rate = rate if isinstance(rate, Rate) else Rate(scale=rate)
        lr = rate.lr if rate.lr is not None else p.learning_rate * rate.scale
        decays = rate.decay if rate.decay is not None else not (param.ndim < 2 or "norm" in name.lower())
        by_rate.setdefault((lr, decays), []).append(param)
    groups: list[dict[str, Any]] = [
        {"params": qs, "lr": lr, "weight_decay": p.weight_decay if decays else 0.0}
        for (lr, decays), qs in by_rate.items()
    ]
    # The fused kernel (CPU and CUDA) does the update in one pass; ~20 % of a CPU step is AdamW.
    fused = all(q.device.type in ("cpu", "cuda") for g in groups for q in g["params"])
    if capturable:
        for g in groups:
            g["lr"] = torch.tensor(g["lr"], device=g["params"][0].device)
        return torch.optim.AdamW(groups, lr=p.learning_rate, fused=True, capturable=True)
    return torch.optim.AdamW(groups, lr=p.learning_rate, fused=fused, foreach=None if fused else True)


def linear_schedule(optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def warm_up_batches(data: Encoded, batches: list, device_type: str) -> list:
    """One batch per distinct width on CUDA, the widest batch alone elsewhere."""
    widths: dict[int, list] = {}
    for index in batches:
        widths.setdefault(int(max(len(data.ids[i]) for i in index)), index)
    return list(widths.values()) if device_type == "cuda" else [widths[max(widths)]]


def warm_up_kernels(model, data: Encoded, batches: list, device: torch.device, amp: torch.dtype | None) -> float:
    """Untimed forward and backward passes with no update, so that one-time costs stay
    out of the timed epoch and do not depend on which player runs first in a process.

    CUDA chooses kernels and grows its allocator the first time each shape is seen
    (measured on an H100: the first bf16 pass over a data set ran 3-5x slower than the
    second), so it gets one batch per distinct width. On CPU the one-time cost is the
    library's set-up (in a 2-step bf16 run the first player took 1.7 s longer than the
    same player run second), not per shape (epoch 1 of runs/offline took 94 s, then
    97 s and 95 s), so the widest batch alone does.
    Weights, gradients and the random state are left as they were.
    """
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for index in warm_up_batches(data, batches, device.type):
            batch = collate(data, index, device)
            with autocast(device.type, amp):
                model(**batch).loss.backward()
    for q in model.parameters():
        q.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def pause_for_a_test(pause: str, done: int) -> None:
    """Test-only, never set in real runs: with ``TUNEOFF_TEST_PAUSE_AT=STEP:PATH`` the job that first
    reaches optimizer step STEP (counted over the whole run) creates PATH (``{pid}`` in it: this
    process's id) holding its pid, then waits until a signal ends it, so that a test stops a run at a
    known point rather than after some time. A job that finds PATH already there runs on (a retry)."""
    step, _, path = pause.partition(":")
    if int(step) != done:
        return
    try:
        fd = os.open(path.replace("{pid}", str(os.getpid())), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    while True:  # time.sleep returns to Python between naps: SIGINT and SIGTERM still raise here
        time.sleep(0.05)


def order_seed(p: Protocol) -> int:
    """Batch order follows protocol.data_seed when set, else the seed."""
    return p.seed if p.data_seed is None else p.data_seed


def train(
    model,
    train_set: Encoded,
    dev_set: Encoded,
    p: Protocol,
    device: torch.device,
    progress=None,
    probe: Encoded | None = None,
    strategy: Strategy | None = None,
    setup: Setup | None = None,
    log=None,
) -> Trained:
    """Train for p.epochs, score dev (and the training probe) after each epoch, leave the best-on-dev
    weights in the model. The strategy's hooks choose the parameters, the loss and the schedule, and which
    weights are scored and kept (the trained ones, or e.g. their average; see strategies.base.Evaluated).

    ``log``: called with a dict as the job goes, as Hugging Face's ``report_to`` logs: every recorded step
    ({"step", "loss", "learning_rate", "grad_norm"}) and every epoch's record (with its "step"); the caller
    decides where it goes (run.live sends it to experiment trackers)."""
    strategy = strategy or Full()
    hooks_setup: Any = setup  # None for the default strategy outside a tournament (tests, benchmarks)
    amp = autocast_dtype(p)
    reason = eager_reason(p, device, strategy)  # why not captured, when cuda_graphs asks for it
    captured = bool(p.cuda_graphs) and reason is None
    optimizer, scheduler = _optimizer_and_schedule(model, len(train_set), p, strategy, hooks_setup, captured)
    owned = updated_parameters(optimizer)
    out, best_accuracy = Trained(), -1.0
    best_state: list[torch.Tensor] | None = None
    # scored, kept and saved: the trained weights, or e.g. their average
    evaluated = strategy.evaluated(model, hooks_setup)
    # Shares the parameters; compiling happens on the first steps, inside the timed epoch.
    net = torch.compile(model, dynamic=True) if p.compile else model
    step, out.forward = _stepper(net, model, optimizer, p, (strategy, setup), device, reason)

    model.train()  # the eager model: torch.compile's own compiling stays inside the timed epoch
    first_epoch = train_batches(train_set.lengths(), p.batch_size, p.bucket_batches, order_seed(p) + 1)
    out.kernel_warmup_seconds = warm_up_kernels(model, train_set, first_epoch, device, amp)
    pause = os.environ.get(PAUSE_AT)  # test-only (pause_for_a_test); None in real runs

    for epoch in range(1, p.epochs + 1):
        strategy.before_epoch(model, hooks_setup, epoch)
        seconds, epoch_loss = run_epoch(
            step, evaluated, scheduler, train_set, p, device, epoch, out, progress, pause, log
        )
        with evaluated.swapped_in():
            scores = evaluate_epoch(net, dev_set, probe, p, device, progress, out.forward)
            # ties keep the earlier epoch; an epoch whose evaluated weights are not ready (SWA before its first
            # snapshot) is recorded but never kept
            if evaluated.keepable() and scores["dev_accuracy"] > best_accuracy:
                best_accuracy, out.best_epoch = scores["dev_accuracy"], epoch
                best_state = [q.detach().clone() for q in owned]
        record = _epoch_record(epoch, epoch_loss, scores, seconds, scheduler, p, len(train_set))
        end_epoch(out, record, len(train_set), p.epochs, progress, log)

    _restore(owned, best_state)
    out.report = evaluated.after_training(
        lambda: evaluate_epoch(net, dev_set, None, p, device, None, out.forward)["dev_accuracy"]
    )
    out.step = step.record
    return out


def _stepper(net, model, optimizer, p: Protocol, hooks, device: torch.device, eager: str | None):
    """The training step, captured in CUDA graphs unless ``eager`` says why not, and the scoring forward to match
    (None: the eager model)."""
    if eager is None and p.cuda_graphs:
        step = CapturedStep(net, model, optimizer, p, hooks, CudaGraphs(device))
        return step, CapturedForward(model, CudaGraphs(device), autocast_dtype(p))
    return EagerStep(net, model, optimizer, p, hooks, eager), None


def _optimizer_and_schedule(model, examples: int, p: Protocol, strategy: Strategy, hooks_setup, captured: bool):
    """The strategy's optimizer and schedule, or the protocol's AdamW and linear warm-up and decay."""
    optimizer = strategy.optimizer(model, p.learning_rate, p.weight_decay) or make_optimizer(
        model, p, strategy.parameters(model, hooks_setup), capturable=captured
    )
    total = steps_per_epoch(examples, p.batch_size) * p.epochs
    warmup = round(p.warmup_ratio * total)
    return optimizer, strategy.schedule(optimizer, warmup, total) or linear_schedule(optimizer, warmup, total)


def _epoch_record(epoch: int, loss: float, scores: dict, seconds: float, scheduler, p: Protocol, examples: int):
    """One epoch's record: its loss, dev (and probe) scores, time, end rates and the optimizer step it ended at."""
    return {
        "epoch": epoch,
        "train_loss": loss,
        **scores,
        "train_seconds": seconds,
        **_rates_end(scheduler, p.learning_rate),
        "step": epoch * steps_per_epoch(examples, p.batch_size),
    }


def _rates_end(scheduler, learning_rate: float) -> dict:
    """The rates at the epoch's end: the head's (the protocol's, times the schedule's factor, which is every
    group's), then each group's, largest first."""
    return {
        "learning_rate_end": learning_rate * float(scheduler.get_last_lr()[0]) / float(scheduler.base_lrs[0]),
        "learning_rates_end": sorted((float(r) for r in scheduler.get_last_lr()), reverse=True),
    }


def _restore(owned: list, best_state: list | None) -> None:
    """Leave the kept epoch's weights in the trained parameters."""
    if best_state is None:
        raise RuntimeError("no epoch's weights could be kept: the strategy's evaluated weights were never ready")
    with torch.no_grad():
        for q, best in zip(owned, best_state):
            q.copy_(best)


def end_epoch(out: Trained, record: dict, samples: int, epochs: int, progress, log) -> None:
    """Keep the epoch's record, send it to ``log`` and print its line (also where no live bar is drawn)."""
    out.epochs.append(record)
    out.train_seconds += record["train_seconds"]
    out.train_samples += samples
    if log is not None:
        log(dict(record))
    if progress is not None:
        progress.console.print(
            f"  epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}, dev loss "
            f"{record['dev_loss']:.4f}, dev accuracy {record['dev_accuracy']:.2%} ({record['train_seconds']:.0f} s)"
        )


def run_epoch(
    step: EagerStep,
    evaluated: Evaluated,
    scheduler,
    train_set: Encoded,
    p: Protocol,
    device,
    epoch: int,
    out: Trained,
    progress,
    pause: str | None = None,
    log=None,
) -> tuple[float, float]:
    """One pass over the training set; returns (seconds, mean training loss). Appends to ``out.steps``.
    ``pause``: the test-only ``TUNEOFF_TEST_PAUSE_AT`` (see pause_for_a_test)."""
    model, strategy, setup = step.model, step.strategy, step.setup
    step.net.train()
    per_epoch = steps_per_epoch(len(train_set), p.batch_size)
    task = progress.add_task(f"  epoch {epoch}/{p.epochs}", total=per_epoch) if progress else None
    # Losses stay on the device; reading them is a sync, done once per LOG_EVERY steps.
    epoch_loss = torch.zeros((), device=device)
    window, window_n, done = torch.zeros((), device=device), 0, (epoch - 1) * per_epoch
    started = tick = time.perf_counter()
    samples = 0  # in the current window
    for index in train_batches(train_set.lengths(), p.batch_size, p.bucket_batches, order_seed(p) + epoch):
        batch = collate(train_set, index, device)
        loss = step(batch, index)  # forward, backward, clipping, optimizer update: eager or captured
        scheduler.step()
        done += 1
        strategy.after_step(model, setup, done)  # before the gradients are cleared: AdaLoRA reads them
        evaluated.after_step(done)  # e.g. the running average takes in the new weights
        step.end()
        if pause:  # test-only
            pause_for_a_test(pause, done)
        epoch_loss += loss * len(index)
        window += loss
        window_n, samples = window_n + 1, samples + len(index)
        if task is not None:  # every step (no sync): a short epoch's bar moves too
            progress.update(task, completed=done - (epoch - 1) * per_epoch)
        if window_n == LOG_EVERY or done % per_epoch == 0:
            mean = float(window) / window_n  # waits for the device: the window's time below holds its work
            out.windows.append([window_n, samples, time.perf_counter() - tick])
            tick, samples = time.perf_counter(), 0
            if not math.isfinite(mean):
                raise NonFiniteLoss(f"training loss became {mean} at epoch {epoch}, step {done}")
            out.steps.append([done, mean])
            stats = step_stats(step, scheduler, p)
            for key, value in stats.items():
                if value is not None:
                    out.step_stats[key].append([done, value])
            if log is not None:
                log({"step": done, "loss": mean, **stats})
            window, window_n = torch.zeros((), device=device), 0
            if task is not None:
                progress.update(task, loss=mean)
    seconds = time.perf_counter() - started
    if task is not None:
        progress.remove_task(task)
    return seconds, float(epoch_loss) / len(train_set)


def step_stats(step: EagerStep, scheduler, p: Protocol) -> dict:
    """The head's learning rate after this step (the protocol's, times the schedule's factor) and the gradient
    norm before clipping (None without clipping); read at the loss's records only, as a sync."""
    rate = p.learning_rate * float(scheduler.get_last_lr()[0]) / float(scheduler.base_lrs[0])
    return {"learning_rate": rate, "grad_norm": None if step.grad_norm is None else float(step.grad_norm)}


def evaluate_epoch(net, dev_set: Encoded, probe: Encoded | None, p: Protocol, device, progress, forward=None) -> dict:
    """Dev loss and accuracy; with a probe, the same on training sentences and the gap between them."""
    amp = autocast_dtype(p)
    started = time.perf_counter()
    dev = score(net, dev_set, p.eval_batch_size, device, amp, progress, forward)
    record = {
        "dev_loss": dev.loss,
        "dev_accuracy": dev.accuracy(dev_set.labels),
        "dev_seconds": time.perf_counter() - started,
    }
    if probe is not None:
        seen = score(net, probe, p.eval_batch_size, device, amp, progress, forward)
        record.update(
            train_eval_loss=seen.loss,
            train_eval_accuracy=seen.accuracy(probe.labels),
            generalization_gap=seen.accuracy(probe.labels) - record["dev_accuracy"],
        )
    return record
