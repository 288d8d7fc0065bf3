"""Progress: the epoch bar moves at every optimizer step, sequential runs say "job 3 of 8" with the tournament's
ETA, and the loop's live records carry the learning rate and the gradient norm."""

from __future__ import annotations

import math

import torch
from test_train import CPU, setup

from tuneoff.run.progress import Tally, duration
from tuneoff.training.loop import train


class Recorder:
    """What the loop does with a progress bar, kept (rich's Progress has the same methods)."""

    def __init__(self):
        self.calls, self.console = [], self

    def add_task(self, description, total):
        self.calls.append(("add", description, total))
        return len(self.calls)

    def update(self, task, **fields):
        self.calls.append(("update", fields))

    def advance(self, task, by=1):
        self.calls.append(("advance", by))

    def remove_task(self, task):
        self.calls.append(("remove",))

    def print(self, *args, **kwargs):
        pass


def test_the_epoch_bar_moves_at_every_step(tree_dir):
    torch.set_num_threads(1)
    model, tr, dv, p = setup(tree_dir)
    bar = Recorder()
    train(model, tr, dv, p.model_copy(update={"epochs": 1}), CPU, bar)
    per_epoch = math.ceil(len(tr) / p.batch_size)
    moved = [f["completed"] for kind, *rest in bar.calls if kind == "update" for f in rest if "completed" in f]
    training = moved[:per_epoch]  # then scoring's own bars
    assert training == list(range(1, per_epoch + 1))


def test_the_log_gets_rate_and_gradient_norm_at_each_record(tree_dir):
    torch.set_num_threads(1)
    model, tr, dv, p = setup(tree_dir)
    records = []
    out = train(model, tr, dv, p.model_copy(update={"epochs": 2}), CPU, log=records.append)
    steps = [r for r in records if "epoch" not in r]
    assert len(steps) >= 2 and [[r["step"], r["loss"]] for r in steps] == out.steps
    assert all(r["grad_norm"] > 0 for r in steps)
    per_epoch = math.ceil(len(tr) / p.batch_size)
    assert steps[-1]["learning_rate"] == 0.0 < steps[0]["learning_rate"] <= p.learning_rate  # the linear schedule
    assert [r["step"] for r in records if "epoch" in r] == [per_epoch, 2 * per_epoch]

    model, tr, dv, p = setup(tree_dir)
    out = train(model, tr, dv, p.model_copy(update={"epochs": 1, "max_grad_norm": 0.0}), CPU)
    assert out.step_stats["grad_norm"] == [] and len(out.step_stats["learning_rate"]) == len(out.steps)


def test_the_tally_counts_jobs_and_estimates_what_is_left():
    tally = Tally()
    assert tally.heading(None) == ""
    assert tally.heading((1, 8)) == "job 1 of 8"  # nothing played yet: no estimate
    tally.done(50.0)
    tally.done(70.0)
    assert tally.heading((3, 8)) == "job 3 of 8, tournament ETA about 6 min 00 s"  # 60 s a job, 6 jobs left
    assert (duration(5.4), duration(3725)) == ("5 s", "1 h 02 min")
