"""A job's model: built from its source, shaped by its strategy, with the warnings worth shouting."""

from __future__ import annotations

from tuneoff.models.roles import roles_for
from tuneoff.plan.jobs import Job
from tuneoff.strategies import Setup
from tuneoff.training.steps import eager_reason


def build(job: Job, device, record: dict, warn, steps_per_epoch: int, classes: int, train_split=None):
    """(model on the device, tokenizer, Setup); fills the record's model, parameters and warnings."""
    built = job.player.model.build(num_labels=classes)
    setup = Setup(
        built.pretrained,
        roles_for(built.model),
        steps_per_epoch * job.protocol.epochs,
        steps_per_epoch,
        train_batches=training_batches(train_split, built.tokenizer, job.protocol, device),
    )
    model, warnings = job.player.strategy.apply(built.model, setup)
    warnings = random_base_warning(job, model, setup) + warnings
    if job.protocol.precision == "tf32" and device.type != "cuda":
        warnings = [*warnings, f"precision tf32 has no effect on {device.type}: this player ran in plain fp32"]
    if reason := eager_reason(job.protocol, device, job.player.strategy):  # asked for explicitly, and impossible
        warnings = [*warnings, f"eager training steps: {reason}"]
    for w in warnings:
        warn(w)
    record["warnings"] += warnings
    model.to(device)
    revision = getattr(getattr(built.model, "config", None), "_commit_hash", None)
    record["model"] = {"description": built.description, "pretrained": built.pretrained, "revision": revision}
    record["parameters"] = {
        "total": sum(q.numel() for q in model.parameters()),
        "trainable": trained_parameters(job.player.strategy, model, setup),
    }
    return model, built.tokenizer, setup


def trained_parameters(strategy, model, setup: Setup) -> int:
    """How many weights train: those the optimizer owns that take gradients now. Counted again after training
    (run/final), because a strategy may open more as it goes: unfreeze hands the optimizer every weight but opens
    the layers one by one, so what it trained is what is open at its last epoch, not everything it owns."""
    return sum(q.numel() for _, q, _ in strategy.parameters(model, setup) if q.requires_grad)


def training_batches(split, tokenizer, protocol, device):
    """The training split as collated batches on ``device``, encoded only when a strategy asks (Child-Tuning,
    before training); sorted by length so that batches pad little. None without a split."""
    if split is None:
        return None

    def batches():
        import numpy as np

        from tuneoff.training.batching import collate, encode

        data = encode(tokenizer, split.texts, split.labels, protocol.max_seq_len)
        order = np.argsort(data.lengths(), kind="stable")
        for start in range(0, len(order), protocol.batch_size):
            yield collate(data, order[start : start + protocol.batch_size], device)

    return batches


def random_base_warning(job: Job, model, setup: Setup) -> list[str]:
    """Frozen weights that were never trained carry no knowledge: say so loudly."""
    head = tuple(f"{h}." for h in setup.roles.head)
    frozen = any(
        not q.requires_grad and ".modules_to_save." not in n and not n.split("base_model.model.")[-1].startswith(head)
        for n, q in model.named_parameters()
    )
    if setup.pretrained or not frozen:
        return []
    name = "LoRA" if job.player.strategy.name == "lora" else job.player.strategy.name
    return [
        f"{name} over a RANDOMLY INITIALISED base: the frozen weights carry no knowledge, so only what "
        f"{name} trains can learn. Expect a collapse to the majority class; with LoRA this reproduces the "
        "published player 2, it is not a fair test of the strategy."
    ]
