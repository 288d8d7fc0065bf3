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
from tuneoff.options import NAME_PATTERN, FloatTuple, IntTuple, Options, StrTuple, _list_to_tuple
from tuneoff.plan.grid import log_grid
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
    seed: int = Field(42, ge=0, description="seeds weights of new layers, dropout and batch order (tournament.seeds "
                      "runs several)")
    data_seed: int | None = Field(None, ge=0, description="seeds batch order alone; unset = the seed's")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    threads: int = Field(0, ge=0, le=1024, description="torch intra-op threads; 0 keeps torch's default")
    precision: Literal["fp32", "tf32", "bf16"] = Field(
        "fp32", description="bf16 = autocast on the forward pass; tf32 = TF32 matmuls on CUDA (fp32 elsewhere)"
    )
    compile: bool = Field(False, description="torch.compile the model (opt-in; compile time counts as training time)")
    static_shapes: int | None = Field(
        None, ge=0, le=512, description="pad every batch up to a multiple of this many tokens, so few shapes recur "
        "(fewer kernel choices, the way to captured steps on a GPU); 0 = pad to the batch's longest sentence; "
        "unset = 16 where steps are captured, else 0"
    )
    cuda_graphs: bool | None = Field(
        None, description="on CUDA, capture each batch shape's whole training step once and replay it (needs "
        "static_shapes); elsewhere, or for a strategy that acts between steps, the eager step runs and the result "
        "says why. unset = on for CUDA (measured equivalent and 3-7x faster on an H200), off elsewhere"
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
        0.0, ge=0.0, le=100.0, description="points of accuracy: with a margin, the board also says which pairs are "
        "equivalent within it (two one-sided t tests, alpha 0.05); 0 = no equivalence claims")
    overridable: StrTuple = Field((), description="protocol keys a player may override")
    seeds: IntTuple = Field((), description="run every player once per seed (sets protocol.seed); empty = protocol.seed")
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


def distinct_seeds(seeds: tuple[int, ...]) -> tuple[int, ...]:
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers >= 0 (got {list(seeds)})")
    return seeds


def _dataset(value: Any):
    """A [data] table: a registered data set by name (default sst5) with its own options."""
    if isinstance(value, dict) and "name" not in value:
        value = {"name": "sst5", **value}
    return _registry_entry(value, DATASETS, "name", "dataset")


class EvalSet(Options):
    """An extra test set, scored once at the end with the kept checkpoint, never used to choose anything."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    dataset: SerializeAsAny[DatasetSpec]
    label_map: dict[str, str] = Field(default_factory=dict, description="the player's label -> this set's label; "
                                      "predictions of unmapped labels count as wrong")
    max_test: int = Field(0, ge=0, description="score a fixed random N of its test sentences (seed 0; 0 = all): "
                          "quick runs score less; the board's verdict on the set needs enough of them")

    @field_validator("dataset", mode="before")
    @classmethod
    def _spec(cls, v):
        spec = _dataset(v)
        sampled = [f"{k} = {getattr(spec, k)}" for k in ("max_train", "max_eval") if getattr(spec, k)]
        if sampled:
            raise ValueError(f"{', '.join(sampled)}: an [[eval]] set is always scored whole, or a "
                             "sample of max_test of its test sentences; max_train and max_eval belong in [data]")
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


def _rates(rates: tuple[float, ...]) -> tuple[float, ...]:
    if any(not 0 < r <= 1 for r in rates) or len(set(rates)) != len(rates):
        raise ValueError(f"learning rates must be distinct and in (0, 1] (got {list(rates)})")
    return rates


class PlayerGrid(Options):
    """One player's own learning rates (as many as every other player tries)."""

    learning_rates: FloatTuple = Field(min_length=2, description="the rates this player tries")

    @field_validator("learning_rates")
    @classmethod
    def _distinct(cls, rates):
        return _rates(rates)


class Tuning(Options):
    """A fair tuning budget: every player tries the same number of learning rates, log-spaced around its own
    strategy's published rate, each trial with the finals' epochs and schedule on train and dev only (the
    test split is never read); it keeps the best on dev accuracy, then runs its seeds at that rate."""

    points: int = Field(5, ge=3, le=15, description="rates per player (odd: the published rate is the middle one)")
    span: float = Field(3.0, gt=1.0, le=10.0, description="factor between neighbouring rates of the grid")
    learning_rates: FloatTuple | None = Field(
        None, min_length=2, description="one list every player tries instead of the grid around its published "
        "rate (the older form: the same rates, but not the same place relative to each strategy's optimum)")
    players: dict[str, PlayerGrid] = Field(default_factory=dict, description="a player's own learning rates, "
                                           "replacing its grid; as many as every other player tries")
    epochs: int | None = Field(None, ge=1, le=1000, description="epochs per trial; unset = the finals' epochs "
                               "(the fair setting: any other value changes the schedule, and the run warns)")
    seeds: IntTuple = Field((), description="seeds per trial; empty = the tournament's first seed")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds):
        return distinct_seeds(seeds)

    @field_validator("learning_rates")
    @classmethod
    def _shared(cls, rates):
        return rates if rates is None else _rates(rates)

    @field_validator("points")
    @classmethod
    def _odd(cls, points):
        if points % 2 == 0:
            raise ValueError(f"points must be odd, so that the published rate is the middle of the grid (got {points})")
        return points

    @model_validator(mode="after")
    def _one_grid_rule(self):
        both = sorted({"points", "span"} & self.model_fields_set)
        if self.learning_rates is not None and both:
            raise ValueError(f"tuning.learning_rates is one shared list; it cannot go with {both} (the grid around "
                             "each strategy's published rate): choose one")
        return self

    @property
    def size(self) -> int:
        """How many rates every player tries."""
        return len(self.learning_rates) if self.learning_rates is not None else self.points


class Config(Options):
    tournament: Tournament
    protocol: Protocol = Protocol()
    data: SerializeAsAny[DatasetSpec] = Field(default_factory=lambda: DATASETS["sst5"]())
    eval: Annotated[tuple[EvalSet, ...], BeforeValidator(_list_to_tuple)] = ()
    tuning: Tuning | None = None
    track: StrTuple = Field((), description="experiment trackers every job is logged to live and exported to, as "
                            "run --track: mlflow, tensorboard, trackio (checked when the run starts)")
    players: Annotated[tuple[Player, ...], BeforeValidator(_list_to_tuple)] = Field(min_length=1)

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
        if bad := [t for t in self.track if not re.fullmatch(NAME_PATTERN, t)]:
            raise ValueError(f"track: {bad[0]!r} is not a tracker's name (e.g. track = [\"mlflow\", \"tensorboard\"])")
        return self

    def protocol_for(self, player: Player) -> Protocol:
        return Protocol.model_validate({**self.protocol.model_dump(), **player.protocol})


def check_tuning(tuning: Tuning, players, overridable) -> None:
    """Every player's grid: its own list names a player and is as long as the others'; no rate above 1."""
    if "learning_rate" in overridable:
        raise ValueError("[tuning] chooses each player's learning rate; remove learning_rate from overridable")
    names = [p.name for p in players]
    for name, own in tuning.players.items():
        if name not in names:
            raise ValueError(f"tuning.players.{name}: no such player; players: {names}")
        if len(own.learning_rates) != tuning.size:
            raise ValueError(f"tuning.players.{name}.learning_rates has {len(own.learning_rates)} rates; every "
                             f"player tries {tuning.size} (the same number of trials for all)")
    for p in players:
        high = max(grid_for(tuning, p))
        if high > 1:
            raise ValueError(f"player {p.name!r}: its tuning grid reaches {high:g} ({grid_source(tuning, p)}), "
                             "above the limit of 1; lower tuning.span or tuning.points, or give it "
                             f"tuning.players.{p.name}.learning_rates")


def grid_for(tuning: Tuning, player: Player) -> tuple[float, ...]:
    """The learning rates ``player`` tries: its own list, else the shared list, else the rule around its
    strategy's published rate."""
    own = tuning.players.get(player.name)
    if own is not None:
        return tuple(sorted(own.learning_rates))
    if tuning.learning_rates is not None:
        return tuple(sorted(tuning.learning_rates))
    return log_grid(type(player.strategy).default_lr, tuning.points, tuning.span)


def grid_source(tuning: Tuning, player: Player) -> str:
    """Where a player's grid came from, in words (for the run's log and the report)."""
    if player.name in tuning.players:
        return f"its own list (tuning.players.{player.name}.learning_rates)"
    if tuning.learning_rates is not None:
        return "the shared list (tuning.learning_rates)"
    return (f"{tuning.points} rates x{tuning.span:g} apart around {player.strategy.name}'s published "
            f"{type(player.strategy).default_lr:g}")


def teacher_order(players) -> list[str]:
    """Player names with every teacher before its students; unknown teachers and cycles are errors."""
    teachers = {p.name: p.strategy.teacher_name() for p in players}
    for name, teacher in teachers.items():
        if teacher is not None and teacher not in teachers:
            raise ValueError(f"player {name!r}: teacher {teacher!r} is not a player; players: {list(teachers)}")
    order: list[str] = []
    for name in teachers:
        chain = []
        while name is not None and name not in order:
            if name in chain:
                raise ValueError(f"teachers form a cycle: {' -> '.join(chain[chain.index(name):] + [name])}")
            chain.append(name)
            name = teachers[name]
        order += [n for n in reversed(chain) if n not in order]
    return order


def tuning_seeds(config: Config) -> tuple[int, ...]:
    if config.tuning is None:
        return ()
    return config.tuning.seeds or (seed_pairs(config)[0][0],)


def seed_pairs(config: Config) -> list[tuple[int, int | None]]:
    """(seed, data_seed) of every job a player runs, in order."""
    seeds = config.tournament.seeds or (config.protocol.seed,)
    data_seeds = config.tournament.data_seeds or (config.protocol.data_seed,)
    return [(s, d) for s in seeds for d in data_seeds]


