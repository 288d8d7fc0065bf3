"""Tournament config: frozen, validated data loaded from TOML; unknown keys are errors.

A tournament file has a ``[tournament]`` block (rules), one shared ``[protocol]``
(every player trains under it), a ``[data]`` block and ``[[players]]``. A player
may override only the protocol keys that ``tournament.overridable`` lists.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from .data import DATASETS, DatasetSpec
from .models import SOURCES, ModelSource
from .options import NAME_PATTERN, FloatTuple, IntTuple, Options, StrTuple, _list_to_tuple
from .strategies import STRATEGIES, Strategy


class ConfigError(ValueError):
    """A config that cannot run; the message names the file, line and key."""


# Strict, frozen and closed: a string is not a number, a bool is not an int, unknown keys fail.
Frozen = Options


class Protocol(Frozen):
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
    bucket_batches: int = Field(
        20, ge=1, le=10000, description="sort lengths within chunks of this many batches (1 = random order)"
    )


class Tournament(Frozen):
    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="also the default run folder, runs/<name>")
    description: str = ""
    fastest_bonus: float = Field(10.0, ge=0.0, description="points for the fastest non-collapsed player")
    speed_metric: Literal["train_seconds", "samples_per_second"] = "train_seconds"
    overridable: StrTuple = Field((), description="protocol keys a player may override")
    seeds: IntTuple = Field((), description="run every player once per seed (sets protocol.seed); empty = protocol.seed")
    data_seeds: IntTuple = Field((), description="also vary batch order alone: every seed runs with each of these")

    @field_validator("seeds", "data_seeds")
    @classmethod
    def _distinct(cls, seeds):
        if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct integers >= 0 (got {list(seeds)})")
        return seeds

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


class EvalSet(Frozen):
    """An extra test set, scored once at the end with the kept checkpoint, never used to choose anything."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    dataset: SerializeAsAny[DatasetSpec]
    label_map: dict[str, str] = Field(default_factory=dict, description="the player's label -> this set's label; "
                                      "predictions of unmapped labels count as wrong")

    @field_validator("dataset", mode="before")
    @classmethod
    def _spec(cls, v):
        return _dataset(v)


def _registry_entry(value: Any, registry: dict, key: str, what: str):
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict) or key not in value:
        raise ValueError(f"{what} needs a table with '{key}' (one of {sorted(registry)})")
    if value[key] not in registry:
        raise ValueError(f"unknown {what} {value[key]!r}; choices: {sorted(registry)}")
    return registry[value[key]].model_validate(value)


class Player(Frozen):
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


class Tuning(Frozen):
    """An equal tuning budget: every player tries the same learning rates, keeps the best on dev accuracy
    (the test split is never read), then runs its seeds at that rate."""

    learning_rates: FloatTuple = Field(min_length=2, description="the grid every player tries")
    epochs: int | None = Field(None, ge=1, le=1000, description="epochs per trial; unset = protocol.epochs")
    seeds: IntTuple = Field((), description="seeds per trial; empty = the tournament's first seed")

    @field_validator("learning_rates")
    @classmethod
    def _rates(cls, rates):
        if any(not 0 < r <= 1 for r in rates) or len(set(rates)) != len(rates):
            raise ValueError(f"learning rates must be distinct and in (0, 1] (got {list(rates)})")
        return rates


class Config(Frozen):
    tournament: Tournament
    protocol: Protocol = Protocol()
    data: SerializeAsAny[DatasetSpec] = Field(default_factory=lambda: DATASETS["sst5"]())
    eval: Annotated[tuple[EvalSet, ...], BeforeValidator(_list_to_tuple)] = ()
    tuning: Tuning | None = None
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
        if self.tuning and "learning_rate" in self.tournament.overridable:
            raise ValueError("[tuning] chooses each player's learning rate; remove learning_rate from overridable")
        return self

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


# ---------------------------------------------------------------- loading

def _key_lines(text: str) -> dict[tuple, int]:
    """Map (table path..., key) to the line it is written on, for error messages."""
    lines: dict[tuple, int] = {}
    table: tuple = ()
    arrays: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if m := re.match(r"^\[\[\s*([\w.-]+)\s*\]\]", stripped):
            name = m.group(1)
            arrays[name] = arrays.get(name, -1) + 1
            table = (*name.split("."), arrays[name])
            lines.setdefault(table, number)
        elif m := re.match(r"^\[\s*([\w.-]+)\s*\]", stripped):
            parts = m.group(1).split(".")
            if parts[0] in arrays:  # [players.strategy] belongs to the last [[players]]
                parts = [parts[0], arrays[parts[0]], *parts[1:]]
            table = tuple(parts)
            lines.setdefault(table, number)
        elif m := re.match(r"^([\w.-]+)\s*=", stripped):
            lines.setdefault((*table, *m.group(1).split(".")), number)
    return lines


def _blame(loc: tuple, overrides: dict[tuple, str]) -> str | None:
    """The --set item that wrote the value at ``loc`` (or a table around or inside it)."""
    for where, item in overrides.items():
        n = min(len(where), len(loc))
        if n and where[:n] == loc[:n]:
            return item
    return None


def _got(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return ""  # a whole table or array would bury the message
    text = repr(value)
    return f" (got {text if len(text) <= 80 else text[:77] + '...'})"


def _format_errors(err: ValidationError, source: str, text: str | None, overrides: dict[tuple, str]) -> str:
    where = _key_lines(text) if text else {}
    out = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        line = None
        for cut in range(len(loc), 0, -1):
            if loc[:cut] in where:
                line = where[loc[:cut]]
                break
        key = ".".join(str(x) for x in loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = _got(e.get("input")) if e["type"] not in ("extra_forbidden", "missing") else ""
        origin = f"--set {item}" if (item := _blame(loc, overrides)) else f"{source}{f':{line}' if line else ''}"
        out.append(f"{origin}: {key}: {msg}{got}")
    return "\n".join(dict.fromkeys(out))


_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_+./:@-]*$")


def parse_override(item: str) -> tuple[list[str], Any]:
    """'protocol.epochs=2' -> (['protocol', 'epochs'], 2).

    Values are TOML (2, 1e-4, true, 'text', [1, 2]); a bare word such as bf16 or
    org/model is taken as a string. Anything else that is not TOML is an error.
    """
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. protocol.epochs=2")
    key, raw = item.split("=", 1)
    path = key.strip().split(".")
    if not all(part.strip() for part in path):
        raise ConfigError(f"--set {item!r}: {'no key before' if not key.strip() else 'an empty part in the key before'}"
                          " '=', e.g. protocol.epochs=2")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as err:
        if not _BARE_WORD.match(raw.strip()):
            reason = str(err).split(" (at ")[0]
            raise ConfigError(f"--set {item!r}: the value {raw!r} is not a TOML value ({reason}); "
                              f"quote text: {key}='...'") from None
        value = raw.strip()
    return [part.strip() for part in path], value


def apply_override(raw: dict, path: list[str], value: Any) -> tuple:
    """Set a value in the raw TOML tree; players are addressed by name: players.host.protocol.epochs.

    Returns where the value landed, as a validation location (players by index).
    """
    node, loc = raw, tuple(path)
    if path[0] == "players" and len(path) > 2:
        players = raw.get("players", [])
        match = [i for i, p in enumerate(players) if isinstance(p, dict) and p.get("name") == path[1]]
        if not match:
            names = [p.get("name") for p in players if isinstance(p, dict)]
            raise ConfigError(f"--set {'.'.join(path)}: no player {path[1]!r}; players: {names}")
        node, loc, path = players[match[0]], ("players", match[0], *path[2:]), path[2:]
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {'.'.join(loc)}: {part!r} is not a table")
    node[path[-1]] = value
    return loc


def shipped_configs() -> dict[str, Path]:
    folder = resources.files("tuneoff") / "configs"
    return {p.name: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def resolve_path(path: str | Path) -> Path:
    """A path on disk, or the name of a shipped config ('offline' or 'offline.toml')."""
    p = Path(path)
    if p.is_file():
        return p
    shipped = shipped_configs()
    name = p.name if p.name.endswith(".toml") else p.name + ".toml"
    if p.parent == Path(".") and name in shipped:
        return shipped[name]
    raise ConfigError(f"{path}: no such file, nor a shipped config (shipped: {sorted(shipped)})")


def _relative_data_dir(raw: dict, folder: Path) -> None:
    """Paths written in a config file's data tables (data.dir, csv files) are relative to that file's folder."""
    tables = [raw.get("data")] + [e.get("dataset") for e in raw.get("eval", []) if isinstance(e, dict)]
    for table in tables:
        if not isinstance(table, dict):
            continue
        spec = DATASETS.get(table.get("name", "sst5"))
        for key in getattr(spec, "relative_paths", ()):
            if isinstance(table.get(key), str) and table[key]:
                table[key] = str((folder / Path(table[key]).expanduser()).resolve())


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    from .data import decode_utf8

    path = resolve_path(path)
    try:
        text = decode_utf8(path.read_bytes(), path, ConfigError)
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        reason = str(err)[: where.start()].strip() if where else str(err)
        line = f":{where.group(1)}: {reason} (column {where.group(2)})" if where else f": {reason}"
        raise ConfigError(f"{path}{line}: not valid TOML") from None
    _relative_data_dir(raw, path.parent)
    blamed = {}
    for item in overrides:
        blamed[apply_override(raw, *parse_override(item))] = item
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, str(path), text, blamed)) from None
