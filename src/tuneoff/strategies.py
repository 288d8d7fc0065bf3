"""Fine-tuning strategies: a registry of name -> options model with ``apply`` and ``save``.

``apply`` turns a freshly built model into the thing the loop trains (setting
``requires_grad``) and returns warnings worth shouting about; ``save`` writes a
checkpoint that ``transformers`` can reload on its own (``model/``) plus, where the
strategy has one, the small artifact it really trains (``adapter/``). The
training loop never asks which strategy it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from .models import DISTILBERT_TARGETS
from .options import Options, StrTuple

# DistilBERT's classification head: both layers are freshly initialised.
HEAD_MODULES = ("pre_classifier", "classifier")


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Strategy(Options):
    name: str

    def apply(self, model, pretrained: bool) -> tuple[object, list[str]]:  # pragma: no cover
        raise NotImplementedError

    def check(self, model) -> list[str]:
        """Problems with these options for this model (built on the meta device), found before training."""
        return []

    def save(self, model, tokenizer, folder: Path) -> int:
        """Write a reloadable checkpoint; return the size of what the strategy trained."""
        model.save_pretrained(folder / "model", safe_serialization=True)
        tokenizer.save_pretrained(folder / "model")
        return folder_bytes(folder / "model")


class Full(Strategy):
    """Every parameter trains."""

    name: Literal["full"] = "full"

    def apply(self, model, pretrained: bool):
        for p in model.parameters():
            p.requires_grad_(True)
        return model, []


class Lora(Strategy):
    """LoRA adapters via PEFT; both head layers train in full."""

    name: Literal["lora"] = "lora"
    r: int = Field(8, ge=1, le=1024, description="adapter rank")
    alpha: float = Field(16.0, gt=0, description="scaling numerator: updates scale by alpha / r")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on the adapter input")
    target_modules: StrTuple = Field(DISTILBERT_TARGETS, min_length=1)

    def check(self, model) -> list[str]:
        names = [n for n, _ in model.named_modules()]
        # PEFT's rule for a list of names: a module matches when its name is the target or ends in ".target".
        missing = [t for t in self.target_modules if not any(n == t or n.endswith("." + t) for n in names)]
        if not missing:
            return []
        weighted = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if list(m.parameters(recurse=False))})
        return [f"strategy.target_modules {missing} match no module of this model; its modules with weights: "
                f"{weighted}"]

    def apply(self, model, pretrained: bool):
        from peft import LoraConfig, TaskType, get_peft_model

        config = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            # PEFT's SEQ_CLS default keeps only `classifier` trainable, which would
            # leave DistilBERT's random `pre_classifier` frozen in the way.
            modules_to_save=list(HEAD_MODULES),
        )
        warnings = []
        if not pretrained:
            warnings.append(
                "LoRA over a RANDOMLY INITIALISED base: the frozen weights carry no knowledge, "
                "so only the low-rank adapters and the head can learn. Expect a collapse to the "
                "majority class; this reproduces the published player 2, it is not a fair test of LoRA."
            )
        return get_peft_model(model, config), warnings

    def save(self, model, tokenizer, folder: Path) -> int:
        model.save_pretrained(folder / "adapter", safe_serialization=True)
        # The merged model reloads without PEFT (and keeps a random base reproducible).
        merged = model.merge_and_unload()
        merged.save_pretrained(folder / "model", safe_serialization=True)
        tokenizer.save_pretrained(folder / "model")
        return folder_bytes(folder / "adapter")


STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    STRATEGIES[cls.model_fields["name"].default] = cls
    return cls


for _cls in (Full, Lora):
    register(_cls)
