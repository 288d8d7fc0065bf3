"""Full fine-tuning with a scheme: per-layer learning rates, re-initialised top layers, gradual unfreezing."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.strategies.base import STRATEGIES, Knob, Setup, Strategy
from tuneoff.strategies.promise import Trains
from tuneoff.strategies.subsets import check_layers, top_layer_prefixes


@STRATEGIES.register
class Llrd(Strategy):
    """Layer-wise learning-rate decay (Sun et al. 2019; Zhang et al. 2021): the head learns at the protocol's
    rate, each layer below at ``decay`` times the one above, the embeddings (and what counts with them, such as
    DeBERTa-v2's relative-position embeddings) at the lowest. BERT's pooler learns at the head's rate, grouped with
    the classifier as common LLRD recipes do (it sits above the top layer)."""

    name: Literal["llrd"] = "llrd"
    trains: ClassVar[Trains] = Trains(depth_decay="decay")
    # Sun et al. 2019 ("How to fine-tune BERT"): 2e-5 at the top layer with per-layer decay; full's middle rate.
    default_lr: ClassVar[float] = 3e-5
    knob: ClassVar[Knob | None] = Knob(
        "decay",
        (0.85, 0.9, 0.95),
        "Sun et al. 2019, §5.3, Table 6: decay factors 0.95, 0.9 and 0.85 against 1.0 (no decay)",
    )
    decay: float = Field(0.9, gt=0.0, le=1.0, description="learning-rate factor per layer, going down")

    def apply(self, model, setup: Setup):
        for q in model.parameters():
            q.requires_grad_(True)
        return model, []

    def parameters(self, model, setup: Setup):
        n = len(setup.roles.layer_list(model))
        layers, embeddings = setup.roles.layers + ".", setup.roles.embedding_prefixes()
        out = []
        for name, q in model.named_parameters():
            if name.startswith(embeddings):
                depth = n + 1
            elif name.startswith(layers):
                depth = n - int(name[len(layers) :].split(".")[0])  # top layer: 1
            else:
                depth = 0  # the head, and the pooler
            out.append((name, q, self.decay**depth))
        return out


@STRATEGIES.register
class Reinit(Strategy):
    """Re-initialise the top ``k`` transformer layers, and the pooler where the model has one, before full
    fine-tuning (Zhang et al. 2021, "Revisiting few-sample BERT fine-tuning"), with the model's own initialiser."""

    name: Literal["reinit"] = "reinit"
    # Zhang et al. 2021 keep plain fine-tuning's rates for the re-initialised model
    # (Devlin et al. 2019 (BERT, App. A.3): 2e-5..5e-5).
    default_lr: ClassVar[float] = 3e-5
    knob: ClassVar[Knob | None] = Knob(
        "k", (1, 2, 3, 4, 5, 6), "Zhang et al. 2021, §5: the top L in 1..6 layers of BERT-large re-initialised"
    )
    k: int = Field(1, ge=0, le=128, description="top transformer layers to re-initialise")

    def check(self, model, protocol=None) -> list[str]:
        return check_layers(self, model, self.k)

    def apply(self, model, setup: Setup):
        layers = setup.roles.layer_list(model)
        chosen = list(layers)[len(layers) - self.k :] if self.k else []
        pooler = setup.roles.module(model, setup.roles.pooler) if setup.roles.pooler and self.k else None
        for module in chosen + ([pooler] if pooler is not None else []):
            reinitialise(model, module)
        for q in model.parameters():
            q.requires_grad_(True)
        return model, []


def reinitialise(model, module) -> None:
    """Draw a module's weights again with the model's own initialiser. transformers 5 marks every tensor that
    from_pretrained loaded (``_is_hf_initialized``) and its init functions skip marked tensors: without clearing
    the marks, re-initialising a Hub model silently changes nothing."""
    for m in module.modules():
        m._is_hf_initialized = False
        for t in [*m.parameters(recurse=False), *m.buffers(recurse=False)]:
            t._is_hf_initialized = False
    module.apply(model._init_weights)


@STRATEGIES.register
class Unfreeze(Strategy):
    """Gradual unfreezing (Howard & Ruder 2018, ULMFiT) on a step schedule, for any number of epochs: the head
    trains alone first, then one more layer group opens from the top every ``every_steps`` optimizer steps (the top
    transformer layer with the pooler where the model has one, then each layer below, the embeddings and what
    counts with them last). By default the run's steps are split into L + 2 equal stages for L layers, so every
    weight is open before the run ends and the last stage trains them all, as ULMFiT fine-tunes everything at
    the end."""

    name: Literal["unfreeze"] = "unfreeze"
    trains: ClassVar[Trains] = Trains(base="none", owns_every_weight=True)  # at first; then it opens the rest
    capturable: ClassVar[bool] = False
    # Howard & Ruder 2018 tuned an LSTM; on a BERT-family encoder every layer ends up fully fine-tuned
    # (Devlin et al. 2019 (BERT, App. A.3): 2e-5..5e-5).
    default_lr: ClassVar[float] = 3e-5
    deviation: ClassVar[str] = (
        "groups open on a step schedule, not once per epoch (a 3-epoch run would never open "
        "most layers); ULMFiT's discriminative rates and slanted triangular schedule are "
        "not part of it (llrd and the protocol's schedule)"
    )
    every_steps: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="optimizer steps between opening one "
        "more group; unset: the run's steps over L + 2 (every weight open before the end)",
    )

    def opening_steps(self, model, setup: Setup) -> list[int]:
        """After which optimizer step (counted over the run) each group below the head opens: the top layer (with
        its pooler) first, the embeddings last."""
        groups = len(setup.roles.layer_list(model)) + 1
        if self.every_steps is not None:
            return [g * self.every_steps for g in range(1, groups + 1)]
        return [round(g * setup.total_steps / (groups + 1)) for g in range(1, groups + 1)]

    def apply(self, model, setup: Setup):
        self._set(model, setup, done=0)
        last = self.opening_steps(model, setup)[-1]
        if last >= setup.total_steps:
            return model, [
                f"unfreeze: the embeddings open after step {last}, but the run has {setup.total_steps} "
                "steps: some weights never train (lower strategy.every_steps or leave it unset)"
            ]
        return model, []

    def parameters(self, model, setup: Setup):
        # The optimizer owns everything from the start; frozen parameters get no gradient, so AdamW skips them.
        return [(n, q, 1.0) for n, q in model.named_parameters()]

    def before_epoch(self, model, setup: Setup, epoch: int) -> None:
        self._set(model, setup, done=(epoch - 1) * setup.steps_per_epoch)

    def after_step(self, model, setup: Setup, step: int) -> None:
        if step in self.opening_steps(model, setup):
            self._set(model, setup, done=step)

    def _set(self, model, setup: Setup, done: int) -> None:
        n = len(setup.roles.layer_list(model))
        opened = sum(1 for s in self.opening_steps(model, setup) if s <= done)  # 0: the head alone
        top = top_layer_prefixes(model, setup, min(n, opened))
        embeddings = setup.roles.embedding_prefixes()
        head = tuple(f"{h}." for h in setup.roles.head)
        for name, q in model.named_parameters():
            q.requires_grad_(
                name.startswith(head) or name.startswith(top) or (opened > n and name.startswith(embeddings))
            )
