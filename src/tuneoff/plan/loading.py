"""Loading a tournament config: TOML in, a validated Config out, every error naming file, line and key.

``--set key=value`` overrides are applied to the raw TOML tree before validation, and an
error in a value they wrote blames the ``--set``, not a line of the file. Paths written
in a config's data tables are relative to the config file's folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tuneoff.data import DATASETS
from tuneoff.plan.config import Config, ConfigError
from tuneoff.plan.keys import known_keys
from tuneoff.suggest import did_you_mean


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


def _format_errors(
    err: ValidationError, source: str, text: str | None, overrides: dict[tuple, str], raw: dict | None = None
) -> str:
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
            msg = "unknown key" + did_you_mean(str(loc[-1]), known_keys(raw or {}, loc, Config)) if loc else msg
        got = _got(e.get("input")) if e["type"] not in ("extra_forbidden", "missing") else ""
        origin = f"--set {item}" if (item := _blame(loc, overrides)) else f"{source}{f':{line}' if line else ''}"
        out.append(f"{origin}: {key}: {msg}{got}")
    return "\n".join(dict.fromkeys(out))


_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_+./:@-]*$")


class _Quoted(str):
    """A part of a --set key written in quotes (players."v1.5".strategy.r): one name, whatever dots it holds."""


def _key_parts(item: str, key: str) -> list[str]:
    """A --set key split at its dots, as TOML's dotted keys are: a quoted part ("v1.5" or 'v1.5') is one part."""
    parts: list[str] = []
    rest = key.strip()
    while True:
        if rest[:1] in ("'", '"'):
            end = rest.find(rest[0], 1)
            if end < 0:
                raise ConfigError(f"--set {item!r}: a quote in the key is never closed")
            parts.append(_Quoted(rest[1:end]))
            rest = rest[end + 1 :].strip()
            if rest and not rest.startswith("."):
                raise ConfigError(
                    f"--set {item!r}: a quoted part of the key is followed by {rest[:1]!r}, not '.' or '='"
                )
            if not rest:
                return parts
            rest = rest[1:].strip()
        else:
            part, dot, rest = rest.partition(".")
            parts.append(part.strip())
            if not dot:
                return parts
            rest = rest.strip()


def parse_override(item: str) -> tuple[list[str], Any]:
    """'protocol.epochs=2' -> (['protocol', 'epochs'], 2).

    Values are TOML (2, 1e-4, true, 'text', [1, 2]); a bare word such as bf16 or
    org/model is taken as a string. Anything else that is not TOML is an error. Key parts may be
    quoted as in TOML (players."v1.5".strategy.r=4): a quoted part is taken whole.
    """
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. protocol.epochs=2")
    key, raw = _split_at_equals(item)
    path = _key_parts(item, key)
    if not all(part.strip() for part in path):
        raise ConfigError(
            f"--set {item!r}: {'no key before' if not key.strip() else 'an empty part in the key before'}"
            " '=', e.g. protocol.epochs=2"
        )
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as err:
        if not _BARE_WORD.match(raw.strip()):
            reason = str(err).split(" (at ")[0]
            raise ConfigError(
                f"--set {item!r}: the value {raw!r} is not a TOML value ({reason}); quote text: {key}='...'"
            ) from None
        value = raw.strip()
    return path, value


def _split_at_equals(item: str) -> tuple[str, str]:
    """key and value at the first '=' outside the key's quotes."""
    quote = None
    for i, char in enumerate(item):
        if quote:
            quote = None if char == quote else quote
        elif char in ("'", '"'):
            quote = char
        elif char == "=":
            return item[:i], item[i + 1 :]
    return item.split("=", 1)[0], item.split("=", 1)[1]


def _player(path: list[str], players: list) -> tuple[int, int]:
    """(index of the player a players.NAME.key... path names, how many parts its name took). A quoted name is
    taken whole; unquoted, the longest player name the next parts spell with their dots wins (players.v1.5.r:
    player 'v1.5' when there is one, else 'v1'); players."v1".5.r names 'v1' whatever other players exist."""
    names = [p.get("name") if isinstance(p, dict) else None for p in players]
    spans = [2] if isinstance(path[1], _Quoted) else range(len(path) - 1, 1, -1)
    for end in spans:
        name = ".".join(path[1:end])
        if name in names and all(not isinstance(part, _Quoted) for part in path[2:end]):
            return names.index(name), end - 1
    known = [n for n in names if n]
    raise ConfigError(f"--set {'.'.join(path)}: no player {path[1]!r}; players: {known}{did_you_mean(path[1], known)}")


def apply_override(raw: dict, path: list[str], value: Any) -> tuple:
    """Set a value in the raw TOML tree; players are addressed by name: players.host.protocol.epochs
    (a name with dots: the longest player name that fits, or quoted: players."v1.5".strategy.r).

    Returns where the value landed, as a validation location (players by index).
    """
    node = raw
    loc: tuple[str | int, ...] = tuple(path)
    if path[0] == "players" and len(path) > 2:
        players = raw.get("players", [])
        index, taken = _player(path, players if isinstance(players, list) else [])
        path = path[1 + taken :]
        node, loc = players[index], ("players", index, *path)
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {'.'.join(map(str, loc))}: {part!r} is not a table")
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
    if p.exists():  # a folder (or device) by that name is an error, never the shipped config of that name
        raise ConfigError(f"{path}: is {'a folder' if p.is_dir() else 'not a file'}; a config is a TOML file")
    shipped = shipped_configs()
    name = p.name if p.name.endswith(".toml") else p.name + ".toml"
    if p.parent == Path(".") and name in shipped:
        return shipped[name]
    raise ConfigError(
        f"{path}: no such file, nor a shipped config (shipped: {sorted(shipped)})"
        f"{did_you_mean(p.name.removesuffix('.toml'), [s.removesuffix('.toml') for s in shipped])}"
    )


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


def load_config(path: str | Path, overrides: Sequence[str] = (), tuning: bool = True) -> Config:
    """The config at ``path`` (or a shipped one's name) with its ``--set`` overrides applied, validated.
    ``tuning=False`` leaves its [tuning] table out: every player at the protocol's rate, the game's rule."""
    from tuneoff.data import decode_utf8

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
    if not tuning:
        raw.pop("tuning", None)
    blamed = {}
    for item in overrides:
        blamed[apply_override(raw, *parse_override(item))] = item
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, str(path), text, blamed, raw)) from None
