"""Full fine-tuning that evaluates other weights than the last ones (an average of them, an interpolation with
the start point), or that steps on a sharpness-aware gradient: EMA, SWA, WiSE-FT and SAM.

Each trains every weight as ``full`` does. EMA, SWA and WiSE-FT change what the loop scores, keeps and
saves through ``Strategy.evaluated``; SWA also sets the learning rate (``Strategy.schedule``); SAM owns how a
step's gradients are computed (``Strategy.backward``).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from tuneoff.options import FloatTuple
from tuneoff.strategies.base import STRATEGIES, Evaluated, Knob, Setup
from tuneoff.strategies.probe import PROBE_DEVIATION, Probed
from tuneoff.strategies.subsets import Full


def _trained(model) -> list:
    return [q for q in model.parameters() if q.requires_grad]


def _copy(into: list, values: list) -> None:
    import torch

    with torch.no_grad():
        torch._foreach_copy_(into, values)


class Averaged(Evaluated):
    """A running average of the trained weights in torch's ``AveragedModel`` (over the trained parameters alone: no
    second copy of frozen weights or buffers), updated by ``multi_avg_fn`` (torch's EMA or equal-average function),
    swapped in for scoring, keeping and saving once it holds a snapshot. The snapshot count is kept here, as a
    Python number: ``AveragedModel.update_parameters`` reads its own count back from a tensor at every update (a
    host synchronisation per step on a GPU), so this applies the same first copy and the same function itself."""

    def __init__(self, params: list, multi_avg_fn):
        import torch
        from torch.optim.swa_utils import AveragedModel

        self.params, self.count, self.multi_avg_fn = params, 0, multi_avg_fn
        self.average = AveragedModel(torch.nn.ParameterList(params), multi_avg_fn=multi_avg_fn)  # copies them

    def take(self) -> None:
        """The trained weights as they are now enter the average (the first snapshot is copied, as torch does)."""
        averaged = list(self.average.parameters())
        if self.count == 0:
            _copy(averaged, self.params)
        else:
            self.multi_avg_fn(averaged, [q.detach() for q in self.params], self.count)
        self.count += 1

    def keepable(self) -> bool:
        return self.count > 0

    @contextmanager
    def swapped_in(self):
        if not self.count:
            yield
            return
        trained = [q.detach().clone() for q in self.params]
        _copy(self.params, list(self.average.parameters()))
        try:
            yield
        finally:
            _copy(self.params, trained)


class ExponentialAverage(Averaged):
    """avg <- d * avg + (1 - d) * weights after each step (torch's ``get_ema_multi_avg_fn``), from the weights before
    training. With ``warmup``, d = min(decay, (1 + n) / (10 + n)) at step n (TensorFlow's ExponentialMovingAverage
    with num_updates), so that a run shorter than 1 / (1 - decay) steps is not dominated by its first weights."""

    def __init__(self, params: list, decay: float, warmup: bool):
        super().__init__(params, multi_avg_fn=self._update)
        self.decay, self.warmup, self.now = decay, warmup, decay
        self.take()  # the first snapshot: the weights before training

    def _update(self, averaged: list, current: list, count) -> None:
        from torch.optim.swa_utils import get_ema_multi_avg_fn

        get_ema_multi_avg_fn(self.now)(averaged, current, count)

    def after_step(self, step: int) -> None:
        self.now = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
        self.take()


class WindowAverage(Averaged):
    """SWA's equal average of the weights after every ``cycle``-th step of the window: steps ``first`` + cycle,
    ``first`` + 2 cycle, ... (counted over the run), the ends of the cycles where a cyclic rate is at its lowest."""

    def __init__(self, params: list, first: int, cycle: int):
        from torch.optim.swa_utils import get_swa_multi_avg_fn

        super().__init__(params, multi_avg_fn=get_swa_multi_avg_fn())
        self.first, self.cycle = first, cycle

    def after_step(self, step: int) -> None:
        if step > self.first and (step - self.first) % self.cycle == 0:
            self.take()


@STRATEGIES.register
class Ema(Full):
    """Exponential moving average of the weights (Polyak & Juditsky 1992; decay per step as in TensorFlow's
    ExponentialMovingAverage), kept by torch's AveragedModel: every weight trains as in ``full``, and the weights
    scored on dev each epoch, kept as the best epoch's, saved and tested are the average, not the last step's."""

    example: ClassVar[dict] = {"decay": 0.99}
    name: Literal["ema"] = "ema"  # type: ignore[assignment]  # a subclass, its own name
    # EMA changes which weights are evaluated, not how they train: plain fine-tuning's rate
    # (Devlin et al. 2019, App. A.3: the best of 2e-5..5e-5 on dev).
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob(
        "decay",
        (0.99, 0.999, 0.9999),
        "no paper grid: TensorFlow's ExponentialMoving"
        "Average suggests 0.999 and 0.9999; 0.99 for runs of a few hundred steps",
    )
    decay: float = Field(0.999, gt=0.0, lt=1.0, description="weight of the average so far at each step")
    warmup: bool = Field(
        True, description="decay min(decay, (1 + n) / (10 + n)) at step n, so short runs forget their first weights"
    )

    def evaluated(self, model, setup: Setup) -> Evaluated:
        return ExponentialAverage(_trained(model), self.decay, self.warmup)


class SwaSchedule:
    """SWA's learning rate over a run of optimizer steps, with a window from step ``first`` + 1 on. Before the window,
    as Izmailov et al.'s reference code schedules it (timgaripov/swa): the protocol's warm-up, then the peak rate
    for the first half of the steps before the window, a linear fall to the SWA rate (``ratio`` x the peak) by 90 %
    of them, held. In the window: constant, torch's SWALR holding the SWA rate; or cyclic, each ``cycle`` of steps
    falling linearly from the peak to the SWA rate (the paper's eq. 1; SWALR cannot cycle). Stepped like an
    LRScheduler after every optimizer step."""

    def __init__(self, optimizer, warmup: int, first: int, ratio: float, cycle: int, cyclic: bool):
        from torch.optim.lr_scheduler import LambdaLR

        self.optimizer, self.warmup, self.first, self.ratio = optimizer, warmup, first, ratio
        self.cycle, self.cyclic, self.done = cycle, cyclic, 0
        self.window: Any = None  # torch's SWALR once the SWA rate holds
        self.before = LambdaLR(optimizer, self.factor)
        self.base_lrs = self.before.base_lrs

    def factor(self, done: int) -> float:
        """The rate of step ``done`` + 1 as a share of the peak."""
        if done >= self.first:
            t = ((done - self.first) % self.cycle + 1) / self.cycle if self.cyclic else 1.0
            return (1 - t) + t * self.ratio
        if done < self.warmup:
            return (done + 1) / self.warmup
        t = done / self.first
        return 1.0 if t <= 0.5 else max(self.ratio, 1 - (1 - self.ratio) * (t - 0.5) / 0.4)

    def step(self) -> None:
        from torch.optim.swa_utils import SWALR

        self.done += 1
        if self.cyclic or self.done < self.first:
            self.before.step()
        elif self.window is None:  # its first step sets the SWA rate (no annealing: the fall came before)
            # one SWA rate per group: SWALR takes a list, though its annotation says float
            self.window = SWALR(
                self.optimizer,
                [b * self.ratio for b in self.base_lrs],  # type: ignore[arg-type]
                anneal_epochs=0,
            )
        else:
            self.window.step()

    def get_last_lr(self) -> list:
        return (self.window or self.before).get_last_lr()


@STRATEGIES.register
class Swa(Full):
    """Stochastic weight averaging (Izmailov et al. 2018) with torch.optim.swa_utils: every weight trains as in
    ``full``; the last (1 - ``start``) of the run's steps are the averaging window, run at a constant rate (SWALR)
    or a cyclic one (``window``), after the reference code's schedule before it (see SwaSchedule); the equal
    average (AveragedModel) of the weights after every ``cycle``-th window step is what is scored, kept, saved and
    tested. An epoch that ends before the first snapshot is scored on the trained weights for the history but is
    never kept, so the kept weights are always an average. Transformers have no batch norm, so there are no
    statistics to recompute."""

    example: ClassVar[dict] = {"start": 0.5}
    name: Literal["swa"] = "swa"  # type: ignore[assignment]  # a subclass, its own name
    # Izmailov et al. train image models with SGD and give no BERT rate; SWA averages along plain fine-tuning,
    # so it trains at full's (Devlin et al. 2019, App. A.3).
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob(
        "start",
        (0.25, 0.5, 0.75),
        "Izmailov et al. 2018, §4: averaging over the last "
        "25 % of the budget (start 0.75); earlier starts average over longer windows",
    )
    deviation: ClassVar[str] = (
        "snapshots are taken every `cycle` optimizer steps (default 1), not once per epoch "
        "(a 3-epoch fine-tuning run would give one snapshot); AdamW, not SGD"
    )
    start: float = Field(0.75, ge=0.0, lt=1.0, description="fraction of the run's steps before the window")
    swa_lr: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="the window's rate as a share of the peak rate (the reference's ResNets: 0.05 of 0.1)",
    )
    window: Literal["constant", "cyclic"] = Field(
        "constant", description="the window's rate: constant, or falling from the peak to swa_lr over each cycle"
    )
    cycle: int = Field(1, ge=1, le=100000, description="window steps between snapshots (a cyclic rate's period)")

    def first(self, total: int) -> int:
        """The last step before the window."""
        return math.floor(self.start * total)

    def apply(self, model, setup: Setup):
        if setup.total_steps - self.first(setup.total_steps) < self.cycle:
            raise ValueError(
                f"swa: the window of {setup.total_steps - self.first(setup.total_steps)} steps is shorter "
                f"than strategy.cycle = {self.cycle}: no snapshot would be taken (lower start or cycle)"
            )
        return Full.apply(self, model, setup)

    def schedule(self, optimizer, warmup: int, total: int):
        return SwaSchedule(optimizer, warmup, self.first(total), self.swa_lr, self.cycle, self.window == "cyclic")

    def evaluated(self, model, setup: Setup) -> Evaluated:
        return WindowAverage(_trained(model), self.first(setup.total_steps), self.cycle)


class Interpolation(Evaluated):
    """WiSE-FT's choice: after training, the whole model at (1 - alpha) * start + alpha * fine-tuned for each alpha,
    scored on dev; the best stays in the model (ties: the larger alpha, nearer the fine-tuned model)."""

    def __init__(self, params: list, alphas: tuple[float, ...]):
        self.params, self.alphas = params, alphas
        self.start = [q.detach().clone() for q in params]

    def after_training(self, score_dev) -> dict:
        import torch

        finetuned = [q.detach().clone() for q in self.params]

        def put(alpha: float) -> None:
            _copy(self.params, [torch.lerp(a, b, alpha) for a, b in zip(self.start, finetuned)])

        accuracies = []
        for alpha in self.alphas:
            put(alpha)
            accuracies.append(score_dev())
        chosen = max(range(len(self.alphas)), key=lambda i: (accuracies[i], self.alphas[i]))
        put(self.alphas[chosen])
        return {"alpha": self.alphas[chosen], "alphas": list(self.alphas), "dev_accuracy": accuracies}


@STRATEGIES.register
class WiseFt(Probed):
    """WiSE-FT (Wortsman et al. 2022): the start point is the pretrained model with a linear-probe head (the head's
    final linear layer fitted in closed form on the frozen pretrained features, as for LP-FT: a text classifier has
    no zero-shot head); every weight then trains as in ``full``; finally the whole model, body and head, is set to
    (1 - alpha) * start + alpha * fine-tuned (best-epoch) weights, with alpha chosen on dev from ``alphas``. The
    result records the chosen alpha and the dev accuracy of each."""

    example: ClassVar[dict] = {"alphas": [0.5, 1.0], "probe_c": 100.0}
    name: Literal["wiseft"] = "wiseft"  # type: ignore[assignment]  # a subclass, its own name
    # Wortsman et al. fine-tune CLIP end to end with AdamW at 3e-5; the same as full's BERT rate
    # (Devlin et al. 2019, App. A.3), which is what WiSE-FT fine-tunes with before interpolating.
    default_lr: ClassVar[float] = 3e-5
    # No knob is crossed: alpha is chosen on dev after training, at no training cost, from ``alphas`` (the paper
    # tries 0, 0.1, ..., 1: Wortsman et al. 2022, §3); so its sweep gives every trial to the rate.
    deviation: ClassVar[str] = (
        "the start point's head is a linear probe on the pretrained features (WiSE-FT's "
        "zero-shot head needs a text encoder of the class names); " + PROBE_DEVIATION
    )
    alphas: FloatTuple = Field(
        (0.25, 0.5, 0.75, 1.0),
        min_length=1,
        max_length=21,
        description="mixing weights of the fine-tuned model tried on dev (1: plain LP-FT)",
    )

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
        return Interpolation(_trained(model), self.alphas)


@STRATEGIES.register
class Sam(Full):
    """Sharpness-aware minimisation (Foret et al. 2021): each step takes the gradient g at the weights w,
    moves to w + rho * g / ||g|| (the whole model's 2-norm), takes the gradient there and steps on it from w
    with the protocol's AdamW. A step costs two forward and backward passes (recorded; the timing shows it)."""

    example: ClassVar[dict] = {"rho": 0.05}
    name: Literal["sam"] = "sam"  # type: ignore[assignment]  # a subclass, its own name
    capturable: ClassVar[bool] = False
    # Foret et al. keep the base optimizer's rate and report no BERT runs: plain fine-tuning's
    # (Devlin et al. 2019, App. A.3).
    default_lr: ClassVar[float] = Full.default_lr
    passes_per_step: ClassVar[int] = 2
    knob: ClassVar[Knob | None] = Knob(
        "rho",
        (0.01, 0.02, 0.05, 0.1, 0.2),
        "Foret et al. 2021, App. C: rho by grid search over {0.01, 0.02, 0.05, 0.1, 0.2, 0.5}",
    )
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
