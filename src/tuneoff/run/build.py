"""A job's model: built from its source, shaped by its strategy, with the warnings worth shouting."""

from __future__ import annotations

from tuneoff.models.roles import roles_for
from tuneoff.plan.jobs import Job
from tuneoff.strategies import Setup
from tuneoff.training.steps import eager_reason


def build(job: Job, device, record: dict, warn, steps_per_epoch: int, classes: int):
    """(model on the device, tokenizer, Setup); fills the record's model, parameters and warnings."""
    built = job.player.model.build(num_labels=classes)
    setup = Setup(built.pretrained, roles_for(built.model), steps_per_epoch * job.protocol.epochs, steps_per_epoch)
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
    owned = job.player.strategy.parameters(model, setup)
    record["parameters"] = {
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
