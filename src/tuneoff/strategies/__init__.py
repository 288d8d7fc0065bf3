"""Fine-tuning strategies: a registry of name -> options class. Adding one is a class with
``@STRATEGIES.register`` above it (in a module imported below, or in your own package through the
``tuneoff.strategies`` entry point: see :mod:`tuneoff.registry`).

The training loop never asks which strategy it runs: it calls the hooks of
:class:`~tuneoff.strategies.base.Strategy` on every one.
"""

from __future__ import annotations

from tuneoff.strategies.adapters import AdapterHoulsby, AdapterPfeiffer
from tuneoff.strategies.averaging import Ema, Sam, Swa, WiseFt
from tuneoff.strategies.base import STRATEGIES, Rate, Setup, Strategy, load_checkpoint, setup_for
from tuneoff.strategies.childtune import ChildTune, ChildTuneF
from tuneoff.strategies.peft_family import IA3, AdaLora, LnTuning, Lora, LoraPlus, Prompt, PTuning, Vera
from tuneoff.strategies.penalties import L2SP, R3F
from tuneoff.strategies.regularisers import Distill, RDrop
from tuneoff.strategies.robust import LabelSmoothing, Lpft, Mixout, NoisyTune
from tuneoff.strategies.schedules import Llrd, Reinit, Unfreeze
from tuneoff.strategies.soup import Soup
from tuneoff.strategies.subsets import BitFit, Freeze, Full, Head

__all__ = [
    "STRATEGIES",
    "Rate",
    "Setup",
    "Strategy",
    "load_checkpoint",
    "setup_for",
    "BitFit",
    "Distill",
    "Freeze",
    "Full",
    "Head",
    "IA3",
    "AdaLora",
    "LnTuning",
    "Llrd",
    "Lora",
    "LoraPlus",
    "PTuning",
    "Prompt",
    "RDrop",
    "Reinit",
    "Soup",
    "Unfreeze",
    "Vera",
    "ChildTune",
    "ChildTuneF",
    "LabelSmoothing",
    "Lpft",
    "Mixout",
    "NoisyTune",
    "Ema",
    "Sam",
    "Swa",
    "WiseFt",
    "AdapterHoulsby",
    "AdapterPfeiffer",
    "L2SP",
    "R3F",
]
