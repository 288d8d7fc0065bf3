"""Fine-tuning made robust: probe first (LP-FT), mix with the pretrained weights (Mixout), perturb before
training (NoisyTune), update a Fisher-chosen child network (Child-Tuning-D), smooth the labels.

Each changes one thing about full fine-tuning and keeps the rest; the learning rates are the papers' own
for BERT-sized models where they give one, and say so where they do not.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.strategies.base import STRATEGIES, Setup, Strategy
from tuneoff.strategies.subsets import Full
from tuneoff.strategies.base import Knob


def _is_head(name: str, setup: Setup) -> bool:
    return name.startswith(tuple(f"{h}." for h in setup.roles.head))


def _inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "labels"}


# --- LP-FT ---------------------------------------------------------------------------------------------


@STRATEGIES.register
class Lpft(Strategy):
    """LP-FT (Kumar et al. 2022, "Fine-tuning can distort pretrained features"): a linear probe first (the
    head alone trains, on the frozen encoder), then full fine-tuning from the probed head. The switch comes
    after ``probe_fraction`` of the run's optimizer steps (rounded; may fall inside an epoch), or, when
    ``probe_epochs`` is given, after that many whole epochs. Differences from the paper: the probe is trained
    by the same AdamW and schedule as the rest (the paper fits it to convergence with L-BFGS first), and
    dropout stays on while probing."""

    example: ClassVar[dict] = {"probe_fraction": 0.5}
    # Kumar et al. fine-tune after the probe at a smaller rate than plain fine-tuning; they report no
    # BERT-sized runs, so this is the low end of BERT's published grid (Devlin et al. 2019: 1e-5 .. 5e-5).
    default_lr: ClassVar[float] = 1e-5

    name: Literal["lpft"] = "lpft"
    probe_fraction: float = Field(0.5, ge=0.0, lt=1.0,
                                  description="share of the optimizer steps that train the head alone")
    probe_epochs: int | None = Field(None, ge=1, le=1000,
                                     description="probe for this many whole epochs instead of probe_fraction")

    def check(self, model, protocol=None) -> list[str]:
        problems = Strategy.check(self, model, protocol)
        if protocol is not None and self.probe_epochs is not None and self.probe_epochs >= protocol.epochs:
            problems.append(f"strategy.probe_epochs = {self.probe_epochs} but the protocol trains "
                            f"{protocol.epochs} epochs: the encoder would never train")
        return problems

    def switch_step(self, setup: Setup) -> int:
        """Optimizer steps (counted over the whole run) that train the head alone."""
        if self.probe_epochs is not None:
            return self.probe_epochs * setup.steps_per_epoch
        return round(self.probe_fraction * setup.total_steps)

    def apply(self, model, setup: Setup):
        self._set(model, setup, done=0)
        return model, []

    def parameters(self, model, setup: Setup):
        # The optimizer owns everything from the start; frozen parameters get no gradient, so AdamW skips them.
        return [(n, q, 1.0) for n, q in model.named_parameters()]

    def before_epoch(self, model, setup: Setup, epoch: int) -> None:
        self._set(model, setup, done=(epoch - 1) * setup.steps_per_epoch)

    def after_step(self, model, setup: Setup, step: int) -> None:
        if step == self.switch_step(setup):
            self._set(model, setup, done=step)

    def _set(self, model, setup: Setup, done: int) -> None:
        everything = done >= self.switch_step(setup)
        for name, q in model.named_parameters():
            q.requires_grad_(everything or _is_head(name, setup))


# --- Mixout --------------------------------------------------------------------------------------------


def mixout(weight, target, keep, p: float):
    """Lee et al.'s mixout(u, p) of ``weight`` towards ``target`` (u) for a 0/1 mask ``keep`` (M, each entry 1
    with probability 1 - p): (1 - p)^-1 (M w + (1 - M) u - p u). Where M = 0 the entry is u itself; where
    M = 1 it is (w - p u) / (1 - p); its expectation over M is w."""
    return (keep * weight + (1 - keep) * target - p * target) / (1 - p)


def _mixout_linear_class():
    import torch
    import torch.nn.functional as F

    class MixoutLinear(torch.nn.Linear):
        """A Linear that, in training, uses mixout(w_pre, p) of its weight (a fresh mask each forward pass);
        at eval, the trained weight. Same parameter names as the Linear it replaces; the pretrained weight is
        a buffer left out of the state dict, so checkpoints are plain transformers weights."""

        def __init__(self, linear: torch.nn.Linear, p: float):
            torch.nn.Module.__init__(self)
            self.in_features, self.out_features, self.p = linear.in_features, linear.out_features, p
            self.weight, self.bias = linear.weight, linear.bias
            self.register_buffer("target", linear.weight.detach().clone(), persistent=False)

        def forward(self, x):
            if not self.training or self.p == 0:
                return F.linear(x, self.weight, self.bias)
            keep = torch.empty_like(self.weight).bernoulli_(1 - self.p)
            return F.linear(x, mixout(self.weight, self.target, keep, self.p), self.bias)

    return MixoutLinear


@STRATEGIES.register
class Mixout(Full):
    """Mixout (Lee et al. 2020): full fine-tuning where, in every training forward pass, each weight entry of
    the pretrained Linear layers (every transformer layer, and the pooler where there is one) is replaced by
    its pretrained value with probability ``p``, the rest rescaled so that the expected weight is the trained
    one; at eval the trained weights are used. Biases are not mixed. Mixout takes dropout's place: with p > 0
    the dropout modules inside the transformer layers are set to 0 (the paper replaces dropout with mixout);
    the embeddings' dropout and the freshly initialised head's are left as the model has them. p = 0 is plain
    fine-tuning."""

    example: ClassVar[dict] = {"p": 0.9}
    # Lee et al. 2020 fine-tune BERT-large with Adam at 2e-5 (following Devlin et al. 2019).
    default_lr: ClassVar[float] = 2e-5
    knob: ClassVar[Knob | None] = Knob("p", (0.7, 0.8, 0.9), "Lee et al. 2020, §6: mixout(w_pre, p) with p = 0.7, "
                                       "0.8 and 0.9 on BERT-large")

    name: Literal["mixout"] = "mixout"
    p: float = Field(0.9, ge=0.0, lt=1.0,
                     description="probability that a weight entry takes its pretrained value (paper's best: 0.9)")

    def apply(self, model, setup: Setup):
        import torch

        model, warnings = Full.apply(self, model, setup)
        mixing = _mixout_linear_class()
        roots = [setup.roles.layer_list(model)]
        if setup.roles.pooler and (pooler := setup.roles.module(model, setup.roles.pooler)) is not None:
            roots.append(pooler)
        for root in roots:
            for parent in list(root.modules()):
                for child_name, child in list(parent.named_children()):
                    if type(child) is torch.nn.Linear:
                        setattr(parent, child_name, mixing(child, self.p))
                    elif isinstance(child, torch.nn.Dropout) and self.p > 0:
                        child.p = 0.0
        return model, warnings


# --- NoisyTune -----------------------------------------------------------------------------------------


@STRATEGIES.register
class NoisyTune(Full):
    """NoisyTune (Wu et al. 2022): before full fine-tuning, every pretrained parameter tensor W gets uniform
    noise U(-λ/2, λ/2) · std(W), drawn per entry from torch's random stream (so the job's seed fixes it),
    λ = ``intensity``. The freshly initialised head is not perturbed; tensors with one entry have no std and
    are left alone."""

    example: ClassVar[dict] = {"intensity": 0.15}
    # Wu et al. 2022 keep each model's standard fine-tuning recipe and change only the starting point; for BERT
    # that is plain fine-tuning's rate, so NoisyTune shares full's.
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob("intensity", (0.05, 0.1, 0.15, 0.2, 0.25), "Wu et al. 2022, §3.4: lambda "
                                       "varied around the 0.15 they keep")

    name: Literal["noisytune"] = "noisytune"
    intensity: float = Field(0.15, ge=0.0, le=10.0, description="λ: the noise's width in units of each tensor's std")

    def apply(self, model, setup: Setup):
        import torch

        model, warnings = Full.apply(self, model, setup)
        with torch.no_grad():
            for name, q in model.named_parameters():
                if q.numel() > 1 and not _is_head(name, setup):
                    q.add_((torch.rand_like(q) - 0.5) * (self.intensity * q.std()))
        return model, warnings


# --- Child-Tuning-D ------------------------------------------------------------------------------------


def fisher_information(model, batches, setup: Setup) -> dict:
    """Per parameter outside the head: the squared gradient of each batch's loss, summed over the batches (the
    diagonal Fisher information, estimated batch-wise), without dropout. The model moves to the batches'
    device; its gradients are left cleared."""
    import torch

    was_training = model.training
    model.eval()
    fisher = {}
    for batch in batches:
        model.to(batch["input_ids"].device)
        model.zero_grad(set_to_none=True)
        model(**batch).loss.float().backward()
        for name, q in model.named_parameters():
            if q.grad is not None and not _is_head(name, setup):
                g2 = q.grad.detach().float() ** 2
                fisher[name] = fisher[name] + g2 if name in fisher else g2
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    named = dict(model.named_parameters())
    return {n: fisher.get(n, torch.zeros_like(q, dtype=torch.float32))
            for n, q in named.items() if not _is_head(n, setup)}


def child_masks(fisher: dict, reserve: float) -> dict:
    """True for the ``reserve`` share (rounded) of all entries, ranked together across tensors, with the
    largest Fisher information; ties broken by position. Same keys and shapes as ``fisher``."""
    import torch

    names = list(fisher)
    flat = torch.cat([fisher[n].reshape(-1) for n in names])
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    k = round(reserve * flat.numel())
    if k:
        keep[torch.sort(flat, descending=True, stable=True).indices[:k]] = True
    out, start = {}, 0
    for n in names:
        size = fisher[n].numel()
        out[n] = keep[start:start + size].view(fisher[n].shape)
        start += size
    return out


def mask_gradients(model, masks: dict) -> None:
    """Every gradient of a masked parameter is multiplied by its mask as backward computes it, before clipping
    and the optimizer see it (a tensor hook: runs inside captured steps too)."""
    for name, q in model.named_parameters():
        if name in masks:
            mask = masks[name].to(q.device)
            q.register_hook(lambda grad, mask=mask: grad * mask)


@STRATEGIES.register
class ChildTune(Full):
    """Child-Tuning-D (Xu et al. 2021, "Raise a child in large language model"): before training, the Fisher
    information of every weight entry outside the head is estimated on the training set (squared gradients of
    each batch's loss, summed; dropout off); the top ``reserve`` share of all those entries, ranked together, is
    the child network. Every step, the gradients of the other entries are masked to zero, so only the child
    and the head are updated (the optimizer's decoupled weight decay still reaches every weight, as in the
    paper's AdamW). Costs one extra pass (forward and backward) over the training set before training."""

    example: ClassVar[dict] = {"reserve": 0.3}
    # Xu et al. 2021 fine-tune BERT-large at 2e-5 in their GLUE experiments.
    default_lr: ClassVar[float] = 2e-5
    knob: ClassVar[Knob | None] = Knob("reserve", (0.1, 0.2, 0.3), "Xu et al. 2021, App. A: p_D searched in "
                                       "{0.1, 0.2, 0.3}")

    name: Literal["childtune"] = "childtune"
    reserve: float = Field(0.3, gt=0.0, le=1.0, description="p_D: the share of entries, by Fisher information, that train")

    def apply(self, model, setup: Setup):
        if setup.train_batches is None:
            raise ValueError("childtune needs the training set before training (Setup.train_batches is None)")
        model, warnings = Full.apply(self, model, setup)
        masks = child_masks(fisher_information(model, setup.train_batches(), setup), self.reserve)
        mask_gradients(model, masks)
        return model, warnings


# --- Label smoothing -----------------------------------------------------------------------------------


@STRATEGIES.register
class LabelSmoothing(Full):
    """Full fine-tuning on label-smoothed cross-entropy (Szegedy et al. 2016; Müller et al. 2019): the target
    puts 1 - ``smoothing`` on the label and spreads ``smoothing`` evenly over all classes."""

    example: ClassVar[dict] = {"smoothing": 0.1}
    graph_safe_hooks: ClassVar[tuple[str, ...]] = ("loss",)  # the loss reads the batch alone
    # Label smoothing changes only the targets: plain fine-tuning's rate (Devlin et al. 2019), shared with full.
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob("smoothing", (0.05, 0.1, 0.2), "Szegedy et al. 2016, §7: epsilon = 0.1; "
                                       "halved and doubled around it (Müller et al. 2019 vary it likewise)")

    name: Literal["label_smoothing"] = "label_smoothing"
    smoothing: float = Field(0.1, ge=0.0, lt=1.0, description="probability mass spread over all classes")

    def loss(self, net, batch: dict, index, setup: Setup):
        import torch.nn.functional as F

        logits = net(**_inputs(batch)).logits.float()
        return F.cross_entropy(logits, batch["labels"], label_smoothing=self.smoothing)
