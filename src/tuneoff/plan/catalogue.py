"""What a config can name, read from the code itself: ``tuneoff list strategies|datasets|models|configs``.

Each registry entry (strategies, data sets, model sources; plugins included) is listed with its
options as its pydantic model declares them: type, default, range and description; each shipped
config with its ``[tournament] description``. Nothing here is written by hand, so the list cannot
drift from the code. No torch (the registries import it only inside their methods).
"""

from __future__ import annotations

import json
import re
import tomllib
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from rich.table import Table

from tuneoff.console import esc
from tuneoff.data import DATASETS
from tuneoff.models.sources import SOURCES
from tuneoff.plan.loading import shipped_configs
from tuneoff.registry import Registry
from tuneoff.strategies import STRATEGIES

BOUNDS = (
    ("gt", ">"),
    ("ge", ">="),
    ("lt", "<"),
    ("le", "<="),
    ("min_length", "length >="),
    ("max_length", "length <="),
)


@dataclass(frozen=True)
class Option:
    name: str
    type: str
    default: str  # as TOML writes it; "required" when there is none
    description: str  # with the allowed range, where the field declares one


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    options: tuple[Option, ...] = ()


def type_name(annotation: Any) -> str:
    """A field's type as a reader writes it: int, float | None, 'gaussian' | 'pissa', tuple[str, ...]."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_name(args[0])
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def toml_value(value: Any) -> str:
    """A default as a config would write it: true, 16.0, "main", [0.25, 0.5]; None as 'unset'."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _range(field: FieldInfo) -> str:
    bounds = [f"{word} {getattr(m, key)}" for m in field.metadata for key, word in BOUNDS if hasattr(m, key)]
    return ", ".join(bounds)


def option(name: str, field: FieldInfo, tuned: str = "") -> Option:
    default = "required" if field.is_required() else toml_value(field.get_default(call_default_factory=True))
    description = "; ".join(p for p in (field.description or "", _range(field), tuned) if p)
    return Option(name, type_name(field.annotation), default, description)


def knob_note(cls, name: str) -> str:
    """For a strategy's knob (``Strategy.knob``): the values the tuning sweep picks from, and their source."""
    knob = getattr(cls, "knob", None)
    if knob is None or knob.field != name:
        return ""
    return f"the knob [tuning] crosses with the rate: {toml_value(list(knob.values))} ({knob.source})"


def first_sentence(doc: str | None) -> str:
    """A docstring's first sentence, on one line."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    for end in re.finditer(r"(?<=[.!?])\s+(?=[A-Z])", paragraph):
        before = paragraph[: end.start()]
        if before.count("(") == before.count(")") and not before.endswith(("e.g.", "i.e.")):
            return before
    return paragraph


def registry_entries(registry: Registry) -> list[Entry]:
    """Every entry of a registry, its options in declaration order (the key naming the entry left out)."""
    out = []
    for name, cls in sorted(registry.load_plugins().items()):
        options = tuple(option(k, f, knob_note(cls, k)) for k, f in cls.model_fields.items() if k != registry.key)
        deviation = getattr(cls, "deviation", "")  # a strategy's known difference from its paper
        description = first_sentence(cls.__doc__) + (f" Differs from the paper: {deviation}." if deviation else "")
        out.append(Entry(name, description, options))
    return out


def config_entries() -> list[Entry]:
    """The shipped configs (``tuneoff run NAME``) with their [tournament] description and players."""
    out = []
    for file, path in sorted(shipped_configs().items()):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        players = [p.get("name", "?") for p in raw.get("players", [])]
        described = raw.get("tournament", {}).get("description", "")
        out.append(Entry(file.removesuffix(".toml"), f"{described} ({len(players)} players: {', '.join(players)})"))
    return out


KINDS = {
    "strategies": lambda: registry_entries(STRATEGIES),
    "datasets": lambda: registry_entries(DATASETS),
    "models": lambda: registry_entries(SOURCES),
    "configs": config_entries,
}
HOW = {
    "strategies": "[players.strategy] name = ...",
    "datasets": "[data] name = ... (and [[eval]] dataset)",
    "models": "[players.model] kind = ...",
    "configs": "tuneoff run NAME",
}


def table(kind: str) -> Table:
    """One row per entry with its description, then one per option (configs have none: one row each)."""
    entries = KINDS[kind]()
    headers = ("name", "option", "type", "default") if any(e.options for e in entries) else ("name",)
    out = Table(title=f"{kind}: {esc(HOW[kind])}", title_justify="left")
    for header in headers:
        out.add_column(header, no_wrap=True)
    out.add_column("description")
    blank = [""] * (len(headers) - 1)
    for entry in entries:
        out.add_row(f"[bold]{esc(entry.name)}[/]", *blank, esc(entry.description), end_section=not entry.options)
        for i, o in enumerate(entry.options):
            out.add_row(
                "",
                esc(o.name),
                esc(o.type),
                esc(o.default),
                esc(o.description),
                end_section=i == len(entry.options) - 1,
            )
    return out
