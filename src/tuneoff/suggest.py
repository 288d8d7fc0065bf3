"""'Did you mean ...?' for a misspelt name (a player, config, data set, strategy, model kind or config key).

One rule everywhere: the closest choices by :func:`difflib.get_close_matches` (similarity 0.6 or more,
case-insensitive), at most three, appended to the error message that already lists the choices.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices closest to ``word`` (case ignored), best first; empty when none is close."""
    choices = [str(c) for c in choices]
    lowered: dict[str, str] = {}
    for choice in choices:
        lowered.setdefault(choice.lower(), choice)
    found = difflib.get_close_matches(str(word).lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[f] for f in found if lowered[f] != word]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean 'host'?' (or 'host' or 'hots2'?), or '' when nothing is close: for the end of a message."""
    found = close_matches(word, choices)
    if not found:
        return ""
    return "; did you mean " + " or ".join(repr(f) for f in found) + "?"
