"""Take a player home: its checkpoint as a standard transformers folder (or an adapter folder), with a card.

The checkpoint is the one ``predict`` answers with (the seed given, else the player's best on dev). A merged
checkpoint (full fine-tuning and every strategy that saves whole weights; LoRA and the other PEFT methods
PEFT can merge, merged at save time by ``merge_and_unload``) is written as it is, with ``id2label`` set to the
data set's label names. ``--no-merge`` writes a PEFT player's adapter instead: naming the Hub model (or folder)
it was trained on, or, for a base that no adapter can name (the bundled MiniLM converted to DistilBERT, or the
base a PEFT checkpoint saved), with that base written beside it in ``base/``. Bottleneck adapters, which nothing
can merge, export only so (``tuneoff.models.bottleneck.from_pretrained`` loads them). A checkpoint that collapsed is
refused unless ``allow_collapsed``; its card then opens with a banner and is tagged ``collapsed``. The run's
config is written beside the model (``tuneoff.toml``, without this machine's paths) so that the card's
commands reproduce it. Everything is written into a hidden folder beside the target and renamed at the end,
so an interrupted export leaves no half-written model.
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

from tuneoff.plan.portable import portable_toml
from tuneoff.report.card import Export, model_card
from tuneoff.run.card_facts import hub_facts
from tuneoff.run.predict import checkpoint_of, load_player, results_of
from tuneoff.store.checkpoint import EXPORTED_BASE, Checkpoint, exported_base
from tuneoff.store.guard import check_output, check_replaceable
from tuneoff.store.runfolder import JobFolder, RunFolder, as_run
from tuneoff.verdict.collapse import checkpoint_warning
from tuneoff.verdict.rules import collapse_reason

CONFIG_FILE = "tuneoff.toml"  # the run's config, written beside the exported model


@dataclass(frozen=True)
class Exported:
    path: Path
    player: str
    seed: int
    adapter: bool  # an adapter folder (--no-merge), else a plain transformers model
    collapse: str | None = None  # the checkpoint, or the player's other seeds, collapsed: one line
    license: str = "unknown"  # as the card's metadata states it


@dataclass(frozen=True)
class Written:
    """What a writer put where the card needs to know: the base an adapter names, or the subfolder holding it."""

    base: str | None = None
    base_subfolder: str | None = None


def _strategy(result: dict) -> str:
    return f"player {result['player']['name']!r} (strategy {result['player']['strategy']['name']})"


def _label_maps(config, labels: list[str]) -> None:
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}


def write_model(folder: JobFolder, result: dict, out: Path, final: Path) -> Written:
    """The merged checkpoint as transformers saves it, its labels named, its tokenizer cut where training cut."""
    tokenizer, model, limit = load_player(folder, result)
    _label_maps(model.config, result["labels"])
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.model_max_length = limit  # so pipeline(..., truncation=True) reads what predict reads
    tokenizer.save_pretrained(out)
    return Written()


def base_reference(result: dict) -> tuple[str, str | None] | None:
    """(name or folder, revision) of the Hub model or folder an adapter of this player names as its base; None
    when its base is written beside it instead (see ``base_writer``)."""
    model = result["player"]["model"]
    if model["kind"] != "hub":
        base_writer(result)  # refused here when it cannot be written either
        return None
    local = Path(model["name"]).expanduser()
    name = str(local.resolve()) if local.is_dir() else model["name"]
    return name, None if model.get("revision", "main") == "main" else model["revision"]


def base_writer(result: dict) -> Callable[[JobFolder, Path], None]:
    """How the base of a non-Hub player's adapter is written beside it: the base its PEFT checkpoint saved, or
    the model source rebuilt (same weights on every build: the bundled MiniLM); else refused in one line."""
    from tuneoff.models.sources import SOURCES

    model = result["player"]["model"]
    if not Checkpoint.of(result).merged:  # PEFT's and bottleneck's save the base beside their adapter
        return lambda folder, out: _copy_base(folder.checkpoint_of(result).weights, out, result["labels"])
    if getattr(SOURCES.get(model["kind"]), "rebuildable", False):
        return lambda folder, out: _rebuild_base(model, result["labels"], out)
    raise ValueError(
        f"--no-merge: {_strategy(result)} was trained on a {model['kind']!r} model, whose weights no "
        "adapter can name and tuneoff cannot rebuild (random initialisation); export it merged "
        "(without --no-merge)"
    )


def _copy_base(saved: Path, out: Path, labels: list[str]) -> None:
    shutil.copytree(saved, out)
    config = json.loads((out / "config.json").read_text())
    config.update(id2label={str(i): n for i, n in enumerate(labels)}, label2id={n: i for i, n in enumerate(labels)})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def _rebuild_base(model: dict, labels: list[str], out: Path) -> None:
    """The base as the model source builds it; its new head is random, and the adapter carries the trained one."""
    from tuneoff.models.sources import SOURCES

    built = SOURCES.lookup(model["kind"]).model_validate(model).build(len(labels))
    _label_maps(built.model.config, labels)
    built.model.save_pretrained(out, safe_serialization=True)


def write_adapter(folder: JobFolder, result: dict, out: Path, final: Path) -> Written:
    """The adapter (PEFT's, or tuneoff's bottleneck adapters: weights and config) as trained, naming its base model
    or with it beside, and the tokenizer."""
    from transformers import AutoTokenizer

    checkpoint = folder.checkpoint_of(result)
    shutil.copytree(checkpoint.recorded_adapter(), out, dirs_exist_ok=True)
    named = base_reference(result)
    if named is None:
        base_writer(result)(folder, exported_base(out))
        name, revision = str(exported_base(final)), None  # PEFT's own loader finds it here, on this machine
    else:
        name, revision = named
    config = json.loads((out / "adapter_config.json").read_text())
    config.update(base_model_name_or_path=name, revision=revision)
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    AutoTokenizer.from_pretrained(checkpoint.weights).save_pretrained(out)
    return Written(None, EXPORTED_BASE) if named is None else Written(name)


def writer(result: dict, merge: bool) -> Callable[[JobFolder, dict, Path, Path], Written]:
    """How this player's checkpoint is exported, or why it cannot be, in one line."""
    from tuneoff.strategies import STRATEGIES

    checkpoint = Checkpoint.of(result)
    if not merge:
        if not checkpoint.has_adapter:
            raise ValueError(
                f"--no-merge: {_strategy(result)} has no adapter, its checkpoint is a whole "
                "model; export it without --no-merge"
            )
        base_reference(result)  # refused before anything is written
        return write_adapter
    if not checkpoint.merged:
        why = getattr(STRATEGIES.lookup(result["player"]["strategy"]["name"]), "not_merged", None)
        raise ValueError(
            f"{_strategy(result)} cannot be exported as a plain transformers model: "
            f"{why or 'its checkpoint is a base model plus an adapter'}; --no-merge exports its "
            "adapter"
        )
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


def _check_collapse(player: str, result: dict, allow: bool) -> None:
    if (why := collapse_reason(result)) and not allow:
        raise ValueError(
            f"player {player!r} seed {result['seed']} COLLAPSED: {why}; it learned nothing, so it answers "
            "(nearly) always the same; --allow-collapsed exports it anyway, its card saying so"
        )


def _write_config(run: RunFolder, out: Path) -> list[str]:
    """The run's config beside the model, without this machine's paths; returns what it leaves to the reader."""
    config = run.tournament()["config"]
    text, notes = portable_toml(
        config,
        f"The config of tuneoff tournament {config['tournament']['name']!r}, as its "
        "run recorded it; `tuneoff run` reads it.",
    )
    (out / CONFIG_FILE).write_text(text, encoding="utf-8")
    return notes


def _card(
    run: RunFolder,
    result: dict,
    name: str,
    adapter: bool,
    written: Written,
    args: list[str],
    license: str | None,
    collapse: str | None,
    config_notes: list[str],
) -> Export:
    hub = hub_facts(result, run.tournament()["config"], license, collapse_reason(result) is not None)
    return Export(
        name,
        adapter,
        written.base,
        written.base_subfolder,
        hub,
        collapse,
        CONFIG_FILE,
        tuple(config_notes),
        tuple(args),
        bottleneck=Checkpoint.of(result).format == Checkpoint.BOTTLENECK,
    )


def _named(err: OSError, staged: Path, given: str) -> OSError:
    """The error with the user's --to in place of the hidden folder it was written in."""
    where = (err.filename and str(err.filename).replace(str(staged), given)) or given
    return (
        type(err)(err.errno, err.strerror or str(err).replace(str(staged), given), where)
        if err.errno is not None
        else OSError(f"{given}: {str(err).replace(str(staged), given)}")
    )


def export(
    run: RunFolder | Path,
    player: str,
    to: str | Path,
    seed: int | None = None,
    merge: bool = True,
    force: bool = False,
    *,
    allow_collapsed: bool = False,
    license: str | None = None,
    repo_id: str | None = None,
) -> Exported:
    """Write the player's checkpoint into ``to`` (a new or empty folder; ``force``: replace one) with a model card
    and the run's config. ``repo_id``: the Hub repository the card's snippets load (else the folder's name).

    A ``to`` that is a symlink is followed: the link stays, and the folder it points to receives the model."""
    run = as_run(run)
    given, shown = str(to), Path(os.path.abspath(Path(to).expanduser()))
    to = shown.resolve()
    check_output(given, "--to")  # the target first: never a run folder, whatever else is wrong
    if to.parent.is_dir():
        clean_leftovers(to)
    _target(to, force, given)
    folder, result = checkpoint_of(run, player, seed)
    write = writer(result, merge)
    _check_collapse(player, result, allow_collapsed)
    collapse = checkpoint_warning(player, result, list(results_of(run, player).values()))
    to.parent.mkdir(parents=True, exist_ok=True)
    staged = _hidden(to, PARTIAL)
    staged.mkdir()  # as any new folder (mkdtemp's would be private to its owner)
    args = [
        "--seed",
        str(result["seed"]),
        "--to",
        shown.name,
        *([] if merge else ["--no-merge"]),
        *(["--allow-collapsed"] if collapse_reason(result) else []),
        *(["--license", license] if license else []),
    ]
    try:
        written = write(folder, result, staged, to)
        notes = _write_config(run, staged)
        card = _card(run, result, repo_id or shown.name, not merge, written, args, license, collapse, notes)
        (staged / "README.md").write_text(model_card(run, result, card), encoding="utf-8")
        _swap_in(staged, to)
    except OSError as err:
        shutil.rmtree(staged, ignore_errors=True)
        raise _named(err, staged, given) from None
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return Exported(shown, player, result["seed"], not merge, collapse, card.hub.license)
