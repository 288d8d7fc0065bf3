"""The fair tuning budget: one trial per (point of the player's sweep, tuning seed), trained and scored on dev only.

A point is a learning rate, with the strategy's knob value and second rate where it has them (``plan.grid``).
A trial never touches the test split: it samples the training and dev splits, trains
with the one loop, and records the dev accuracy of every epoch in its trial record (no
checkpoint). The tournament then keeps, per player, the point with the best mean dev
accuracy over the tuning seeds (``plan.choice.choose``) and runs the final seeds at it; each
final result records the whole sweep.
"""

from __future__ import annotations

from tuneoff.run.task import Task, prepare
from tuneoff.training.batching import encode
from tuneoff.training.loop import matmul_precision, train


def run_trial(task: Task, record: dict, progress=None, warn=print) -> dict:
    """Train one trial and fill in ``record`` (the caller writes it and records how it ended)."""
    prepared = prepare(task, record, warn)
    p, device = prepared.protocol, prepared.device
    train_split, dev_split = prepared.splits[:2]
    train_set, dev_set = (
        encode(prepared.tokenizer, s.texts, s.labels, p.max_seq_len, p.static_shapes or 0)
        for s in (train_split, dev_split)
    )
    with matmul_precision(p, device):
        trained = train(
            prepared.model,
            train_set,
            dev_set,
            p,
            device,
            progress,
            strategy=task.job.player.strategy,
            setup=prepared.setup,
        )
    record.update(
        history={"epochs": trained.epochs},
        best_epoch=trained.best_epoch,
        best_dev_accuracy=trained.epochs[trained.best_epoch - 1]["dev_accuracy"],
        train_seconds=trained.train_seconds,
    )
    return record
