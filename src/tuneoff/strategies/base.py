"""What a strategy is: options, ``apply``, and the hooks the one training loop calls on every strategy.

``apply`` turns a freshly built model into what the loop trains (``requires_grad``,
adapters, re-initialised layers, a fitted probe head) and returns warnings worth shouting about. The loop
then calls the same hooks whatever the strategy: which parameters the optimizer owns
and at what learning rate and weight decay (``Rate``), the learning-rate schedule, the loss of a batch, what to
do before each epoch and after each step, how a step's gradients are computed and changed before the update,
and which weights are evaluated, kept and saved (``Evaluated``: the trained ones, or e.g. their running average).
Defaults are plain fine-tuning; a strategy overrides only what it changes. ``save`` writes a
checkpoint into the folders a ``store.checkpoint.Checkpoint`` names, which ``load_checkpoint`` (and so predict,
score, teachers and export) reads back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tuneoff.models.roles import Roles, roles_for
from tuneoff.options import Options
from tuneoff.registry import Registry
from tuneoff.store.checkpoint import Checkpoint
from tuneoff.strategies.promise import Trains


@dataclass
class Setup:
    """What a strategy may need besides the model, known before training starts."""

    pretrained: bool
    roles: Roles
    total_steps: int = 1
    steps_per_epoch: int = 1
    context: Any = None  # what the runner hands a strategy that learns from another player (a teacher's logits)
    # The training set as collated batches on the job's device, for a strategy that reads it before training
    # (Child-Tuning's Fisher information, LP-FT's probe); a fresh iterable each call, encoded only when asked. None:
    # not known.
    train_batches: Callable[[], Iterable[dict]] | None = None
    # What ``apply`` leaves for the strategy's later hooks, for this job only (Child-Tuning-D's gradient masks).
    state: dict = field(default_factory=dict)


def setup_for(model, pretrained: bool = True, total_steps: int = 1, context=None) -> Setup:
    """A Setup for a model outside a tournament (tests, benchmarks)."""
    return Setup(pretrained, roles_for(model), total_steps, total_steps, context)


HOOK_BLOCKERS = {  # why a strategy that overrides the hook cannot have its steps captured in a graph
    "loss": "computes its loss from more than the batch (captured replays see only the batch)",
    "optimizer": "brings its own optimizer (a captured step needs the loop's capturable AdamW)",
    "before_epoch": "changes what trains between epochs (captured steps would keep the old set)",
    "after_step": "acts on the model between steps, outside the captured step",
    "backward": "computes its gradients in more than one pass, moving the weights between them (only the eager "
    "step runs that)",
}


@dataclass(frozen=True)
class Rate:
    """How the optimizer treats one parameter where it is not the default: its learning rate is ``scale`` times the
    protocol's, or ``lr`` itself when given (a fresh head's own rate, beside a prompt's); ``decay`` False keeps it out
    of weight decay (IA3's scaling vectors, whose identity is 1, not 0), None leaves the loop's rule (no decay on
    biases and norms). The schedule's factor applies to every rate alike."""

    scale: float = 1.0
    lr: float | None = None
    decay: bool | None = None


@dataclass(frozen=True)
class Knob:
    """A strategy's main hyper-parameter besides the learning rate, as its paper(s) tuned it: the option's field
    name, the values the papers tried (the fair sweep crosses them with the rates), and where they come from."""

    field: str
    values: tuple
    source: str = ""


@dataclass(frozen=True)
class SecondRate:
    """A second learning rate a strategy needs (a fresh head beside a prompt): the option's field name holding it
    and the published rate its sweep grid is centred on (log-spaced like the main rate's)."""

    field: str
    centre: float
    source: str = ""


class Evaluated:
    """The weights the loop scores on dev each epoch, keeps as the best epoch's, then tests and saves, for one
    run: by default the trained weights as they are. A strategy that evaluates something made from them (their
    average, an interpolation with the pretrained weights) returns its own from ``Strategy.evaluated``. Its
    methods only read the weights and copy into them in place (no tensor is replaced), outside the step, so
    they are no reason to refuse captured steps."""

    def after_step(self, step: int) -> None:
        """After each optimizer step and the strategy's own after_step (1-based, counted over the whole run)."""

    def keepable(self) -> bool:
        """Whether the weights evaluated now may be kept as the best epoch's (SWA: only once its average exists;
        an epoch scored before that is recorded but never kept)."""
        return True

    @contextmanager
    def swapped_in(self):
        """For the block, the model holds the weights to evaluate; after it, the trained ones again."""
        yield

    def after_training(self, score_dev) -> dict:
        """Once the best epoch's weights are back in the model, it may change them for good; ``score_dev()`` is
        the dev accuracy of the model as it is. Returns what the result records as ``strategy_report``."""
        return {}


STRATEGIES: Registry[Strategy] = Registry("strategy", "name", "tuneoff.strategies")


class Strategy(Options):
    name: str
    # A small example of this strategy's options (they must validate): tests build every registered
    # strategy from it, and check it against what it declares (``trains``, ``capturable``), so adding a strategy
    # edits no test table.
    example: ClassVar[dict] = {}
    # What it trains once applied, in the role table's words (strategies.promise): every weight by default.
    trains: ClassVar[Trains] = Trains()
    # Whether its steps can run captured in a CUDA graph (protocol.cuda_graphs): ``capture_blocker`` must agree, so
    # a strategy that overrides a hook the captured step cannot run declares False (or lists a hook that is safe
    # in ``graph_safe_hooks``).
    capturable: ClassVar[bool] = True
    # The learning rate the strategy's paper or its reference code recommends for BERT-sized models; the
    # tuning sweep's grid is log-spaced around it (see the fair tuning budget), the same length for all.
    default_lr: ClassVar[float] = 5e-5
    # The main knob besides the rate (Mixout p, SAM rho, ...) with its papers' values; None: the rate is the only
    # knob, so the sweep gives this strategy more rate points for the same number of trials.
    knob: ClassVar[Knob | None] = None
    # A second learning rate (prompt and head, probe and fine-tune); None for most strategies.
    second_rate: ClassVar[SecondRate | None] = None
    # True for a strategy whose final job trains its own sweep's points and combines the models (soup): it runs no
    # tuning trials, and the planner hands each final job its ingredients' rates (plan.config.ingredients).
    in_job_sweep: ClassVar[bool] = False
    # Where this strategy knowingly differs from its paper's method, and why; `tuneoff list strategies` shows it.
    deviation: ClassVar[str] = ""
    # Forward and backward passes one training step costs (SAM: two); recorded with the step's path.
    passes_per_step: ClassVar[int] = 1
    # Overridden hooks that still run inside one step from the batch alone, so can be captured.
    graph_safe_hooks: ClassVar[tuple[str, ...]] = ()

    # --- before training ------------------------------------------------------------------------

    def apply(self, model, setup: Setup) -> tuple[Any, list[str]]:  # pragma: no cover - interface
        raise NotImplementedError

    def check(self, model, protocol=None) -> list[str]:
        """Problems with these options for this model (built on the meta device) and the job's protocol, where
        given, found before training."""
        try:
            roles_for(model)
        except ValueError as err:
            return [str(err)]
        return []

    def teacher_name(self) -> str | None:
        """The player this strategy learns from, which must finish first; None for most strategies."""
        return None

    def capture_blocker(self) -> str | None:
        """Why this strategy's training steps cannot be captured (protocol.cuda_graphs); None if they can."""
        for hook, why in HOOK_BLOCKERS.items():
            if hook not in self.graph_safe_hooks and getattr(type(self), hook) is not getattr(Strategy, hook):
                return why
        return None

    # --- the loop's hooks -----------------------------------------------------------------------

    def parameters(self, model, setup: Setup) -> list[tuple[str, Any, float | Rate]]:
        """(name, parameter, rate) of everything the optimizer updates: the rate a scale of the protocol's learning
        rate, or a ``Rate`` (an absolute rate, no weight decay)."""
        return [(n, q, 1.0) for n, q in model.named_parameters() if q.requires_grad]

    def optimizer(self, model, lr: float, weight_decay: float):
        """A ready optimizer when the strategy brings its own (LoRA+); None for the loop's AdamW."""
        return None

    def loss(self, net, batch: dict, index, setup: Setup):
        """The training loss of one batch (``index``: the batch's positions in the training set)."""
        return net(**batch).loss

    def schedule(self, optimizer, warmup: int, total: int):
        """The learning-rate schedule over the run's ``total`` optimizer steps (a torch LRScheduler, or an object
        with its ``step``, ``get_last_lr`` and ``base_lrs``), stepped after every optimizer step; None for the loop's
        linear warm-up over ``warmup`` steps and linear decay to 0. It sets the rates outside the step, in place,
        so it is no reason to refuse captured steps."""
        return None

    def backward(self, forward_backward, params: list):
        """Leave in ``params`` the gradients the optimizer steps on, and return the batch's loss.
        ``forward_backward()`` runs one forward and backward pass at the current weights and returns its loss."""
        return forward_backward()

    def before_update(self, params: list, setup: Setup) -> None:
        """Inside the step, after gradient clipping and before the optimizer's update: may change the gradients of
        ``params`` in place (Child-Tuning's masks). It runs inside a captured step too, so it must stay on the
        device: tensor operations only, no host synchronisation."""

    def before_epoch(self, model, setup: Setup, epoch: int) -> None:
        """Called before each training epoch (1-based)."""

    def after_step(self, model, setup: Setup, step: int) -> None:
        """Called after each optimizer step (1-based, counted over the whole run)."""

    def evaluated(self, model, setup: Setup) -> Evaluated:
        """Called once, just before training: which weights the loop evaluates, keeps and saves (see Evaluated)."""
        return Evaluated()

    # --- checkpoints ----------------------------------------------------------------------------

    def save(self, model, tokenizer, checkpoint: Checkpoint) -> dict:
        """Write a checkpoint ``load_checkpoint`` reloads into the folders ``checkpoint`` names (its ``model``,
        ``adapter``, ``base``); return the result's record of it, ``checkpoint.record(...)``."""
        model.save_pretrained(checkpoint.model, safe_serialization=True)
        tokenizer.save_pretrained(checkpoint.model)
        return checkpoint.record(checkpoint.model, checkpoint.MERGED)


def freeze_all_but(model, roles: Roles, keep) -> None:
    """Only parameters for which ``keep(name)`` holds, and the head, train."""
    head = tuple(f"{h}." for h in roles.head)
    for name, q in model.named_parameters():
        q.requires_grad_(bool(keep(name)) or name.startswith(head))


def head_is_trained(model, roles: Roles) -> list[str]:
    """Names of head parameters that would stay frozen (must be none: the head is freshly initialised)."""
    return [
        n
        for n, q in model.named_parameters()
        if any(f"{h}." in f".{n}" for h in roles.head) and not q.requires_grad and "original_module" not in n
    ]


@contextmanager
def peft_norms_quiet():
    """PEFT probes each target module's in/out features and warns "Unsupported layer type ... proceed at your
    own risk" for a LayerNorm, which its own LN tuning targets (peft 0.21): a false alarm, silenced here only."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Unsupported layer type .*normalization\.LayerNorm", UserWarning)
        yield


def load_checkpoint(checkpoint: Checkpoint):
    """(tokenizer, model in eval mode) of a result's checkpoint (``JobFolder.checkpoint_of``), for inference: the
    merged model (plain transformers), a base + its PEFT adapter, or the model + its bottleneck adapters
    (tuneoff.models.bottleneck). The one loader: predict, score, teachers and export use it."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint.weights)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint.weights, use_safetensors=True)
    if checkpoint.format == checkpoint.BOTTLENECK:
        from tuneoff.models.bottleneck import restore

        model = restore(model, checkpoint.recorded_adapter())
    elif checkpoint.format == checkpoint.PEFT:
        from peft import PeftModel

        with peft_norms_quiet():
            model = PeftModel.from_pretrained(model, checkpoint.recorded_adapter())
    return tokenizer, model.eval()
