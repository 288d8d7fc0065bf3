"""Label new sentences with a player's saved best checkpoint (LoRA already merged)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tuneoff.options import NAME_PATTERN
from tuneoff.store.results import ResultsError
from tuneoff.store.runfolder import JobFolder, RunFolder, as_run
from tuneoff.store.status import Status
from tuneoff.suggest import did_you_mean
from tuneoff.verdict.collapse import checkpoint_warning

ECHO_CHARS = 80  # a long text is echoed back shortened to this many characters


@dataclass
class Prediction:
    text: str
    probabilities: dict[str, float]
    notes: list[str] = field(default_factory=list)
    seed: int | None = None  # whose checkpoint answered
    collapse: str | None = None  # the checkpoint (or the player's other seeds) collapsed: why, in one line


def results_of(run: RunFolder, player: str) -> dict[JobFolder, dict]:
    """Every readable result of the player, by job folder (unreadable ones left out)."""
    if not re.match(NAME_PATTERN, player):
        raise ValueError(f"--player {player!r}: a player's name, not a path (letters, digits, '_', '.', '-')")
    results = {}
    for folder in run.seeds_of(player):
        try:
            results[folder] = folder.result()
        except ResultsError:
            continue
    return results


def _choose(run: RunFolder, player: str, seed: int | None) -> tuple[JobFolder, dict]:
    """The player's job folder and result: the given seed, else the completed seed best on dev."""
    results = results_of(run, player)
    if not results:
        raise FileNotFoundError(
            f"{run.player_dir(player)}: no results for player {player!r}; "
            f"players here: {run.players()}{did_you_mean(player, run.players())}"
        )
    if seed is not None:
        chosen = {f: r for f, r in results.items() if r["seed"] == seed}
        if not chosen:
            raise ValueError(
                f"--seed {seed}: player {player!r} has no result for it; seeds: "
                f"{sorted({r['seed'] for r in results.values()})}"
            )
        return next(iter(chosen.items()))
    done = {f: r for f, r in results.items() if r["status"] == Status.COMPLETED}
    if not done:
        r = next(iter(results.values()))
        raise ValueError(f"player {player!r} is {r['status']}, it has no checkpoint: {r['error']}")
    return max(done.items(), key=lambda fr: fr[1]["history"]["epochs"][fr[1]["best_epoch"] - 1]["dev_accuracy"])


def _decoded(text: str) -> tuple[str, bool]:
    """(text, whether it was not UTF-8): command-line bytes that are not UTF-8 arrive as surrogate escapes,
    which the tokenizer cannot take; they are decoded with replacement."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        raw = text.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace"), True


def checkpoint_of(run: RunFolder | Path, player: str, seed: int | None = None) -> tuple[JobFolder, dict]:
    """The job folder and completed result whose checkpoint answers for the player (``predict``, ``export``):
    the given seed, else the completed seed best on dev; refused if it has no checkpoint or lost a file of it."""
    folder, result = _choose(as_run(run), player, seed)
    if result["status"] != Status.COMPLETED:
        raise ValueError(
            f"player {player!r} seed {result['seed']} is {result['status']}, it has no checkpoint: {result['error']}"
        )
    if missing := folder.checkpoint_missing(result):
        raise FileNotFoundError(
            f"{folder.path / missing}: player {player!r}'s checkpoint is missing (deleted?); "
            "run the tournament again to rebuild it"
        )
    return folder, result


def load_player(folder: JobFolder, result: dict):
    """(tokenizer, model in eval mode, the longest input in tokens it reads) of a result's checkpoint."""
    from tuneoff.strategies import load_checkpoint

    tokenizer, model = load_checkpoint(folder.checkpoint_of(result))
    limit = result["protocol"]["max_seq_len"]
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return tokenizer, model, min(limit, positions) if positions else limit


def predict(run: RunFolder | Path, player: str, texts: list[str], seed: int | None = None) -> list[Prediction]:
    folder, result = checkpoint_of(run, player, seed)
    collapse = checkpoint_warning(player, result, list(results_of(as_run(run), player).values()))
    decoded = [_decoded(t) for t in texts]
    texts = [t for t, _ in decoded]
    tokenizer, model, limit = load_player(folder, result)
    batch = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    with torch.inference_mode():
        probs = model(**batch).logits.softmax(-1)
    out = []
    for (text, bad), row, full in zip(decoded, probs, tokenizer(texts, truncation=False)["input_ids"]):
        notes = ["warning: not UTF-8 text; each byte that could not be decoded was read as U+FFFD"] if bad else []
        if not text.strip():
            notes.append("warning: empty text; this label means nothing")
        if len(full) > limit:
            notes.append(
                f"text cut from {len(full)} to {limit} tokens (the player's max_seq_len): only its beginning was read"
            )
        out.append(Prediction(text, dict(zip(result["labels"], map(float, row))), notes, result["seed"], collapse))
    return out
