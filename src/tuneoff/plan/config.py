"""Tournament config: frozen, validated data loaded from TOML; unknown keys are errors.

A tournament file has a ``[tournament]`` block (rules), one shared ``[protocol]``
(every player trains under it), a ``[data]`` block and ``[[players]]``. A player
may override only the protocol keys that ``tournament.overridable`` lists.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SerializeAsAny,
    field_validator,
    model_validator,
)

from tuneoff.data import DATASETS, DatasetSpec
from tuneoff.models.sources import SOURCES, ModelSource
from tuneoff.options import NAME_PATTERN, IntTuple, Options, StrTuple, _list_to_tuple
from tuneoff.plan.budget import Tuning, check_tuning, distinct_seeds, sweep_for
from tuneoff.plan.grid import spread
from tuneoff.strategies import STRATEGIES, Strategy


class ConfigError(ValueError):
    """A config that cannot run; the message names the file, line and key."""


class Protocol(Options):
    """What every player shares. Units are in the names or descriptions."""

    epochs: int = Field(3, ge=1, le=1000, description="passes over the training split")
    learning_rate: float = Field(1e-4, gt=0, le=1.0, description="peak AdamW learning rate")
    batch_size: int = Field(32, ge=1, le=8192, description="training sentences per step")
    eval_batch_size: int = Field(128, ge=1, le=65536, description="sentences per evaluation batch")
    max_seq_len: int = Field(128, ge=8, le=4096, description="tokens, [CLS] and [SEP] included")
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="share of steps with linear warm-up")
    weight_decay: float = Field(0.01, ge=0.0, le=1.0, description="AdamW decoupled decay (not on biases, norms)")
    max_grad_norm: float = Field(1.0, ge=0.0, description="gradient clipping; 0 disables")
    seed: int = Field(
        42, ge=0, description="seeds weights of new layers, dropout and batch order (tournament.seeds runs several)"
    )
    data_seed: int | None = Field(None, ge=0, description="seeds batch order alone; unset = the seed's")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    threads: int = Field(0, ge=0, le=1024, description="torch intra-op threads; 0 keeps torch's default")
    precision: Literal["fp32", "tf32", "bf16"] = Field(
        "fp32", description="bf16 = autocast on the forward pass; tf32 = TF32 matmuls on CUDA (fp32 elsewhere)"
    )
    compile: bool = Field(False, description="torch.compile the model (opt-in; compile time counts as training time)")
    static_shapes: int | None = Field(
        None,
        ge=0,
        le=512,
        description="pad every batch up to a multiple of this many tokens, so few shapes recur "
        "(fewer kernel choices, the way to captured steps on a GPU); 0 = pad to the batch's longest sentence; "
        "unset = 16 where steps are captured, else 0",
    )
    cuda_graphs: bool | None = Field(
        None,
        description="on CUDA, capture each batch shape's whole training step once and replay it (needs "
        "static_shapes); elsewhere, or for a strategy that acts between steps, the eager step runs and the result "
        "says why. unset = on for CUDA (measured equivalent and 3-7x faster on an H200), off elsewhere",
    )
    bucket_batches: int = Field(
        20, ge=1, le=10000, description="sort lengths within chunks of this many batches (1 = random order)"
    )

    @model_validator(mode="after")
    def _captured_steps_need_static_shapes(self):
        if self.cuda_graphs and self.static_shapes == 0:
            raise ValueError("cuda_graphs = true needs static_shapes > 0 (e.g. 16), so that few batch shapes recur")
        if self.cuda_graphs and self.compile:
            raise ValueError("cuda_graphs and compile are two ways to the same end: choose one")
        return self

    def on(self, device_type: str) -> Protocol:
        """This protocol with the device-dependent defaults settled: captured steps (static shapes of
        16) on CUDA unless compile or an explicit setting says otherwise; eager, unpadded elsewhere."""
        graphs = self.cuda_graphs
        if graphs is None:
            graphs = device_type == "cuda" and not self.compile
        shapes = self.static_shapes if self.static_shapes is not None else (16 if graphs else 0)
        return self.model_copy(update={"cuda_graphs": graphs, "static_shapes": shapes})


class Tournament(Options):
    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="also the default run folder, runs/<name>")
    description: str = ""
    fastest_bonus: float = Field(10.0, ge=0.0, description="points for the fastest non-collapsed player")
    speed_metric: Literal["train_seconds", "samples_per_second"] = "train_seconds"
    equivalence_margin: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="points of accuracy: with a margin, the board also says which pairs are "
        "equivalent within it (two one-sided t tests, alpha 0.05); 0 = no equivalence claims",
    )
    overridable: StrTuple = Field((), description="protocol keys a player may override")
    seeds: IntTuple = Field(
        (), description="run every player once per seed (sets protocol.seed); empty = protocol.seed"
    )
    data_seeds: IntTuple = Field((), description="also vary batch order alone: every seed runs with each of these")

    @field_validator("seeds", "data_seeds")
    @classmethod
    def _distinct(cls, seeds):
        return distinct_seeds(seeds)

    @field_validator("overridable")
    @classmethod
    def _known(cls, keys):
        bad = [k for k in keys if k not in Protocol.model_fields or k in ("seed", "data_seed")]
        if bad:
            choices = sorted(set(Protocol.model_fields) - {"seed", "data_seed"})
            raise ValueError(f"unknown protocol keys {bad}; choices: {choices} (seeds are the tournament's)")
        return keys


def _dataset(value: Any):
    """A [data] table: a registered data set by name (default sst5) with its own options."""
    if isinstance(value, dict) and "name" not in value:
        value = {"name": "sst5", **value}
    return _registry_entry(value, DATASETS, "name", "dataset")


class EvalSet(Options):
    """An extra test set, scored once at the end with the kept checkpoint, never used to choose anything."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    dataset: SerializeAsAny[DatasetSpec]
    label_map: dict[str, str] = Field(
        default_factory=dict,
        description="the player's label -> this set's label; predictions of unmapped labels count as wrong",
    )
    max_test: int = Field(
        0,
        ge=0,
        description="score a fixed random N of its test sentences (seed 0; 0 = all): "
        "quick runs score less; the board's verdict on the set needs enough of them",
    )

    @field_validator("dataset", mode="before")
    @classmethod
    def _spec(cls, v):
        spec = _dataset(v)
        sampled = [f"{k} = {getattr(spec, k)}" for k in ("max_train", "max_eval") if getattr(spec, k)]
        if sampled:
            raise ValueError(
                f"{', '.join(sampled)}: an [[eval]] set is always scored whole, or a "
                "sample of max_test of its test sentences; max_train and max_eval belong in [data]"
            )
        return spec


def _registry_entry(value: Any, registry, key: str, what: str):
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict) or key not in value:
        raise ValueError(f"{what} needs a table with '{key}' (one of {sorted(registry)})")
    return registry.lookup(value[key]).model_validate(value)


class Player(Options):
    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="also the folder name of its results")
    description: str = ""
    model: SerializeAsAny[ModelSource]
    strategy: SerializeAsAny[Strategy]
    protocol: dict[str, Any] = Field(default_factory=dict, description="overrides of the shared protocol")

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, v):
        return _registry_entry(v, SOURCES, "kind", "model kind")

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, v):
        return _registry_entry(v, STRATEGIES, "name", "strategy")

    @field_validator("protocol")
    @classmethod
    def _protocol_values(cls, v):
        Protocol.model_validate({**Protocol().model_dump(), **v})  # keys and types; errors keep their key
        return v


class Config(Options):
    tournament: Tournament
    protocol: Protocol = Protocol()
    data: SerializeAsAny[DatasetSpec] = Field(default_factory=lambda: DATASETS["sst5"].model_validate({}))
    eval: Annotated[tuple[EvalSet, ...], BeforeValidator(_list_to_tuple)] = ()
    tuning: Tuning | None = None
    track: StrTuple = Field(
        (),
        description="experiment trackers every job is logged to live and exported to, as "
        "run --track: mlflow, tensorboard, trackio (checked when the run starts)",
    )
    players: Annotated[tuple[Player, ...], BeforeValidator(_list_to_tuple)] = Field(min_length=1)

    def tuned(self) -> Tuning:
        """The [tuning] table, for what only a tuned config plans (trials, a soup's ingredients)."""
        if self.tuning is None:
            raise ConfigError("this config has no [tuning] table")
        return self.tuning

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, v):
        return _dataset(v)

    @model_validator(mode="after")
    def _players(self):
        names = [p.name for p in self.players]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"player names must be unique; repeated: {dupes}")
        folded = [n.casefold() for n in names]
        if clash := next(((i, folded.index(f)) for i, f in enumerate(folded) if f in folded[:i]), None):
            raise ValueError(
                f"players.{clash[0]}.name {names[clash[0]]!r} and players.{clash[1]}.name "
                f"{names[clash[1]]!r} differ only in case: they would share one folder on macOS and "
                "Windows; rename one"
            )
        for p in self.players:
            bad = sorted(set(p.protocol) - set(self.tournament.overridable))
            if bad:
                raise ValueError(
                    f"player {p.name!r} overrides {bad}, which tournament.overridable "
                    f"does not allow (allowed: {list(self.tournament.overridable)})"
                )
            self.protocol_for(p)  # validates the override values
        teacher_order(self.players)
        names = [e.name for e in self.eval]
        if len(set(names)) != len(names):
            raise ValueError(f"[[eval]] names must be unique (got {names})")
        if self.tuning:
            check_tuning(self.tuning, self.players, self.tournament.overridable)
            self._sweep_seeds()
        elif soups := [p.name for p in self.players if type(p.strategy).in_job_sweep]:
            raise ValueError(
                f"players {soups} train their own sweep (soup): they need a [tuning] table, whose "
                "budget sets how many models each final seed trains"
            )
        if bad := [t for t in self.track if not re.fullmatch(NAME_PATTERN, t)]:
            raise ValueError(f'track: {bad[0]!r} is not a tracker\'s name (e.g. track = ["mlflow", "tensorboard"])')
        return self

    def _sweep_seeds(self) -> None:
        """A student's trials learn from its teacher's finals at each tuning seed: they must exist; a soup must
        afford at least 2 ingredients per final seed."""
        finals = seed_pairs(self)
        for p in self.players:
            missing = [s for s in tuning_seeds(self) if (s, None) not in finals]
            if p.strategy.teacher_name() is not None and missing:
                raise ValueError(
                    f"player {p.name!r}: its trials learn from {p.strategy.teacher_name()!r}'s final "
                    f"jobs, which run seeds {[s for s, _ in finals]}, not tuning seeds {missing}: give "
                    "tuning.seeds among the tournament's seeds (and no data_seeds)"
                )
            if type(p.strategy).in_job_sweep and len(ingredients(self, p)) < 2:
                raise ValueError(
                    f"player {p.name!r}: a soup of {len(seed_pairs(self))} final seeds affords fewer than "
                    "2 models per seed under this budget; raise tuning.trials or use fewer seeds"
                )

    def protocol_for(self, player: Player) -> Protocol:
        return Protocol.model_validate({**self.protocol.model_dump(), **player.protocol})


def teacher_order(players) -> list[str]:
    """Player names with every teacher before its students; unknown teachers and cycles are errors."""
    teachers = {p.name: p.strategy.teacher_name() for p in players}
    for name, teacher in teachers.items():
        if teacher is not None and teacher not in teachers:
            raise ValueError(f"player {name!r}: teacher {teacher!r} is not a player; players: {list(teachers)}")
    order: list[str] = []
    for name in teachers:
        chain: list[str] = []
        while name is not None and name not in order:
            if name in chain:
                raise ValueError(f"teachers form a cycle: {' -> '.join(chain[chain.index(name) :] + [name])}")
            chain.append(name)
            name = teachers[name]
        order += [n for n in reversed(chain) if n not in order]
    return order


def tuning_seeds(config: Config) -> tuple[int, ...]:
    """The tuning seeds: tuning.seeds, else the tournament's first two (its one seed s: s and s + 1)."""
    if config.tuning is None:
        return ()
    if config.tuning.seeds:
        return config.tuning.seeds
    finals = list(dict.fromkeys(s for s, _ in seed_pairs(config)))
    return tuple(finals[:2]) if len(finals) >= 2 else (finals[0], finals[0] + 1)


def ingredients(config: Config, player: Player) -> tuple[float, ...]:
    """The rates a soup (a strategy with ``in_job_sweep``) trains at each final seed: k of them, spread over its
    rate axis's range, k the most that keeps its compute within a tuned player's (see ``plan.grid``)."""
    tuning, final = config.tuned(), config.protocol_for(player).epochs
    finals, trial = len(seed_pairs(config)), tuning.epochs or final
    k = (len(tuning_seeds(config)) * tuning.size * trial + finals * final) // (finals * final)
    rates = sweep_for(tuning, player).axes[0].values  # the rate axis's range, whatever its number of points
    return spread(min(rates), max(rates), k) if k >= 2 else (rates[len(rates) // 2],)


def seed_pairs(config: Config) -> list[tuple[int, int | None]]:
    """(seed, data_seed) of every job a player runs, in order."""
    seeds = config.tournament.seeds or (config.protocol.seed,)
    data_seeds = config.tournament.data_seeds or (config.protocol.data_seed,)
    return [(s, d) for s in seeds for d in data_seeds]
