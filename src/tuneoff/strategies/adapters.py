"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021): small trained modules inside every frozen layer.

Our own small module (tuneoff.models.bottleneck), placed by the role table, because the ``adapters`` library
(AdapterHub) pins transformers ~= 4.57 (adapters 1.3.0) and tuneoff runs on transformers 5, and PEFT has no
bottleneck adapters. Two registry entries rather than one with a placement option: the two papers publish
different placements, nonlinearities, trained sets and rates, and a strategy's published rate and main knob
(which the fair budget sweeps) belong to the class. The adapters are nonlinear, so nothing can be merged into
the weights: the checkpoint is the model without its adapters plus an adapter folder, which ``load_checkpoint``
(``predict``) reads back and ``tuneoff export --no-merge`` exports.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.store.checkpoint import Checkpoint
from tuneoff.strategies.base import STRATEGIES, Knob, Setup, Strategy
from tuneoff.strategies.promise import Added, Trains

SIZES = Knob("size", (8, 64, 256), "Houlsby et al. 2019, §3.1: adapter sizes {8, 64, 256} chosen on dev per task")


class BottleneckAdapters(Strategy):
    """Shared by both placements: freeze the model, insert the adapters, train them and the head (and, where the
    paper does, every layer norm); save the adapters beside the model."""

    placement: ClassVar[str]
    knob: ClassVar[Knob | None] = SIZES
    not_merged: ClassVar[str | None] = (
        "bottleneck adapters are nonlinear modules inside every layer: no plain transformers model holds them"
    )
    size: int = Field(64, ge=1, le=8192, description="bottleneck width: units between the down- and up-projection")
    activation: Literal["gelu", "relu", "swish"] = Field("gelu", description="the nonlinearity between them")
    init_scale: float = Field(
        1e-2, gt=0.0, le=1.0, description="std of both projections' initial weights (truncated at 2 std)"
    )
    layer_norms: bool = Field(False, description="train every layer norm too (Houlsby et al. do)")

    def check(self, model, protocol=None) -> list[str]:
        problems = super().check(model, protocol)
        if problems:
            return problems
        from tuneoff.models.bottleneck import sites
        from tuneoff.models.roles import roles_for

        try:
            sites(model, roles_for(model), self.placement)
        except ValueError as err:
            return [str(err)]
        return []

    def apply(self, model, setup: Setup):
        from tuneoff.models.bottleneck import attach

        roles = setup.roles
        norms = roles.norms_of(model)
        head = tuple(f"{h}." for h in roles.head)
        for name, q in model.named_parameters():
            module = name.rsplit(".", 1)[0]
            is_norm = any(module == s or module.endswith("." + s) for s in norms)
            q.requires_grad_(name.startswith(head) or (self.layer_norms and is_norm))
        for adapter in attach(model, roles, self.placement, self.size, self.activation, self.init_scale):
            adapter.requires_grad_(True)
        return model, []

    def save(self, model, tokenizer, checkpoint: Checkpoint) -> dict:
        from tuneoff.models.bottleneck import is_adapter, save

        plain = {k: v for k, v in model.state_dict().items() if not is_adapter(k)}
        model.save_pretrained(checkpoint.model, state_dict=plain, safe_serialization=True)
        tokenizer.save_pretrained(checkpoint.model)
        save(model, {"placement": self.placement, "size": self.size, "activation": self.activation}, checkpoint.adapter)
        return checkpoint.record(checkpoint.model, checkpoint.BOTTLENECK, adapter=True)


@STRATEGIES.register
class AdapterHoulsby(BottleneckAdapters):
    """Houlsby adapters (Houlsby et al. 2019, "Parameter-efficient transfer learning for NLP"): two bottleneck
    adapters per layer, on the attention's and the feed-forward's output projection, before each residual add
    and layer norm (one deviation: before the hidden dropout, where their code has them after it); the adapters,
    every layer norm and the head train, the rest is frozen. GELU, as their code (erf form; theirs is the tanh
    approximation, within 1e-3 of it); near-identity initialisation (std 1e-2 truncated at 2 std, as the paper;
    their code uses 1e-3). The deviation changes only which signal dropout masks in training (the hook sits on
    the projection; DistilBERT has no dropout there)."""

    example: ClassVar[dict] = {"size": 4}
    # Houlsby et al. 2019, §3.1 (BERT-base and -large on GLUE, Adam, 10 % warm-up, linear decay): rates swept
    # over {3e-5, 3e-4, 3e-3}; the grid centred on the middle one holds all three.
    default_lr: ClassVar[float] = 3e-4
    placement: ClassVar[str] = "houlsby"

    name: Literal["adapter_houlsby"] = "adapter_houlsby"
    trains: ClassVar[Trains] = Trains(base="norms", added=(Added(("adapter_attention", "adapter_ffn"), ("layer",)),))
    layer_norms: bool = Field(True, description="train every layer norm too (Houlsby et al. do)")


@STRATEGIES.register
class AdapterPfeiffer(BottleneckAdapters):
    """Pfeiffer adapters (Pfeiffer et al. 2021, "AdapterFusion"; AdapterHub's Pfeiffer configuration): one
    bottleneck adapter per layer, after the feed-forward's Add & Norm, its residual the feed-forward's output,
    followed by that layer norm again; only the adapters and the head train. ReLU and a bottleneck of 48 (a
    reduction factor of 16 on a 768-wide model), as AdapterHub's configuration; initialised as Houlsby's (std 1e-2
    truncated; AdapterHub draws N(0, 0.02²))."""

    example: ClassVar[dict] = {"size": 4}
    # Pfeiffer et al. 2021 train single-task adapters with Adam at 1e-4 (AdapterFusion, §4 / appendix).
    default_lr: ClassVar[float] = 1e-4
    placement: ClassVar[str] = "pfeiffer"

    name: Literal["adapter_pfeiffer"] = "adapter_pfeiffer"
    trains: ClassVar[Trains] = Trains(base="none", added=(Added(("adapter_ffn",), ("layer",)),))
    size: int = Field(48, ge=1, le=8192, description="bottleneck width: units between the down- and up-projection")
    activation: Literal["gelu", "relu", "swish"] = Field("relu", description="the nonlinearity between them")
