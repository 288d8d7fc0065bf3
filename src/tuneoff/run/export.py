"""Take a player home: its checkpoint as a standard transformers folder (or a PEFT adapter folder), with a card.

The checkpoint is the one ``predict`` answers with (the seed given, else the player's best on dev). A merged
checkpoint (full fine-tuning and every strategy that saves whole weights; LoRA and the other PEFT methods
PEFT can merge, merged at save time by ``merge_and_unload``) is written as it is, with ``id2label`` set to the
data set's label names. ``--no-merge`` writes a PEFT player's adapter instead, naming the base model it was
trained on. Everything is written into a hidden folder beside the target and renamed at the end, so an
interrupted export leaves no half-written model.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuneoff.report.card import Export, model_card
from tuneoff.run.predict import checkpoint_of, load_player
from tuneoff.store.guard import check_output, check_replaceable
from tuneoff.store.runfolder import JobFolder, RunFolder, as_run


@dataclass(frozen=True)
class Exported:
    path: Path
    player: str
    seed: int
    adapter: bool  # a PEFT adapter folder, else a plain transformers model


def _strategy(result: dict) -> str:
    return f"player {result['player']['name']!r} (strategy {result['player']['strategy']['name']})"


def write_model(folder: JobFolder, result: dict, out: Path) -> None:
    """The merged checkpoint as transformers saves it, its labels named, its tokenizer cut where training cut."""
    tokenizer, model, limit = load_player(folder, result)
    labels = result["labels"]
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.model_max_length = limit  # so pipeline(..., truncation=True) reads what predict reads
    tokenizer.save_pretrained(out)


def base_reference(result: dict) -> tuple[str, str | None]:
    """(name or folder, revision) of the base model an adapter of this player is applied to."""
    model = result["player"]["model"]
    if model["kind"] != "hub":
        raise ValueError(f"--no-merge: {_strategy(result)} was trained on a {model['kind']!r} model, which no "
                         "adapter can name as its base (only hub ids and folders can); export it merged "
                         "(without --no-merge)")
    local = Path(model["name"]).expanduser()
    name = str(local.resolve()) if local.is_dir() else model["name"]
    return name, None if model.get("revision", "main") == "main" else model["revision"]


def write_adapter(folder: JobFolder, result: dict, out: Path) -> None:
    """The PEFT adapter (weights and config) as trained, naming its base model, and the tokenizer."""
    from transformers import AutoTokenizer

    name, revision = base_reference(result)
    shutil.copytree(folder.saved(result, "adapter"), out, dirs_exist_ok=True)
    config = json.loads((out / "adapter_config.json").read_text())
    config.update(base_model_name_or_path=name, revision=revision)
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    AutoTokenizer.from_pretrained(folder.saved(result)).save_pretrained(out)


def writer(result: dict, merge: bool) -> Callable[[JobFolder, dict, Path], None]:
    """How this player's checkpoint is exported, or why it cannot be, in one line."""
    from tuneoff.strategies import STRATEGIES

    checkpoint = result["checkpoint"]
    if not merge:
        if not checkpoint.get("adapter"):
            raise ValueError(f"--no-merge: {_strategy(result)} has no PEFT adapter, its checkpoint is a whole "
                             "model; export it without --no-merge")
        base_reference(result)  # refused before anything is written
        return write_adapter
    if checkpoint.get("format", "merged") != "merged":
        why = getattr(STRATEGIES.lookup(result["player"]["strategy"]["name"]), "not_merged", None)
        raise ValueError(f"{_strategy(result)} cannot be exported as a plain transformers model: "
                         f"{why or 'its checkpoint is a base model plus an adapter'}; --no-merge exports its "
                         "PEFT adapter")
    return write_model


def _target(to: Path, force: bool, given: str) -> None:
    """Refuse a --to that is a file, a folder with files (without --force), or a folder whose replacing would
    delete a run folder."""
    if to.exists() and not to.is_dir():
        raise ValueError(f"--to {given}: a file, not a folder")
    if to.is_dir() and any(to.iterdir()):
        if not force:
            raise ValueError(f"--to {given}: folder not empty; --force replaces what is in it")
        check_replaceable(to, "--to", given)


PARTIAL, OLD = "partial", "old"  # .<name>.partial-<pid>-<hex>: being written; .<name>.old-<pid>-<hex>: being replaced


def _hidden(to: Path, kind: str) -> Path:
    return to.parent / f".{to.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def clean_leftovers(to: Path) -> None:
    """Tidy what a killed export to ``to`` left beside it: its hidden partial folder is removed, and the earlier
    folder it was replacing is put back if the new one never took its place (else removed). Another live
    export's are left alone."""
    import psutil

    for kind in (OLD, PARTIAL):
        for path in sorted(to.parent.glob(f".{glob.escape(to.name)}.{kind}-*")):
            pid = path.name.rsplit(f".{kind}-", 1)[1].split("-")[0]
            if pid.isdigit() and psutil.pid_exists(int(pid)):
                continue
            if kind == OLD and not to.exists() and not to.is_symlink():
                path.rename(to)
            else:
                shutil.rmtree(path, ignore_errors=True)


def _swap_in(staged: Path, to: Path) -> None:
    """Put the finished folder where it belongs; an earlier one there is removed only once it is replaced."""
    old = None
    if to.exists():
        old = _hidden(to, OLD)
        to.rename(old)
    staged.rename(to)
    if old is not None:
        shutil.rmtree(old)


def _named(err: OSError, staged: Path, given: str) -> OSError:
    """The error with the user's --to in place of the hidden folder it was written in."""
    where = (err.filename and str(err.filename).replace(str(staged), given)) or given
    return type(err)(err.errno, err.strerror or str(err).replace(str(staged), given), where) \
        if err.errno is not None else OSError(f"{given}: {str(err).replace(str(staged), given)}")


def export(run: RunFolder | Path, player: str, to: str | Path, seed: int | None = None, merge: bool = True,
           force: bool = False, command: str = "") -> Exported:
    """Write the player's checkpoint into ``to`` (a new or empty folder; ``force``: replace one) with a model card.

    A ``to`` that is a symlink is followed: the link stays, and the folder it points to receives the model."""
    run = as_run(run)
    folder, result = checkpoint_of(run, player, seed)
    write = writer(result, merge)
    given, shown = str(to), Path(os.path.abspath(Path(to).expanduser()))
    to = shown.resolve()
    check_output(given, "--to")
    if to.parent.is_dir():
        clean_leftovers(to)
    _target(to, force, given)
    to.parent.mkdir(parents=True, exist_ok=True)
    staged = _hidden(to, PARTIAL)
    staged.mkdir()  # as any new folder (mkdtemp's would be private to its owner)
    try:
        write(folder, result, staged)
        card = Export(str(shown), command, adapter=not merge, base=None if merge else base_reference(result)[0])
        (staged / "README.md").write_text(model_card(run, result, card), encoding="utf-8")
        _swap_in(staged, to)
    except OSError as err:
        shutil.rmtree(staged, ignore_errors=True)
        raise _named(err, staged, given) from None
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return Exported(shown, player, result["seed"], not merge)
