"""Scoring: run a model over a split, and turn predictions into metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from tuneoff.training.batching import Encoded, collate, eval_batches
from tuneoff.training.steps import autocast

if TYPE_CHECKING:
    from tuneoff.data import Dataset


@dataclass(frozen=True)
class Scored:
    loss: float
    predictions: np.ndarray
    probabilities: np.ndarray

    def accuracy(self, labels) -> float:
        return float(np.mean(self.predictions == np.asarray(labels)))


@torch.inference_mode()
def score(
    model, data: Encoded, batch_size: int, device: torch.device, autocast_dtype=None, progress=None, forward=None
) -> Scored:
    """Mean cross-entropy, argmax predictions and softmax probabilities, in data order.

    ``forward``: a captured forward pass (tuneoff.steps.CapturedForward) to use instead of the model's."""
    was_training = model.training
    model.eval()
    batches = eval_batches(data.lengths(), batch_size)
    task = progress.add_task("  evaluating", total=len(batches)) if progress is not None else None
    probs = torch.empty((len(data), model.config.num_labels))
    loss_sum = torch.zeros((), dtype=torch.float64)
    for index in batches:
        batch = collate(data, index, device)
        if forward is not None:
            logits = forward(batch).float()
        else:
            with autocast(device.type, autocast_dtype):
                logits = model(**batch).logits.float()
        loss_sum += torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="sum").cpu()
        probs[torch.as_tensor(index)] = logits.softmax(-1).cpu()
        if task is not None:
            progress.advance(task)
    if task is not None:
        progress.remove_task(task)
    model.train(was_training)
    probabilities = probs.numpy()
    return Scored(float(loss_sum) / len(data), probabilities.argmax(-1), probabilities)


def metrics(labels, predictions, num_labels: int) -> dict:
    """Accuracy, macro-F1, per-class P/R/F1, confusion matrix (rows = true label)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    classes = list(range(num_labels))
    p, r, f, support = precision_recall_fscore_support(labels, predictions, labels=classes, zero_division=0)
    predicted = np.bincount(np.asarray(predictions), minlength=num_labels)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        "per_class": [
            {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
            for i in classes
        ],
        "confusion_matrix": confusion_matrix(labels, predictions, labels=classes).tolist(),
        "predicted_distribution": [int(x) for x in predicted],
    }


@dataclass(frozen=True)
class Extra:
    """An extra test set: its examples, and where each of the player's classes lands in its labels (-1: wrong)."""

    name: str
    dataset: Dataset
    mapping: tuple[int, ...]


def label_mapping(labels, other, table: dict[str, str], where: str) -> tuple[int, ...]:
    """Where each of the player's ``labels`` lands in the extra data set ``other``'s labels (-1: counted wrong),
    from a table of label names; a name in the table that either side lacks, or an empty table, is refused."""
    from tuneoff.data import DataError

    unknown = [k for k in table if k not in labels] + [v for v in table.values() if v not in other.labels]
    if unknown or not table:
        raise DataError(
            f"{where}: label_map names {unknown or 'nothing'}; the player's labels: {list(labels)}, "
            f"{other.name}'s: {list(other.labels)}"
        )
    return tuple(other.labels.index(table[n]) if n in table else -1 for n in labels)


def score_extra(model, tokenizer, extra: Extra, p, device: torch.device, progress=None) -> dict:
    """Accuracy and macro-F1 of the kept weights on an extra test set, through the label mapping, and each
    sentence's mapped prediction (-1: a class the mapping counts wrong) and label."""
    from sklearn.metrics import f1_score

    from tuneoff.training.batching import encode
    from tuneoff.training.steps import autocast_dtype

    test = extra.dataset.test
    data = encode(tokenizer, test.texts, test.labels, p.max_seq_len, p.static_shapes)
    scored = score(model, data, p.eval_batch_size, device, autocast_dtype(p), progress)
    mapped = np.asarray(extra.mapping)[scored.predictions]
    labels = np.asarray(test.labels)
    classes = list(range(len(extra.dataset.labels)))
    return {
        "dataset": extra.dataset.name,
        "examples": len(labels),
        "accuracy": float(np.mean(mapped == labels)),
        "macro_f1": float(f1_score(labels, mapped, labels=classes, average="macro", zero_division=0)),
        "unmapped_predictions": int(np.sum(mapped < 0)),
        "sha256": test.sha256,
        "predictions": mapped.tolist(),
        "labels": labels.tolist(),
    }  # per sentence: the board's paired tests
