"""Label new sentences with a player's saved best checkpoint (LoRA already merged)."""

from __future__ import annotations

from pathlib import Path

import torch

from .results import RESULT_FILE, player_dirs, read_result


def predict(run_dir: Path, player: str, texts: list[str]) -> list[dict[str, float]]:
    folder = Path(run_dir) / "players" / player
    if not (folder / RESULT_FILE).is_file():
        names = [d.name for d in player_dirs(Path(run_dir))]
        raise FileNotFoundError(f"{folder}: no results for player {player!r}; players here: {names}")
    result = read_result(folder / RESULT_FILE)
    if result["status"] != "completed":
        raise ValueError(f"player {player!r} is {result['status']}, it has no checkpoint: {result['error']}")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    checkpoint = folder / result["checkpoint"]["path"]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, use_safetensors=True).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=result["protocol"]["max_seq_len"], return_tensors="pt")
    with torch.inference_mode():
        probs = model(**batch).logits.softmax(-1)
    return [dict(zip(result["labels"], map(float, row))) for row in probs]
