"""A run's recorded config as a TOML file that runs elsewhere: what an exported model carries to be reproduced.

``tournament.json`` records the validated config, with this machine's paths in it. ``portable_toml`` writes it
back as TOML that ``tuneoff run`` reads: unset values left out, an SST folder left to ``--data-dir`` or the
download, and a local file or folder (CSV/JSONL splits, a data set saved to disk, a model folder) written as
its bare name, to be put beside the config file (paths in a config are relative to its folder); each such
change is returned as a note. No torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from tuneoff.data import DATASETS


def _no_nulls(value: Any) -> Any:
    """TOML has no null: an unset value is left out (the option's default is unset)."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_no_nulls(v) for v in value]
    return value


def _local(path: str) -> bool:
    return Path(path).expanduser().is_absolute() or Path(path).expanduser().exists()


def _data(table: dict, where: str, notes: list[str]) -> dict:
    """A data table with its local paths dropped (SST folders) or cut to their names (files, saved sets)."""
    table = dict(table)
    spec = DATASETS.get(table.get("name", "sst5"))
    for key in getattr(spec, "relative_paths", ()):
        value = table.get(key)
        if not isinstance(value, str) or not value:
            continue
        if key == "dir":  # the SST tree files: --data-dir or the download, not a folder of this machine
            del table[key]
            notes.append(
                f"{where}.dir named a folder of the exporting machine: give the SST files with "
                "--data-dir, or let tuneoff download them"
            )
        elif _local(value):
            table[key] = Path(value).name
            notes.append(f"{where}.{key}: the file {Path(value).name!r} is not included; put it beside the config")
    if table.get("name") == "hf" and isinstance(table.get("id"), str) and _local(table["id"]):
        notes.append(
            f"{where}.id: the data set saved in {Path(table['id']).name!r} is not included; put it beside the config"
        )
        table["id"] = Path(table["id"]).name
    return table


def portable_config(config: dict) -> tuple[dict, list[str]]:
    """(the config without this machine's paths, notes saying what was changed and what to supply)."""
    notes: list[str] = []
    out = _no_nulls(config)
    if "data" in out:
        out["data"] = _data(out["data"], "data", notes)
    out["eval"] = [
        {**e, "dataset": _data(e["dataset"], f"eval {e['name']}.dataset", notes)} for e in out.get("eval", [])
    ]
    if not out["eval"]:
        del out["eval"]
    for player in out.get("players", []):
        model = player.get("model", {})
        if model.get("kind") == "hub" and isinstance(model.get("name"), str) and _local(model["name"]):
            notes.append(
                f"player {player['name']}: the model folder {Path(model['name']).name!r} is not included; "
                "put it beside the config"
            )
            player["model"] = {**model, "name": Path(model["name"]).name}
    return out, notes


def portable_toml(config: dict, header: str = "") -> tuple[str, list[str]]:
    """The recorded config as TOML text (``header``: comment lines put first), and the notes."""
    portable, notes = portable_config(config)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"# NOTE: {n}" for n in notes]
    return ("\n".join(lines) + "\n\n" if lines else "") + tomli_w.dumps(portable), notes
