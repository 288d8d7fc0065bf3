"""The one base of every config table: strict, frozen, closed.

Strict means TOML's types are taken as written: ``"1e-4"`` is not a number,
``true`` is not an integer, ``"no"`` is not a boolean. Frozen means a loaded
config cannot drift while it runs. Closed means an unknown key is an error.
Model sources, strategies and the tournament tables all derive from it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

# Tournament and player names become folder names: letters, digits, '_', '.', '-',
# starting with a letter or digit (so never '.', '..', a hidden file or a path).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _list_to_tuple(value: Any) -> Any:
    """TOML arrays arrive as lists; strict mode would refuse them for a tuple field."""
    return tuple(value) if isinstance(value, list) else value


StrTuple = Annotated[tuple[str, ...], BeforeValidator(_list_to_tuple)]
IntTuple = Annotated[tuple[int, ...], BeforeValidator(_list_to_tuple)]
FloatTuple = Annotated[tuple[float, ...], BeforeValidator(_list_to_tuple)]
