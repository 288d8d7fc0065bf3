"""Which parameters train: all of them, the head alone, biases, or the top layers."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.strategies.base import STRATEGIES, Knob, Setup, Strategy, freeze_all_but
from tuneoff.strategies.promise import Trains


@STRATEGIES.register
class Full(Strategy):
    """Every parameter trains (Devlin et al. 2019)."""

    name: Literal["full"] = "full"
    # Devlin et al. 2019 (BERT, App. A.3): the best of 5e-5, 4e-5, 3e-5, 2e-5 on dev; 3e-5 is its middle.
    default_lr: ClassVar[float] = 3e-5

    def apply(self, model, setup: Setup):
        for q in model.parameters():
            q.requires_grad_(True)
        return model, []


@STRATEGIES.register
class Head(Strategy):
    """Linear probe: the encoder is frozen, only the classification head trains."""

    name: Literal["head"] = "head"
    trains: ClassVar[Trains] = Trains(base="none")
    # No paper fixes it: a freshly initialised linear layer over frozen features under Adam, at Adam's own
    # default (Kingma & Ba 2015); VeRA's RoBERTa heads learn at 4e-3..1e-2 (Kopiczko et al. 2024), inside the grid.
    default_lr: ClassVar[float] = 1e-3

    def apply(self, model, setup: Setup):
        freeze_all_but(model, setup.roles, lambda name: False)
        return model, []


@STRATEGIES.register
class BitFit(Strategy):
    """BitFit (Ben Zaken et al. 2021): every bias term, and the head."""

    name: Literal["bitfit"] = "bitfit"
    trains: ClassVar[Trains] = Trains(base="biases")
    # Ben Zaken et al. 2022 (BitFit): BERT rates searched in 1e-4..1e-3; 4e-4, from that grid, is near its
    # geometric middle, so the default grid holds the whole published range.
    default_lr: ClassVar[float] = 4e-4

    def apply(self, model, setup: Setup):
        freeze_all_but(model, setup.roles, lambda name: name.endswith(".bias"))
        return model, []


def check_layers(strategy: Strategy, model, k: int) -> list[str]:
    """The role table knows the model, and it has at least ``k`` transformer layers."""
    from tuneoff.models.roles import roles_for

    problems = Strategy.check(strategy, model)
    if not problems and k > len(roles_for(model).layer_list(model)):
        problems.append(f"strategy.k = {k} but the model has {len(roles_for(model).layer_list(model))} layers")
    return problems


def top_layer_prefixes(model, setup: Setup, k: int) -> tuple[str, ...]:
    """Parameter-name prefixes of the top ``k`` transformer layers, and of the pretrained pooler above them
    (BERT's) when ``k`` >= 1: it only ever sees the top layer's output, so it trains whenever that layer does."""
    n = len(setup.roles.layer_list(model))
    pooler = (f"{setup.roles.pooler}.",) if setup.roles.pooler and k >= 1 else ()
    return (*(f"{setup.roles.layers}.{i}." for i in range(max(0, n - k), n)), *pooler)


@STRATEGIES.register
class Freeze(Strategy):
    """Only the top ``k`` transformer layers (with the pooler above them, where the model has one) and the head
    train; the rest is frozen."""

    example: ClassVar[dict] = {"k": 1}

    name: Literal["freeze"] = "freeze"
    trains: ClassVar[Trains] = Trains(base="top", top="k")
    # Plain fine-tuning of the top layers: full's rate (Devlin et al. 2019: 2e-5..5e-5).
    default_lr: ClassVar[float] = 3e-5
    knob: ClassVar[Knob | None] = Knob(
        "k",
        (1, 2, 3),
        "no paper grid: the top one, two or three layers (Lee et al. "
        '2019, "What would Elsa do?", vary how many top layers train)',
    )
    k: int = Field(2, ge=0, le=128, description="how many top transformer layers train")

    def check(self, model, protocol=None) -> list[str]:
        return check_layers(self, model, self.k)

    def apply(self, model, setup: Setup):
        top = top_layer_prefixes(model, setup, self.k)
        freeze_all_but(model, setup.roles, lambda name: name.startswith(top))
        return model, []
