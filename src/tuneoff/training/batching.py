"""Tokenise once, then cut batches: length-bucketed for training, sorted for evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Encoded:
    """Token ids of every sentence (unpadded) and their labels."""

    ids: tuple[tuple[int, ...], ...]
    labels: tuple[int, ...]
    pad_id: int
    multiple: int = 0  # static shapes: pad every batch up to a multiple of this many tokens (0: to its longest)
    max_len: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))


def encode(tokenizer, texts, labels, max_len: int, multiple: int = 0) -> Encoded:
    ids = tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
    return Encoded(tuple(tuple(x) for x in ids), tuple(labels), tokenizer.pad_token_id or 0, multiple, max_len)


def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Optimizer steps in one pass over ``examples`` (the last batch may be short)."""
    return -(-examples // batch_size)


def padded_width(longest: int, multiple: int, max_len: int) -> int:
    """The batch width: the longest sentence, or with static shapes the next multiple (capped at max_len)."""
    if not multiple:
        return longest
    width = -(-longest // multiple) * multiple
    return min(width, max_len) if max_len else width


def train_batches(lengths: np.ndarray, batch_size: int, bucket: int, seed: int) -> list[np.ndarray]:
    """Shuffle, sort by length within chunks of ``bucket`` batches, then shuffle the batches.

    Sentences of similar length share a batch, so dynamic padding wastes little,
    while the batch order stays random. bucket=1 gives plain random batches.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        if bucket > 1:
            part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Longest first, so the padding is minimal and a memory problem shows at once."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(data: Encoded, index: np.ndarray, device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """Pad to the longest sentence of this batch (dynamic padding); on ``device`` if given."""
    rows = [data.ids[i] for i in index]
    width = padded_width(max(len(r) for r in rows), data.multiple, data.max_len)
    ids = torch.full((len(rows), width), data.pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    labels = torch.tensor([data.labels[i] for i in index], dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if device is None or device.type == "cpu":
        return batch
    # Page-locked host memory lets the copy run asynchronously with the previous step's kernels.
    pin = device.type == "cuda"
    return {k: (v.pin_memory() if pin else v).to(device, non_blocking=pin) for k, v in batch.items()}
