"""What each module of a BERT-family classifier is for, so strategies never name DistilBERT's modules.

A strategy asks for "the attention projections", "the transformer layers" or "the head";
this table answers per ``config.model_type``. Adding an architecture is one entry.
Names are PEFT-style suffixes: a module matches a name when its dotted path ends in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class UnsupportedModel(ValueError):
    """An architecture the role table does not describe."""


@dataclass(frozen=True)
class Roles:
    model_type: str
    layers: str  # dotted path of the ModuleList of transformer layers
    query: str
    key: str
    value: str
    attention_out: str
    ffn_in: str
    ffn_out: str
    norms: tuple[str, ...]  # layer norms inside each layer and after the embeddings
    embeddings: str  # dotted path of the embeddings module
    head: tuple[str, ...]  # top-level modules of the classification head, freshly initialised, always trained
    # Dotted path of a pretrained pooler between the layers and the head, if any. It counts with the top layer: it
    # trains whenever the top layer trains (freeze, unfreeze) and is re-initialised with it (reinit).
    pooler: str | None = None
    # Dotted paths of modules outside the embeddings module and outside every layer that count with the embeddings
    # (the same depth for llrd, opened with them by unfreeze), where a model has them: DeBERTa-v2's relative-position
    # embeddings and the LayerNorm over them (only with relative attention, as in every released DeBERTa-v3).
    with_embeddings: tuple[str, ...] = ()
    hidden: str = "hidden_size"  # config attribute names, for prompt methods
    n_layers: str = "num_hidden_layers"
    n_heads: str = "num_attention_heads"

    @property
    def attention(self) -> tuple[str, ...]:
        return (self.query, self.key, self.value, self.attention_out)

    @property
    def ffn(self) -> tuple[str, ...]:
        return (self.ffn_in, self.ffn_out)

    @property
    def ffn_norm(self) -> str:
        """The layer norm after each layer's feed-forward (Add & Norm): the second of ``norms``, which lists the
        attention's, the feed-forward's, then the embeddings'."""
        return self.norms[1]

    def embedding_prefixes(self) -> tuple[str, ...]:
        """Parameter-name prefixes of the embeddings and of the modules that count with them."""
        return (self.embeddings + ".", *(f"{m}." for m in self.with_embeddings))

    def norms_of(self, model) -> list[str]:
        """The layer norms (PEFT-style names) this model has: those of every layer and the embeddings, and
        the full paths of the LayerNorms among the modules that count with the embeddings, where it has them."""
        import torch

        extra = [m for m in self.with_embeddings if isinstance(self.module(model, m), torch.nn.LayerNorm)]
        return [*self.norms, *extra]

    def layer_list(self, model):
        """The transformer layers, bottom first."""
        return _get(_base(model), self.layers)

    def module(self, model, path: str):
        """A module of the (possibly PEFT-wrapped) model by dotted path; None when the model has none there."""
        try:
            return _get(_base(model), path)
        except AttributeError:
            return None

    def dims(self, config) -> dict[str, int]:
        return {
            "token_dim": getattr(config, self.hidden),
            "num_layers": getattr(config, self.n_layers),
            "num_attention_heads": getattr(config, self.n_heads),
        }


_BERT_LIKE: dict[str, Any] = dict(
    query="attention.self.query",
    key="attention.self.key",
    value="attention.self.value",
    attention_out="attention.output.dense",
    ffn_in="intermediate.dense",
    ffn_out="output.dense",
    norms=("attention.output.LayerNorm", "output.LayerNorm", "embeddings.LayerNorm"),
)

ROLES: dict[str, Roles] = {
    "distilbert": Roles(
        "distilbert",
        "distilbert.transformer.layer",
        "q_lin",
        "k_lin",
        "v_lin",
        "out_lin",
        "lin1",
        "lin2",
        ("sa_layer_norm", "output_layer_norm", "embeddings.LayerNorm"),
        "distilbert.embeddings",
        ("pre_classifier", "classifier"),
        hidden="dim",
        n_layers="n_layers",
        n_heads="n_heads",
    ),
    "bert": Roles(
        "bert",
        "bert.encoder.layer",
        embeddings="bert.embeddings",
        head=("classifier",),
        pooler="bert.pooler",
        **_BERT_LIKE,
    ),
    "roberta": Roles(
        "roberta", "roberta.encoder.layer", embeddings="roberta.embeddings", head=("classifier",), **_BERT_LIKE
    ),
    "deberta-v2": Roles(
        "deberta-v2",
        "deberta.encoder.layer",
        "attention.self.query_proj",
        "attention.self.key_proj",
        "attention.self.value_proj",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
        ("attention.output.LayerNorm", "output.LayerNorm", "embeddings.LayerNorm"),
        "deberta.embeddings",
        ("pooler", "classifier"),
        with_embeddings=("deberta.encoder.rel_embeddings", "deberta.encoder.LayerNorm"),
    ),
}


def _base(model):
    """The transformers model under any PEFT wrapper."""
    while hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


def _get(module, path: str):
    for part in path.split("."):
        module = getattr(module, part)
    return module


def roles_for(model) -> Roles:
    """The roles of a (possibly PEFT-wrapped) model; an unknown architecture fails naming what is missing."""
    model_type = getattr(getattr(_base(model), "config", None), "model_type", None)
    if model_type not in ROLES:
        raise UnsupportedModel(
            f"model type {model_type!r} has no entry in tuneoff's role table (which modules are "
            f"attention, feed-forward, layers, head); supported: {sorted(ROLES)}"
        )
    roles = ROLES[model_type]
    names = {n for n, _ in _base(model).named_modules()}
    wanted = [roles.layers, roles.embeddings, *roles.head]
    missing = [w for w in wanted if w not in names]
    leaves = [*roles.attention, *roles.ffn]
    missing += [leaf for leaf in leaves if not any(n.endswith("." + leaf) for n in names)]
    if missing:
        raise UnsupportedModel(f"{model_type} model lacks the modules tuneoff expects: {missing}")
    return roles
