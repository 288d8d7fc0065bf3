"""Which keys a config may write at a place in its tree, for "did you mean" on an unknown key.

``known_keys(raw, ("players", 0, "strategy", "rr"))`` walks the Config model along the location, choosing a
registry entry (a strategy, model kind or data set) by the name the raw TOML gives it, and returns the keys
allowed beside the last part. No torch (the registries import it only inside their methods).
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from tuneoff.data import DATASETS, DatasetSpec
from tuneoff.models.sources import SOURCES, ModelSource
from tuneoff.plan.config import Player, Protocol
from tuneoff.strategies import STRATEGIES, Strategy

# a field typed by a registry's base class: the entry is named by this key of its table (default when absent)
REGISTRY_FIELDS = {
    Strategy: (STRATEGIES, "name", None),
    ModelSource: (SOURCES, "kind", None),
    DatasetSpec: (DATASETS, "name", "sst5"),
}


def _unwrapped(annotation: Any) -> Any:
    """Annotated, Optional and SerializeAsAny taken off."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated or getattr(origin, "__name__", "") == "SerializeAsAny":
        return _unwrapped(args[0])
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _unwrapped(inner[0]) if len(inner) == 1 else None
    return annotation


def _element(annotation: Any) -> Any:
    """What a tuple[X, ...] or dict[str, X] field holds (its next part is an index or a key); None otherwise."""
    bare = _unwrapped(annotation)
    origin, args = get_origin(bare), get_args(bare)
    if origin is tuple and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _model(annotation: Any, node: Any) -> type[BaseModel] | None:
    cls = _unwrapped(annotation)
    for base, (registry, key, default) in REGISTRY_FIELDS.items():
        if isinstance(cls, type) and issubclass(cls, base):
            name = node.get(key, default) if isinstance(node, dict) else None
            return registry.get(name) if isinstance(name, str) else None
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, list) and isinstance(part, int):
        return node[part] if 0 <= part < len(node) else None
    return node.get(part) if isinstance(node, dict) else None


def known_keys(raw: dict, loc: tuple, root: type[BaseModel]) -> list[str]:
    """The keys ``root`` allows at ``loc[:-1]`` (empty when the place cannot be told)."""
    cls: type[BaseModel] | None = root
    node: Any = raw
    pending: Any = None
    for part in loc[:-1]:
        node = _child(node, part)
        if pending is not None:  # this part indexes a tuple or keys a dict
            cls, pending = _model(pending, node), None
            continue
        if cls is None or part not in cls.model_fields:
            return []
        annotation = Protocol if (cls is Player and part == "protocol") else cls.model_fields[part].annotation
        if (pending := _element(annotation)) is None:
            cls = _model(annotation, node)
    return list(cls.model_fields) if cls is not None and pending is None else []
