"""The run-folder reference, generated from the store (tuneoff.store: its modules' docstrings, the names
RunFolder and JobFolder spell, their methods' docstrings) and from the JSON schemas of the files in a run
folder (src/tuneoff/schema/*.json). Every module of tuneoff.store is read, so a new owner there (a checkpoint's
layout, say) appears here without an edit."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import tuneoff.store
from tuneoff.store import runfolder
from tuneoff.store.runfolder import JobFolder, RunFolder, seed_label, trial_label

from gen.markdown import code, page, paragraphs, table


def _schema_dir() -> Path:
    import tuneoff

    return Path(tuneoff.__file__).parent / "schema"


def _names(cls: type) -> list[list[object]]:
    """The file and folder names a class spells: its upper-case constants."""
    rows = []
    for attr, value in vars(cls).items():
        if not attr.isupper():
            continue
        shown = (
            ", ".join(f"{k}: {v}" for k, v in value.items())
            if isinstance(value, dict)
            else ", ".join(value)
            if isinstance(value, tuple)
            else value
        )
        rows.append([code(f"{cls.__name__}.{attr}"), code(shown)])
    return rows


def _signature(func) -> str:
    """(arguments) without self or cls, annotations as written (no quotes)."""
    params = [p for p in inspect.signature(func).parameters.values() if p.name not in ("self", "cls")]
    return "(" + ", ".join(str(p).replace("'", "") for p in params) + ")"


def _methods(cls: type) -> str:
    """Every public method and property of ``cls`` with its first docstring paragraph."""
    rows = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        target = member.fget if isinstance(member, property) else member
        if not callable(target) and not isinstance(target, (classmethod, staticmethod)):
            continue
        func = target.__func__ if isinstance(target, (classmethod, staticmethod)) else target
        doc = inspect.getdoc(func)
        if not doc:
            continue
        signature = name if isinstance(member, property) else name + _signature(func)
        rows.append([code(signature), " ".join(doc.split("\n\n")[0].split())])
    return table(["member", "what it does"], rows)


def _modules() -> list[str]:
    """tuneoff.store's modules (runfolder first: it holds the layout), then the rest by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(tuneoff.store.__path__))
    return ["runfolder"] + [n for n in names if n != "runfolder"]


def _type(node: dict) -> str:
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " | ".join(json.dumps(v) for v in node["enum"])
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    kind = node.get("type", "")
    return " | ".join(kind) if isinstance(kind, list) else kind


def _fields(node: dict, prefix: str = "", required: tuple = ()) -> list[list[object]]:
    """One row per property, nested objects (and array items that are objects) flattened with dotted paths."""
    rows = []
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        rows.append(
            [
                code(path),
                code(_type(child)) if _type(child) else "",
                "yes" if key in required else "",
                child.get("description", ""),
            ]
        )
        rows += _fields(child, f"{path}.", tuple(child.get("required", ())))
        items = child.get("items")
        if isinstance(items, dict) and "properties" in items:
            rows += _fields(items, f"{path}[].", tuple(items.get("required", ())))
    rows += [[code(f"{prefix}{key}"), "", "yes", ""] for key in required if key not in node.get("properties", {})]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in extra:
        rows += _fields(extra, f"{prefix}NAME.", tuple(extra.get("required", ())))
    return rows


def _schema_section(path: Path) -> str:
    schema = json.loads(path.read_text(encoding="utf-8"))
    intro = (
        f"## {schema.get('title', path.stem)}\n\n`src/tuneoff/schema/{path.name}`, `{schema.get('$id', '')}`. "
        f"{schema.get('description', '')}\n\n"
    )
    conditional = schema.get("then", {}).get("required") or next(
        (c["then"]["required"] for c in schema.get("allOf", []) if "then" in c), []
    )
    extra = (
        f"When `status` is `completed`, these are required too: {', '.join(conditional)}.\n\n" if conditional else ""
    )
    return (
        intro
        + extra
        + table(["key", "type", "required", "meaning"], _fields(schema, "", tuple(schema.get("required", ()))))
    )


def page_text() -> str:
    examples = table(
        ["call", "folder name"],
        [
            [code("seed_label(42)"), code(seed_label(42))],
            [code("seed_label(42, 7)"), code(seed_label(42, 7))],
            [code("trial_label(1e-4, 42)"), code(trial_label(1e-4, 42))],
        ],
    )
    parts = [
        paragraphs(runfolder.__doc__),
        "## Names\n\nThe file and folder names the store spells (no other module spells a path inside a run "
        "folder), and the job folders' names:\n\n"
        + table(["constant", "value"], _names(RunFolder) + _names(JobFolder)),
        examples,
        "## `RunFolder`\n\n" + paragraphs(RunFolder.__doc__) + "\n" + _methods(RunFolder),
        "## `JobFolder`\n\n" + paragraphs(JobFolder.__doc__) + "\n" + _methods(JobFolder),
        "## The store's modules\n",
    ]
    for name in _modules()[1:]:
        module = importlib.import_module(f"tuneoff.store.{name}")
        parts.append(f"### `tuneoff.store.{name}`\n\n" + paragraphs(module.__doc__))
    parts += [_schema_section(p) for p in sorted(_schema_dir().glob("*.schema.json"))]
    return page("Run folder", "`tuneoff.store` (docstrings and names) and `src/tuneoff/schema/*.json`", *parts)


def pages() -> dict[str, str]:
    return {"reference/run-folder.md": page_text()}
