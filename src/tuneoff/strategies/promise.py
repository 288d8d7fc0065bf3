"""What a strategy promises to train, declared on its class (``Strategy.trains``) in the role table's words.

A declaration names no architecture's modules: it speaks of the roles ``models.roles`` gives every supported model
(the embeddings, the transformer layers and their ``query`` .. ``ffn_out`` projections and layer norms, a pretrained
pooler, the head), and of the options that size it (``k`` top layers). The tests read it, spell it out for each
architecture from their own hand-written description of that architecture, and compare it with what takes gradients,
and at what learning rate, once the strategy's ``apply`` has run on a real model (tests/test_strategy_roles.py): a
wrong declaration, or an ``apply`` that trains something else, turns them red. So adding a strategy edits no test
table: its class says what it trains. The declaration describes the strategy built from its ``example`` options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Where added tensors sit: a projection of every layer, "norms" (every layer norm: each layer's and those outside
# the layers, such as the embeddings'), "layer" (each transformer layer itself, beside its modules), or "input" (an
# encoder of virtual tokens before the input, as prompt methods have).
LINEAR_ROLES = ("query", "key", "value", "attention_out", "ffn_in", "ffn_out")
SITES = (*LINEAR_ROLES, "norms", "layer", "input")


@dataclass(frozen=True)
class Added:
    """Trained tensors a strategy adds to the model: the modules or tensors called ``tensors`` (as the library that
    adds them names them: PEFT's ``lora_A``, our bottleneck ``adapter_ffn``) at each of the ``at`` sites (``SITES``).
    ``decay`` False keeps them out of weight decay (``Rate(decay=False)``); None leaves the loop's rule."""

    tensors: tuple[str, ...]
    at: tuple[str, ...]
    decay: bool | None = None

    def __post_init__(self):
        unknown = [s for s in self.at if s not in SITES]
        if unknown or not self.tensors or not self.at:
            raise ValueError(f"Added(tensors={self.tensors}, at={self.at}): sites must be among {SITES}")


@dataclass(frozen=True)
class Trains:
    """Which parameters take gradients once ``apply`` has run, and at what rate. The head always trains (PEFT's
    trained copy of it, for a PEFT method). ``base``, the model's own weights besides the head:

    - ``every``: every weight;
    - ``none``: none (the head alone, or the head and what ``added`` names);
    - ``biases``: every bias term;
    - ``norms``: every layer norm (each layer's and those outside the layers);
    - ``top``: the top ``getattr(strategy, top)`` transformer layers, with the pretrained pooler above them where
      the model has one.

    ``depth_decay`` names the option holding a per-layer learning-rate factor: the head and pooler learn at the
    protocol's rate, each layer below at the factor times the one above, the embeddings a step below the bottom
    layer. ``head_rate`` names the option holding the head's own absolute learning rate. ``owns_every_weight``: the
    optimizer owns every weight from the start, for the strategy to open later (gradual unfreezing)."""

    base: Literal["every", "none", "biases", "norms", "top"] = "every"
    top: str = ""
    depth_decay: str = ""
    head_rate: str = ""
    added: tuple[Added, ...] = ()
    owns_every_weight: bool = False

    def __post_init__(self):
        if (self.base == "top") != bool(self.top):
            raise ValueError(
                f"Trains(base={self.base!r}, top={self.top!r}): base 'top' needs the option naming "
                "how many top layers train, and only it"
            )
