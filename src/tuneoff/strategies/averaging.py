"""Full fine-tuning that evaluates other weights than the last ones (an average of them, an interpolation with
the pretrained ones), or that steps on a sharpness-aware gradient: EMA, SWA, WiSE-FT and SAM.

Each trains every weight as ``full`` does. EMA, SWA and WiSE-FT change what the loop scores, keeps and
saves through ``Strategy.evaluated``; SAM owns how a step's gradients are computed (``Strategy.backward``).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from tuneoff.options import FloatTuple
from tuneoff.strategies.base import STRATEGIES, Evaluated, Setup
from tuneoff.strategies.subsets import Full
from tuneoff.strategies.base import Knob


def _trained(model) -> list:
    return [q for q in model.parameters() if q.requires_grad]


def _copy(into: list, values: list) -> None:
    import torch

    with torch.no_grad():
        torch._foreach_copy_(into, values)


class Average(Evaluated):
    """A running average of the trained weights, swapped in for scoring and keeping; before its first
    snapshot, the trained weights themselves are evaluated. Subclasses say how a snapshot enters it."""

    def __init__(self, params: list):
        self.params, self.average, self.count = params, None, 0

    def take(self, step: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def after_step(self, step: int) -> None:
        self.take(step)

    def snapshot(self) -> None:
        """The trained weights as the first snapshot."""
        self.average, self.count = [q.detach().clone() for q in self.params], 1

    @contextmanager
    def swapped_in(self):
        if self.average is None:
            yield
            return
        trained = [q.detach().clone() for q in self.params]
        _copy(self.params, self.average)
        try:
            yield
        finally:
            _copy(self.params, trained)


class ExponentialAverage(Average):
    """avg <- d * avg + (1 - d) * weights after each step, from the weights before training. With ``warmup``,
    d = min(decay, (1 + n) / (10 + n)) at step n (TensorFlow's ExponentialMovingAverage with num_updates), so
    that a run shorter than 1 / (1 - decay) steps is not dominated by its first weights."""

    def __init__(self, params: list, decay: float, warmup: bool):
        super().__init__(params)
        self.decay, self.warmup = decay, warmup
        self.snapshot()

    def take(self, step: int) -> None:
        from torch.optim.swa_utils import get_ema_multi_avg_fn

        decay = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
        get_ema_multi_avg_fn(decay)(self.average, [q.detach() for q in self.params], self.count)
        self.count += 1


class EqualAverage(Average):
    """The arithmetic mean of the weights after every step from ``first`` on."""

    def __init__(self, params: list, first: int):
        super().__init__(params)
        self.first = first

    def take(self, step: int) -> None:
        from torch.optim.swa_utils import get_swa_multi_avg_fn

        if step < self.first:
            return
        if self.average is None:
            self.snapshot()
            return
        get_swa_multi_avg_fn()(self.average, [q.detach() for q in self.params], self.count)
        self.count += 1


@STRATEGIES.register
class Ema(Full):
    """Exponential moving average of the weights (Polyak & Juditsky 1992; decay per step as in TensorFlow's
    ExponentialMovingAverage): every weight trains as in ``full``, and the weights scored on dev each epoch,
    kept as the best epoch's, saved and tested are the average, not the last step's."""

    example: ClassVar[dict] = {"decay": 0.99}
    name: Literal["ema"] = "ema"
    # EMA changes which weights are evaluated, not how they train: plain fine-tuning's rate
    # (Devlin et al. 2019, App. A.3: the best of 2e-5..5e-5 on dev).
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob("decay", (0.99, 0.999, 0.9999), "no paper grid: TensorFlow's ExponentialMoving"
                                       "Average suggests 0.999 and 0.9999; 0.99 for runs of a few hundred steps")
    decay: float = Field(0.999, gt=0.0, lt=1.0, description="weight of the average so far at each step")
    warmup: bool = Field(True, description="decay min(decay, (1 + n) / (10 + n)) at step n, so short runs forget "
                                           "their first weights")

    def evaluated(self, model, setup: Setup) -> Evaluated:
        return ExponentialAverage(_trained(model), self.decay, self.warmup)


@STRATEGIES.register
class Swa(Full):
    """Stochastic weight averaging (Izmailov et al. 2018): the equal average of the weights after every step
    from a fraction ``start`` of the run on; it is what is scored, kept, saved and tested. The protocol's
    schedule runs on (the paper switches to a constant or cyclic rate at the start); transformers have no
    batch norm, so there are no statistics to recompute."""

    example: ClassVar[dict] = {"start": 0.5}
    name: Literal["swa"] = "swa"
    # Izmailov et al. train image models with SGD and give no BERT rate; SWA averages along plain fine-tuning,
    # so it trains at full's (Devlin et al. 2019, App. A.3).
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob("start", (0.25, 0.5, 0.75), "Izmailov et al. 2018, §4: averaging over the last "
                                       "25 % of the budget (start 0.75); earlier starts average over longer windows")
    start: float = Field(0.75, ge=0.0, lt=1.0, description="fraction of the run's steps before averaging starts")

    def evaluated(self, model, setup: Setup) -> Evaluated:
        return EqualAverage(_trained(model), math.floor(self.start * setup.total_steps) + 1)


class Interpolation(Evaluated):
    """WiSE-FT's choice: after training, the body at (1 - alpha) * pretrained + alpha * fine-tuned for each
    alpha, scored on dev; the best stays in the model (ties: the larger alpha, nearer the fine-tuned model)."""

    def __init__(self, body: list, alphas: tuple[float, ...]):
        self.body, self.alphas = body, alphas
        self.pretrained = [q.detach().clone() for q in body]

    def after_training(self, score_dev) -> dict:
        import torch

        finetuned = [q.detach().clone() for q in self.body]

        def put(alpha: float) -> None:
            _copy(self.body, [torch.lerp(a, b, alpha) for a, b in zip(self.pretrained, finetuned)])

        accuracies = []
        for alpha in self.alphas:
            put(alpha)
            accuracies.append(score_dev())
        chosen = max(range(len(self.alphas)), key=lambda i: (accuracies[i], self.alphas[i]))
        put(self.alphas[chosen])
        return {"alpha": self.alphas[chosen], "alphas": list(self.alphas), "dev_accuracy": accuracies}


@STRATEGIES.register
class WiseFt(Full):
    """WiSE-FT (Wortsman et al. 2022): every weight trains as in ``full``; then the model's body is set to
    (1 - alpha) * its pretrained weights + alpha * its fine-tuned (best-epoch) weights, with alpha chosen on
    dev from ``alphas``. The paper interpolates the zero-shot head too; here the head is freshly initialised
    (it would interpolate towards random weights), so the head keeps its fine-tuned weights and only the body
    is interpolated. The result records the chosen alpha and the dev accuracy of each."""

    example: ClassVar[dict] = {"alphas": [0.5, 1.0]}
    name: Literal["wiseft"] = "wiseft"
    # Wortsman et al. fine-tune CLIP end to end with AdamW at 3e-5; the same as full's BERT rate
    # (Devlin et al. 2019, App. A.3), which is what WiSE-FT fine-tunes with before interpolating.
    default_lr: ClassVar[float] = 3e-5
    # No knob is crossed: alpha is chosen on dev after training, at no training cost, from ``alphas`` (the paper
    # tries 0, 0.1, ..., 1: Wortsman et al. 2022, §3); so its sweep gives every trial to the rate.
    alphas: FloatTuple = Field((0.25, 0.5, 0.75, 1.0), min_length=1, max_length=21,
                               description="mixing weights of the fine-tuned body tried on dev (1: plain full)")

    @field_validator("alphas")
    @classmethod
    def _in_unit_interval(cls, alphas: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= a <= 1.0 for a in alphas) or len(set(alphas)) < len(alphas):
            raise ValueError(f"alphas must be distinct values in [0, 1], got {list(alphas)}")
        return alphas

    def apply(self, model, setup: Setup):
        model, warnings = super().apply(model, setup)
        if not setup.pretrained:
            warnings = [*warnings, "wiseft over a randomly initialised model interpolates towards random weights"]
        return model, warnings

    def evaluated(self, model, setup: Setup) -> Evaluated:
        head = tuple(f"{h}." for h in setup.roles.head)
        return Interpolation([q for n, q in model.named_parameters() if q.requires_grad and not n.startswith(head)],
                             self.alphas)


@STRATEGIES.register
class Sam(Full):
    """Sharpness-aware minimisation (Foret et al. 2021): each step takes the gradient g at the weights w,
    moves to w + rho * g / ||g|| (the whole model's 2-norm), takes the gradient there and steps on it from w
    with the protocol's AdamW. A step costs two forward and backward passes (recorded; the timing shows it)."""

    example: ClassVar[dict] = {"rho": 0.05}
    name: Literal["sam"] = "sam"
    # Foret et al. keep the base optimizer's rate and report no BERT runs: plain fine-tuning's
    # (Devlin et al. 2019, App. A.3).
    default_lr: ClassVar[float] = Full.default_lr
    passes_per_step: ClassVar[int] = 2
    knob: ClassVar[Knob | None] = Knob("rho", (0.01, 0.02, 0.05, 0.1, 0.2), "Foret et al. 2021, App. C: rho by grid "
                                       "search over {0.01, 0.02, 0.05, 0.1, 0.2, 0.5}")
    rho: float = Field(0.05, gt=0.0, le=10.0, description="radius of the neighbourhood (Foret et al.: 0.05)")

    def backward(self, forward_backward, params: list):
        import torch

        loss = forward_backward()
        moved = [q for q in params if q.grad is not None]
        grads = [q.grad for q in moved]
        scale = self.rho / (torch.nn.utils.get_total_norm(grads) + 1e-12)
        start = [q.detach().clone() for q in moved]
        with torch.no_grad():
            torch._foreach_add_(moved, [g * scale for g in grads])
        for q in moved:
            q.grad = None
        forward_backward()  # the gradient at the sharpest nearby point is what the optimizer steps on
        _copy(moved, start)
        return loss
