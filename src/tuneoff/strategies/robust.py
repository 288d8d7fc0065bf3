"""Fine-tuning made robust: probe first (LP-FT), mix with the pretrained weights (Mixout), perturb before
training (NoisyTune), smooth the labels. (Child-Tuning: strategies/childtune.py.)

Each changes one thing about full fine-tuning and keeps the rest; the learning rates are the papers' own
for BERT-sized models where they give one, and say so where they do not.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.strategies.base import STRATEGIES, Knob, Setup
from tuneoff.strategies.probe import Probed
from tuneoff.strategies.subsets import Full


def _is_head(name: str, setup: Setup) -> bool:
    return name.startswith(tuple(f"{h}." for h in setup.roles.head))


def _inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "labels"}


# --- LP-FT ---------------------------------------------------------------------------------------------


@STRATEGIES.register
class Lpft(Probed):
    """LP-FT (Kumar et al. 2022, "Fine-tuning can distort pretrained features"): first a converged linear probe,
    the head's final linear layer fitted in closed form on the frozen pretrained features (scikit-learn's L-BFGS
    logistic regression, as the paper fits it; see strategies/probe.py), then full fine-tuning of every weight from
    the probed head with the protocol's whole budget: all its steps, its warm-up and its schedule. The probe costs
    one forward pass over the training set before training, outside the timed epochs."""

    example: ClassVar[dict] = {"probe_c": 100.0}
    # Kumar et al. fine-tune after the probe at a smaller rate than plain fine-tuning; they report no
    # BERT-sized runs, so this is the low end of BERT's published grid (Devlin et al. 2019: 1e-5 .. 5e-5).
    default_lr: ClassVar[float] = 1e-5

    name: Literal["lpft"] = "lpft"  # type: ignore[assignment]  # a subclass, its own name


# --- Mixout --------------------------------------------------------------------------------------------


def mixout(weight, target, keep, p: float):
    """Lee et al.'s mixout(u, p) of ``weight`` w towards ``target`` u, for a 0/1 mask ``keep`` M with one entry per
    input neuron (a column of the weight, 1 with probability 1 - p), broadcast down the columns: every outgoing
    weight of a dropped neuron takes its value in u, as dropout drops a neuron's outgoing weights. The value is
    (1 - p)^-1 (M w + (1 - M) u - p u), whose expectation over M is w. The gradient reaching w is the output's
    gradient times M, without the forward's 1 / (1 - p): the official code's backward (bloodwass/mixout)."""
    kept = keep * weight
    return kept + kept.detach() * (p / (1 - p)) + ((1 - keep) * target - p * target) / (1 - p)


def _mixout_linear_class():
    import torch
    import torch.nn.functional as F

    class MixoutLinear(torch.nn.Linear):
        """A Linear that, in training, uses mixout(w_pre, p) of its weight (a fresh mask over its input neurons
        each forward pass); at eval, the trained weight. Same parameter names as the Linear it replaces; the
        pretrained weight is a buffer left out of the state dict, so checkpoints are plain transformers weights."""

        def __init__(self, linear: torch.nn.Linear, p: float):
            torch.nn.Module.__init__(self)
            self.in_features, self.out_features, self.p = linear.in_features, linear.out_features, p
            self.weight, self.bias = linear.weight, linear.bias
            self.register_buffer("target", linear.weight.detach().clone(), persistent=False)

        def forward(self, x):
            if not self.training or self.p == 0:
                return F.linear(x, self.weight, self.bias)
            keep = torch.empty(self.in_features, device=self.weight.device, dtype=self.weight.dtype)
            return F.linear(x, mixout(self.weight, self.target, keep.bernoulli_(1 - self.p), self.p), self.bias)

    return MixoutLinear


@STRATEGIES.register
class Mixout(Full):
    """Mixout (Lee et al. 2020): full fine-tuning where, in every training forward pass, each input neuron of the
    pretrained Linear layers (every transformer layer, and the pooler where there is one) is dropped with
    probability ``p``: all its outgoing weights take their pretrained values, the rest are rescaled so that the
    expected weight is the trained one (the official code's per-neuron mask); at eval the trained weights are
    used. Biases are not mixed. Mixout replaces dropout: with ``dropout`` = "off" (the recipe: the official code
    sets every dropout to 0) no dropout runs anywhere; "layers" turns off only the transformer layers' dropout;
    "model" keeps the model's. p = 0 with dropout "model" is plain fine-tuning."""

    example: ClassVar[dict] = {"p": 0.9}
    # Lee et al. 2020 fine-tune BERT-large with Adam at 2e-5 (following Devlin et al. 2019).
    default_lr: ClassVar[float] = 2e-5
    knob: ClassVar[Knob | None] = Knob(
        "p", (0.7, 0.8, 0.9), "Lee et al. 2020, §6: mixout(w_pre, p) with p = 0.7, 0.8 and 0.9 on BERT-large"
    )
    deviation: ClassVar[str] = (
        "the freshly initialised head's Linear layers are not mixed (they have no pretrained weights to mix towards)"
    )

    name: Literal["mixout"] = "mixout"  # type: ignore[assignment]  # a subclass, its own name
    p: float = Field(
        0.9,
        ge=0.0,
        lt=1.0,
        description="probability that an input neuron's weights take their pretrained values (paper's best: 0.9)",
    )
    dropout: Literal["off", "layers", "model"] = Field(
        "off",
        description="off: every dropout of the model set to 0 (the recipe); layers: only the transformer "
        "layers'; model: as the model has them",
    )

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
        silenced = {"off": [model], "layers": [setup.roles.layer_list(model)], "model": []}[self.dropout]
        for root in silenced:
            for module in root.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0
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
    knob: ClassVar[Knob | None] = Knob(
        "intensity", (0.05, 0.1, 0.15, 0.2, 0.25), "Wu et al. 2022, §3.4: lambda varied around the 0.15 they keep"
    )

    name: Literal["noisytune"] = "noisytune"  # type: ignore[assignment]  # a subclass, its own name
    intensity: float = Field(0.15, ge=0.0, le=10.0, description="λ: the noise's width in units of each tensor's std")

    def apply(self, model, setup: Setup):
        import torch

        model, warnings = Full.apply(self, model, setup)
        with torch.no_grad():
            for name, q in model.named_parameters():
                if q.numel() > 1 and not _is_head(name, setup):
                    q.add_((torch.rand_like(q) - 0.5) * (self.intensity * q.std()))
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
    knob: ClassVar[Knob | None] = Knob(
        "smoothing",
        (0.05, 0.1, 0.2),
        "Szegedy et al. 2016, §7: epsilon = 0.1; halved and doubled around it (Müller et al. 2019 vary it likewise)",
    )

    name: Literal["label_smoothing"] = "label_smoothing"  # type: ignore[assignment]  # a subclass, its own name
    smoothing: float = Field(0.1, ge=0.0, lt=1.0, description="probability mass spread over all classes")

    def loss(self, net, batch: dict, index, setup: Setup):
        import torch.nn.functional as F

        logits = net(**_inputs(batch)).logits.float()
        return F.cross_entropy(logits, batch["labels"], label_smoothing=self.smoothing)
