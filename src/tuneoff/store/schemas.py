"""The shipped JSON schemas of the files in a run folder, and the one validator for them all."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

SCHEMAS = {"result": "result.schema.json", "leaderboard": "leaderboard.schema.json", "tuning": "tuning.schema.json"}


class SchemaError(ValueError):
    """A document that does not follow its schema; the message names where and what."""


@cache
def schema(kind: str) -> dict:
    return json.loads((resources.files("tuneoff") / "schema" / SCHEMAS[kind]).read_text())


def validate(document: dict, kind: str, where: str) -> None:
    """Raise SchemaError listing (up to ten of) the places where ``document`` breaks the ``kind`` schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(kind))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        lines = [f"{where}: {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors[:10]]
        raise SchemaError("\n".join(lines))
