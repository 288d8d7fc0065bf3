"""Label new sentences with a player's saved best checkpoint (LoRA already merged)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .options import NAME_PATTERN
from .player import checkpoint_missing
from .results import RESULT_FILE, player_dirs, read_result

ECHO_CHARS = 80  # a long text is echoed back shortened to this many characters


@dataclass
class Prediction:
    text: str
    probabilities: dict[str, float]
    notes: list[str] = field(default_factory=list)


def _player_folder(run_dir: Path, player: str) -> Path:
    if not re.match(NAME_PATTERN, player):
        raise ValueError(f"--player {player!r}: a player's name, not a path (letters, digits, '_', '.', '-')")
    folder = Path(run_dir) / "players" / player
    if not (folder / RESULT_FILE).is_file():
        names = [d.name for d in player_dirs(Path(run_dir))]
        raise FileNotFoundError(f"{folder}: no results for player {player!r}; players here: {names}")
    return folder


def predict(run_dir: Path, player: str, texts: list[str]) -> list[Prediction]:
    folder = _player_folder(run_dir, player)
    result = read_result(folder / RESULT_FILE)
    if result["status"] != "completed":
        raise ValueError(f"player {player!r} is {result['status']}, it has no checkpoint: {result['error']}")
    if missing := checkpoint_missing(folder, result):
        raise FileNotFoundError(f"{folder / missing}: player {player!r}'s checkpoint is missing (deleted?); "
                                "run the tournament again to rebuild it")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    checkpoint = folder / result["checkpoint"]["path"]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, use_safetensors=True).eval()
    limit = result["protocol"]["max_seq_len"]
    positions = getattr(model.config, "max_position_embeddings", None)
    limit = min(limit, positions) if positions else limit
    batch = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    with torch.inference_mode():
        probs = model(**batch).logits.softmax(-1)
    out = []
    for text, row, full in zip(texts, probs, tokenizer(texts, truncation=False)["input_ids"]):
        notes = []
        if not text.strip():
            notes.append("warning: empty text; this label means nothing")
        if len(full) > limit:
            notes.append(f"text cut from {len(full)} to {limit} tokens (the player's max_seq_len): "
                         "only its beginning was read")
        out.append(Prediction(text, dict(zip(result["labels"], map(float, row))), notes))
    return out
