"""Fine-tuning strategies: a registry of name -> options class. Adding one is a class and a line below.

The training loop never asks which strategy it runs: it calls the hooks of
:class:`~tuneoff.strategies.base.Strategy` on every one.
"""

from __future__ import annotations

from tuneoff.strategies.base import Setup, Strategy, folder_bytes, load_checkpoint, setup_for
from tuneoff.strategies.peft_family import IA3, AdaLora, LnTuning, Lora, LoraPlus, Prompt, PTuning, Vera
from tuneoff.strategies.regularisers import Distill, RDrop
from tuneoff.strategies.schedules import Llrd, Reinit, Unfreeze
from tuneoff.strategies.subsets import BitFit, Freeze, Full, Head

STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    STRATEGIES[cls.model_fields["name"].default] = cls
    return cls


for _cls in (Full, Head, BitFit, Freeze, LnTuning, Llrd, Reinit, Unfreeze, RDrop, Distill,
             Lora, LoraPlus, AdaLora, IA3, Vera, Prompt, PTuning):
    register(_cls)

__all__ = ["STRATEGIES", "Setup", "Strategy", "folder_bytes", "load_checkpoint", "register", "setup_for", *[c.__name__ for c in STRATEGIES.values()]]
