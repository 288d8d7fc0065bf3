"""Child-Tuning (Xu et al. 2021, "Raise a child in large language model"): full fine-tuning whose every step
updates only a child network, by masking gradients after clipping and before the optimizer's update, as the
reference's ChildTuningAdamW does inside its step (alibaba/AliceMind, ChildTuning/).

Child-Tuning-D chooses the child once, before training, by Fisher information; Child-Tuning-F draws a fresh
random child every step.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from tuneoff.strategies.base import STRATEGIES, Knob, Setup
from tuneoff.strategies.subsets import Full


def fisher_information(model, batches, setup: Setup, clip: float) -> dict:
    """The reference's diagonal Fisher information of every parameter of the transformer layers (its scope:
    parameters named "layer"; the embeddings, a pooler and the head are outside): the mean over the batches of
    each batch's squared loss gradient, each tensor's gradient first clipped to norm ``clip`` (0: not clipped), in
    training mode (dropout on), as the reference computes it. Moves the model to the batches' device; leaves its
    gradients cleared and its mode as it was."""
    import torch

    was_training = model.training
    model.train()
    layers = setup.roles.layers + "."
    named = {n: q for n, q in model.named_parameters() if n.startswith(layers)}
    fisher: dict[str, Any] = {}
    count = 0
    for batch in batches:
        model.to(batch["input_ids"].device)
        model.zero_grad(set_to_none=True)
        model(**batch).loss.float().backward()
        for name, q in named.items():
            if q.grad is None:
                continue
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(q, clip)
            g2 = q.grad.detach().float() ** 2
            fisher[name] = fisher[name] + g2 if name in fisher else g2
        count += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {n: fisher[n] / count if n in fisher else torch.zeros_like(q, dtype=torch.float32) for n, q in named.items()}


def child_masks(fisher: dict, reserve: float) -> dict:
    """True where an entry's Fisher information is at least the (1 - reserve) quantile of all entries, ranked
    together across tensors: numpy's percentile with linear interpolation, as the reference thresholds them (ties
    at the threshold are kept). Same keys and shapes as ``fisher``."""
    import math

    import torch

    flat = torch.cat([f.reshape(-1) for f in fisher.values()])
    position = (1.0 - reserve) * (flat.numel() - 1)
    low = math.floor(position)
    below = flat.kthvalue(low + 1).values
    above = flat.kthvalue(min(low + 2, flat.numel())).values
    fraction = position - low  # numpy's interpolation between the two order statistics
    threshold = below + (above - below) * fraction if fraction < 0.5 else above - (above - below) * (1 - fraction)
    return {n: f >= threshold for n, f in fisher.items()}


@STRATEGIES.register
class ChildTune(Full):
    """Child-Tuning-D (Xu et al. 2021): before training, the Fisher information of every weight entry of the
    transformer layers is estimated on the training set (the reference's recipe: each batch's squared gradient,
    each tensor's gradient clipped to ``fisher_clip`` first, averaged; dropout on); the entries at or above the
    (1 - ``reserve``) quantile, ranked together, are the child network. Every step, after gradient clipping, the
    layers' other gradient entries are set to zero, so only the child trains inside the layers; the embeddings,
    a pooler and the head train fully, as in the reference. The optimizer's decoupled weight decay still reaches
    every weight, as the reference's AdamW does. Costs one extra pass (forward and backward) over the training
    set before training."""

    example: ClassVar[dict] = {"reserve": 0.3}
    # Xu et al. 2021 fine-tune BERT-large at 2e-5 in their GLUE experiments.
    default_lr: ClassVar[float] = 2e-5
    knob: ClassVar[Knob | None] = Knob(
        "reserve", (0.1, 0.2, 0.3), "Xu et al. 2021, App. A: p_D searched in {0.1, 0.2, 0.3}"
    )
    deviation: ClassVar[str] = (
        "the Fisher pass reads the training set in length-sorted batches of the protocol's "
        "size (the batches every strategy is handed), not in a shuffled order"
    )

    name: Literal["childtune"] = "childtune"  # type: ignore[assignment]  # a subclass, its own name
    reserve: float = Field(
        0.3, gt=0.0, le=1.0, description="p_D: the share of the layers' entries, by Fisher information, that train"
    )
    fisher_clip: float = Field(
        1.0,
        ge=0.0,
        le=1e6,
        description="each tensor's gradient norm cap in the Fisher pass "
        "(the reference uses the trainer's max_grad_norm, 1.0); 0: no cap",
    )

    def apply(self, model, setup: Setup):
        if setup.train_batches is None:
            raise ValueError("childtune needs the training set before training (Setup.train_batches is None)")
        model, warnings = Full.apply(self, model, setup)
        masks = child_masks(fisher_information(model, setup.train_batches(), setup, self.fisher_clip), self.reserve)
        named = dict(model.named_parameters())
        setup.state["child_masks"] = [(named[n], mask) for n, mask in masks.items()]
        return model, warnings

    def before_update(self, params: list, setup: Setup) -> None:
        for q, mask in setup.state["child_masks"]:
            if q.grad is not None:
                q.grad.mul_(mask)


@STRATEGIES.register
class ChildTuneF(Full):
    """Child-Tuning-F (Xu et al. 2021), task-free: every step, after gradient clipping, each gradient entry of every
    trained weight is kept with probability ``reserve`` (a fresh Bernoulli draw) and divided by it, the rest set to
    zero, as the reference's ChildTuningAdamW does in F mode; the draws come from torch's random stream, so the
    job's seed fixes them."""

    example: ClassVar[dict] = {"reserve": 0.3}
    # Xu et al. 2021: the same recipe as Child-Tuning-D (BERT-large at 2e-5 on GLUE).
    default_lr: ClassVar[float] = ChildTune.default_lr
    knob: ClassVar[Knob | None] = Knob(
        "reserve",
        (0.1, 0.2, 0.3, 0.4),
        "p_F over the range Xu et al. 2021 search "
        "for the child network's share (App. A); not checked against their p_F grid",
    )

    name: Literal["childtune_f"] = "childtune_f"  # type: ignore[assignment]  # a subclass, its own name
    reserve: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="p_F: the probability that a gradient entry is kept each step (the reference's run script: 0.3)",
    )

    def before_update(self, params: list, setup: Setup) -> None:
        import torch

        for q in params:
            if q.grad is not None:
                q.grad.mul_(torch.empty_like(q.grad).bernoulli_(self.reserve)).div_(self.reserve)
