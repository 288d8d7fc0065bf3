"""Schema-valid results files for tests that need no training (report, leaderboard)."""

from __future__ import annotations

LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
TEST_COUNTS = [10, 20, 30, 25, 15]  # 100 test examples; majority class 'neutral' = 30 %
PROTOCOL = {
    "epochs": 3,
    "learning_rate": 5e-5,
    "batch_size": 16,
    "max_seq_len": 128,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "seed": 42,
    "device": "cpu",
    "threads": 2,
    "precision": "fp32",
}
HARDWARE = {"cpu": "Test CPU", "gpu": None, "device": "cpu", "threads": 2}
SCRIPT = "<script>alert('x')</script>"


def confusion(correct: list[int], to: int | None = None, counts=TEST_COUNTS) -> list[list[int]]:
    """Rows = true class; `correct[i]` right, the rest predicted as class `to` (or the next class)."""
    m = [[0] * 5 for _ in range(5)]
    for i, (n, c) in enumerate(zip(counts, correct)):
        m[i][i] = c
        if n > c:
            m[i][to if to is not None else (i + 1) % 5] += n - c
    return m


def base(name: str, status: str, error: str | None, warnings=(), overrides=None, seed: int = 42) -> dict:
    player = {
        "name": name,
        "description": f"{name} player",
        "model": {"kind": "random", "size": "tiny"},
        "strategy": {"name": "lora" if "lora" in name else "full"},
        "protocol": overrides or {},
    }
    protocol = {**PROTOCOL, **(overrides or {}), "seed": seed}
    return {
        "schema": "tuneoff.result/2",
        "status": status,
        "error": error,
        "tournament": "unit",
        "player": player,
        "seed": seed,
        "data_seed": None,
        "job": {"player": player, "protocol": protocol, "data": {}},
        "job_hash": f"hash-{name}-{seed}",
        "protocol": protocol,
        "overrides": overrides or {},
        "labels": LABELS,
        "warnings": list(warnings),
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": None if status == "running" else "2026-01-01T01:00:00+00:00",
    }


def completed(
    name: str,
    matrix,
    train_seconds: float,
    trainable: int,
    total: int = 1_000_000,
    dev_acc=(0.4, 0.5, 0.45),
    hardware=None,
    **kw,
) -> dict:
    predicted = [sum(row[j] for row in matrix) for j in range(5)]
    per_class = []
    for i in range(5):
        tp, support = matrix[i][i], sum(matrix[i])
        p, r = (tp / predicted[i] if predicted[i] else 0.0), (tp / support if support else 0.0)
        per_class.append({"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": support})
    counts = [sum(row) for row in matrix]
    labels = [i for i in range(5) for j in range(5) for _ in range(matrix[i][j])]  # true class, by class
    predictions = [j for i in range(5) for j in sorted(range(5), key=lambda c: c != i) for _ in range(matrix[i][j])]
    epochs = [
        {
            "epoch": e + 1,
            "train_loss": 1.5 - 0.2 * e,
            "dev_loss": 1.4 - 0.1 * e,
            "dev_accuracy": a,
            "train_seconds": train_seconds / len(dev_acc),
            "dev_seconds": 0.5,
            "train_eval_loss": 1.2 - 0.2 * e,
            "train_eval_accuracy": min(1.0, a + 0.05 * e),
            "generalization_gap": min(1.0, a + 0.05 * e) - a,
            "learning_rate_end": 5e-5 * (1 - (e + 1) / len(dev_acc)),
            "learning_rates_end": [5e-5 * (1 - (e + 1) / len(dev_acc))],
        }
        for e, a in enumerate(dev_acc)
    ]
    best = max(range(len(dev_acc)), key=lambda e: (dev_acc[e], -e)) + 1
    return {
        **base(name, "completed", None, **kw),
        "model": {"description": f"random DistilBERT for {name}", "pretrained": False},
        "parameters": {"total": total, "trainable": trainable},
        "data": {
            "source": "unit",
            "dir": "/data",
            "sha256": {"train": "a" * 64, "dev": "b" * 64, "test": "c" * 64},
            "checksums_ok": True,
            "sizes": {"train": 800, "dev": 100, "test": sum(counts)},
            "test_class_counts": counts,
            "test_majority_rate": max(counts) / sum(counts),
        },
        "history": {
            "epochs": epochs,
            "steps": [[s * 10, 1.6 - 0.01 * s] for s in range(1, 16)],
            "window_seconds": [[50, 800, train_seconds / 3]] * 3,
        },  # 2400 samples, as timing says
        "best_epoch": best,
        "generalization": {
            "lowest_dev_loss_epoch": len(dev_acc),
            "gap_at_best_epoch": epochs[best - 1]["generalization_gap"],
        },
        "test": {
            "loss": 1.1,
            "accuracy": sum(matrix[i][i] for i in range(5)) / sum(counts),
            "macro_f1": sum(c["f1"] for c in per_class) / 5,
            "per_class": per_class,
            "confusion_matrix": matrix,
            "predicted_distribution": predicted,
            "predictions": predictions,
            "labels": labels,
        },
        "timing": {
            "train_seconds": train_seconds,
            "train_samples_per_second": 3 * 800 / train_seconds,
            "dev_eval_seconds": 1.5,
            "test_eval_seconds": 0.5,
            "test_samples_per_second": 200.0,
            "concurrent_jobs": 1,
        },
        "memory": {"peak_rss_bytes": 900 * 2**20, "peak_gpu_bytes": None},
        "checkpoint": {"path": "checkpoint/model", "bytes": 4_000_000, "trained_artifact_bytes": 4_000},
        "environment": {
            "hardware": hardware or HARDWARE,
            "software": {"python": "3.11", "torch": "2.x", "transformers": "4.x", "peft": "0.x", "git_commit": None},
        },
    }


def failed(name: str, error: str, status: str = "failed", **kw) -> dict:
    return base(name, status, error, **kw)


def scored(name: str, labels, predictions, train_seconds: float = 100.0, seed: int = 42, hardware=None) -> dict:
    """A completed result with these exact per-sentence predictions (for paired tests)."""
    matrix = [[0] * 5 for _ in range(5)]
    for y, p in zip(labels, predictions):
        matrix[y][p] += 1
    result = completed(name, matrix, train_seconds, 1000, hardware=hardware, seed=seed)
    result["test"]["labels"], result["test"]["predictions"] = [int(y) for y in labels], [int(p) for p in predictions]
    return result


def noisy(name: str, accuracy: float, n: int = 2000, rng_seed: int = 0, **kw) -> dict:
    """A result whose right answers are a random `accuracy` share of n sentences, independently of other players."""
    import numpy as np

    rng = np.random.default_rng(rng_seed)
    labels = np.arange(n) % 5
    right = rng.random(n) < accuracy
    predictions = np.where(right, labels, (labels + 1 + rng.integers(0, 4, n)) % 5)
    return scored(name, labels, predictions, **kw)


# Tiny random BERT-family classifiers (2 layers, width 32) for strategy tests, one per architecture in the role
# table. DeBERTa-v2 is configured as the released DeBERTa-v3 checkpoints are (relative attention with normalised
# relative-position embeddings, no absolute positions), so that it has encoder.rel_embeddings and encoder.LayerNorm.
TINY_ARCHS = ("distilbert", "bert", "roberta", "deberta-v2")


def tiny_config(arch: str, vocab_size: int, pad_token_id: int, num_labels: int = 5):
    from transformers import (
        BertConfig,
        DebertaV2Config,
        DistilBertConfig,
        RobertaConfig,
    )

    common = dict(vocab_size=vocab_size, num_labels=num_labels, pad_token_id=pad_token_id)
    bert_like = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64, **common)
    return {
        "distilbert": lambda: DistilBertConfig(n_layers=2, dim=32, n_heads=2, hidden_dim=64, **common),
        "bert": lambda: BertConfig(**bert_like),
        "roberta": lambda: RobertaConfig(max_position_embeddings=80, **bert_like),
        "deberta-v2": lambda: DebertaV2Config(
            relative_attention=True,
            position_buckets=16,
            norm_rel_ebd="layer_norm",
            pos_att_type=["p2c", "c2p"],
            share_att_key=True,
            position_biased_input=False,
            max_position_embeddings=80,
            **bert_like,
        ),
    }[arch]()


def tiny_model(arch: str, tokenizer, seed: int = 0):
    """A tiny random sequence classifier of this architecture over the tokenizer's vocabulary."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    return AutoModelForSequenceClassification.from_config(tiny_config(arch, len(tokenizer), tokenizer.pad_token_id))
