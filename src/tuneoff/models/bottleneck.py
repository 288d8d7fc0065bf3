"""Bottleneck adapters inside a BERT-family classifier, placed by the role table, and their checkpoint format.

An adapter is A(z) = W_up f(W_down z + b_down) + b_up: a down-projection to ``size`` units, a nonlinearity f,
an up-projection back; with its residual, z + A(z). Both projections start near zero (a truncated normal of
std ``init_scale``, biases zero), so an adapted model starts near the model it adapts (Houlsby et al. 2019's
near-identity initialisation). Where they sit, per transformer layer (x: the sublayer's input, h: its output
projection's output, LN: the sublayer's own layer norm):

- ``houlsby`` (Houlsby et al. 2019, "Parameter-efficient transfer learning for NLP"): two adapters, on the
  attention's and on the feed-forward's output projection, before the residual add and layer norm:
  LN(x + h + A(h)).
- ``pfeiffer`` (Pfeiffer et al. 2021, "AdapterFusion"; AdapterHub's Pfeiffer configuration): one adapter, after
  the feed-forward's Add & Norm, with the feed-forward's output as its residual and the same layer norm applied
  again: with y = x + h, LN(y + A(LN(y))).

The adapters are modules of their layer (``adapter_attention``, ``adapter_ffn``) applied by forward hooks on the
projection or the layer norm, so none of the model's own parameter names change. One difference from Houlsby's
code: the adapter reads the projection's output before the model's hidden dropout rather than after it (the
hook sits on the projection; DistilBERT has no dropout there at all); at evaluation the two are the same.

A checkpoint is the model without its adapters (a plain transformers folder) plus an adapter folder:
``adapter_config.json`` (placement, size, activation, and the base model when exported) and
``adapter_model.safetensors`` with every trained tensor (adapters, head, and any trained layer norms).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from tuneoff.models.roles import Roles, roles_for
from tuneoff.store.checkpoint import exported_base

ADAPTER_TYPE = "tuneoff-bottleneck"
CONFIG, WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"gelu": F.gelu, "relu": F.relu, "swish": F.silu}
# adapter module -> (where its hook sits, what the hook does), per placement
PLACEMENTS = {
    "houlsby": {"adapter_attention": "attention_out", "adapter_ffn": "ffn_out"},
    "pfeiffer": {"adapter_ffn": "ffn_norm"},
}


class Bottleneck(torch.nn.Module):
    """z + W_up f(W_down z + b_down) + b_up."""

    def __init__(self, dim: int, size: int, activation: str = "gelu", init_scale: float = 1e-2):
        super().__init__()
        self.down, self.up = torch.nn.Linear(dim, size), torch.nn.Linear(size, dim)
        self.activation = activation
        if init_scale > 0:
            for linear in (self.down, self.up):
                torch.nn.init.trunc_normal_(linear.weight, std=init_scale, a=-2 * init_scale, b=2 * init_scale)
                torch.nn.init.zeros_(linear.bias)

    def delta(self, z):
        """A(z), without the residual."""
        return self.up(ACTIVATIONS[self.activation](self.down(z)))

    def forward(self, z):
        return z + self.delta(z)


class AfterProjection:
    """Forward hook on an output projection: its output h becomes h + A(h). An object, not a closure, so that a
    deep copy of the model hooks the copy's adapter."""

    def __init__(self, adapter: Bottleneck):
        self.adapter = adapter

    def __call__(self, module, args, output):
        return self.adapter(output)


class AfterNorm:
    """Forward hook on a layer norm of input y: its output LN(y) becomes LN(y + A(LN(y)))."""

    def __init__(self, adapter: Bottleneck):
        self.adapter = adapter

    def __call__(self, module, args, output):
        return F.layer_norm(
            args[0] + self.adapter.delta(output), module.normalized_shape, module.weight, module.bias, module.eps
        )


def inside(layer, suffix: str):
    """The module of a layer at this role name: the exact relative path, else the one path ending in it."""
    named = dict(layer.named_modules())
    if suffix in named:
        return named[suffix]
    hits = [m for n, m in named.items() if n.endswith("." + suffix)]
    if len(hits) != 1:
        raise ValueError(
            f"bottleneck adapters: {len(hits)} modules of a transformer layer end in {suffix!r}; "
            f"the layer's modules: {sorted(n for n in named if n)}"
        )
    return hits[0]


def sites(model, roles: Roles, placement: str) -> list[tuple[torch.nn.Module, str, torch.nn.Module]]:
    """(layer, adapter name, the module its hook sits on) for every adapter of this placement."""
    if placement not in PLACEMENTS:
        raise ValueError(f"bottleneck placement {placement!r}; choices: {sorted(PLACEMENTS)}")
    out = []
    for layer in roles.layer_list(model):
        for name, role in PLACEMENTS[placement].items():
            target = inside(layer, getattr(roles, role))
            if role == "ffn_norm" and not isinstance(target, torch.nn.LayerNorm):
                raise ValueError(f"bottleneck adapters: {roles.ffn_norm} is a {type(target).__name__}, not a LayerNorm")
            out.append((layer, name, target))
    return out


def attach(
    model, roles: Roles, placement: str, size: int, activation: str = "gelu", init_scale: float = 1e-2
) -> list[Bottleneck]:
    """Insert this placement's adapters into every layer (on the model's device and dtype); returns them."""
    dim = roles.dims(model.config)["token_dim"]
    added = []
    for layer, name, target in sites(model, roles, placement):
        if hasattr(layer, name):
            raise ValueError(f"bottleneck adapters: a layer already has {name}")
        reference = next(target.parameters())
        adapter = Bottleneck(dim, size, activation, init_scale).to(reference.device, reference.dtype)
        layer.add_module(name, adapter)
        target.register_forward_hook(
            AfterNorm(adapter) if isinstance(target, torch.nn.LayerNorm) else AfterProjection(adapter)
        )
        added.append(adapter)
    return added


def is_adapter(name: str) -> bool:
    """A state-dict key of an adapter's weights."""
    return any(f".{a}." in f".{name}" for p in PLACEMENTS.values() for a in p)


def save(model, spec: dict, folder: Path) -> None:
    """The adapter folder: the spec (placement, size, activation) and every tensor that takes gradients."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    spec = {"adapter_type": ADAPTER_TYPE, **spec, "num_labels": model.config.num_labels}
    (folder / CONFIG).write_text(json.dumps(spec, indent=2) + "\n")
    save_file(
        {n: q.detach().contiguous() for n, q in model.named_parameters() if q.requires_grad}, str(folder / WEIGHTS)
    )


def restore(model, folder: Path):
    """Insert the adapters an adapter folder describes into ``model`` (the checkpoint's model without them) and
    load every tensor the folder holds; the model, ready for inference."""
    from safetensors.torch import load_file

    spec = json.loads((folder / CONFIG).read_text())
    if spec.get("adapter_type") != ADAPTER_TYPE:
        raise ValueError(f"{folder / CONFIG}: adapter_type {spec.get('adapter_type')!r}, expected {ADAPTER_TYPE!r}")
    attach(model, roles_for(model), spec["placement"], spec["size"], spec["activation"], init_scale=0.0)
    state = load_file(str(folder / WEIGHTS))
    missing = sorted(n for n in model.state_dict() if is_adapter(n) and n not in state)
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise ValueError(f"{folder / WEIGHTS}: adapter weights missing {missing[:4]}, unexpected {unexpected[:4]}")
    model.load_state_dict(state, strict=False)
    return model


def from_pretrained(folder: str | Path):
    """An exported adapter folder (``tuneoff export --no-merge``) over its base: the one written beside it in
    ``base/`` when there is one, else the one its config names."""
    from transformers import AutoModelForSequenceClassification

    folder = Path(folder)
    spec = json.loads((folder / CONFIG).read_text())
    beside = exported_base(folder)
    where, revision = (
        (beside, "main") if beside.is_dir() else (spec["base_model_name_or_path"], spec.get("revision") or "main")
    )
    base = AutoModelForSequenceClassification.from_pretrained(where, revision=revision, num_labels=spec["num_labels"])
    return restore(base, folder).eval()
