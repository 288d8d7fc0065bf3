"""Shared fixtures: SST-5-shaped tree files written by the tests, tiny configs, the real files."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_SST5 = Path(os.environ.get("TUNEOFF_SST5_DIR", ROOT.parent / "shared" / "sst5"))

# Words that carry each label, so a tiny model has something to learn.
WORDS = {
    0: ["awful", "dreadful", "worst"],
    1: ["dull", "weak", "bland"],
    2: ["film", "movie", "story"],
    3: ["good", "nice", "solid"],
    4: ["superb", "brilliant", "masterpiece"],
}


def tree_line(rng: random.Random, label: int) -> str:
    """A binarised PTB tree whose root is `label`, e.g. (3 (2 the) (3 (3 good) (2 film)))."""
    words = [rng.choice(WORDS[label]), rng.choice(WORDS[2]), rng.choice(["the", "a", "this"])]
    if rng.random() < 0.2:
        words.append("-LRB-")
    rng.shuffle(words)
    node = f"(2 {words[-1]})"
    for w in reversed(words[:-1]):
        inner = label if w in WORDS[label] else 2
        node = f"({label} ({inner} {w}) {node})"
    return node


def write_trees(folder: Path, sizes=None, seed: int = 0) -> Path:
    sizes = sizes or {"train": 60, "dev": 25, "test": 25}
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        labels = [i % 5 for i in range(n)]
        # make class 1 the majority, as in SST-5's test split
        labels[: n // 5] = [1] * (n // 5)
        rng.shuffle(labels)
        (folder / f"{split}.txt").write_text("\n".join(tree_line(rng, y) for y in labels) + "\n")
    return folder


@pytest.fixture
def tree_dir(tmp_path) -> Path:
    return write_trees(tmp_path / "sst5")


TINY_CONFIG = """
[tournament]
name = "tiny"
fastest_bonus = 10.0
overridable = ["learning_rate"]

[protocol]
epochs = 2
batch_size = 8
eval_batch_size = 16
learning_rate = 2e-3
max_seq_len = 32
threads = 1
seed = 7

[data]
verify = false

[[players]]
name = "full"
model = { kind = "random", size = "tiny" }
strategy = { name = "full" }

[[players]]
name = "lora"
model = { kind = "random", size = "tiny" }
strategy = { name = "lora", r = 4, alpha = 8 }
protocol = { learning_rate = 5e-3 }
"""


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_CONFIG)
    return path


@pytest.fixture(scope="session")
def real_sst5() -> Path:
    """The canonical files; missing is a failure in CI, a skip elsewhere."""
    if not all((REAL_SST5 / f"{s}.txt").is_file() for s in ("train", "dev", "test")):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the real SST-5 files in {REAL_SST5} (set TUNEOFF_SST5_DIR)")
        pytest.skip(f"real SST-5 files not in {REAL_SST5}")
    return REAL_SST5


def make_result(name="p", accuracy=0.5, predicted=None, train_seconds=100.0, cpu="CPU X", status="completed",
                strategy="full", test_counts=(279, 633, 389, 510, 399), epochs=3, best_epoch=2):
    """A schema-valid result for a completed (or unfinished) player, without training anything."""
    total = sum(test_counts)
    correct = round(accuracy * total)
    predicted = list(predicted or [total // 5] * 4 + [total - 4 * (total // 5)])
    # a confusion matrix with the requested diagonal sum, rows = test counts (close enough for scoring tests)
    cm = [[0] * 5 for _ in range(5)]
    left = correct
    for i, n in enumerate(test_counts):
        cm[i][i] = min(n, left)
        left -= cm[i][i]
        cm[i][(i + 1) % 5] = n - cm[i][i]
    result = {
        "schema": "tuneoff.result/1", "status": status, "error": None if status == "completed" else "boom",
        "tournament": "t", "player": {"name": name, "description": "", "model": {"kind": "random", "size": "tiny"},
                                      "strategy": {"name": strategy}, "protocol": {}},
        "job_hash": "0" * 16,
        "protocol": {"epochs": epochs, "learning_rate": 1e-4, "batch_size": 32, "max_seq_len": 128,
                     "warmup_ratio": 0.0, "weight_decay": 0.01, "seed": 42, "device": "cpu", "threads": 2,
                     "precision": "fp32"},
        "overrides": {}, "labels": ["very negative", "negative", "neutral", "positive", "very positive"],
        "warnings": [], "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T01:00:00+00:00",
    }
    if status != "completed":
        return result
    result.update({
        "model": {"description": f"model of {name}", "pretrained": True},
        "parameters": {"total": 1000, "trainable": 100 if strategy == "lora" else 1000},
        "data": {"source": "--data-dir", "dir": "/d", "sha256": {}, "checksums_ok": True,
                 "sizes": {"train": 8544, "dev": 1101, "test": total}, "max_train": 0, "max_eval": 0,
                 "test_class_counts": list(test_counts), "test_majority_rate": max(test_counts) / total},
        "history": {"epochs": [{"epoch": e, "train_loss": 1.5 - 0.1 * e, "dev_loss": 1.4 - 0.05 * e,
                                "dev_accuracy": 0.4 + 0.01 * e, "train_seconds": train_seconds / epochs,
                                "dev_seconds": 1.0} for e in range(1, epochs + 1)],
                    "steps": [[10 * e, 1.5 - 0.1 * e] for e in range(1, epochs + 1)]},
        "best_epoch": best_epoch,
        "test": {"loss": 1.2, "accuracy": correct / total, "macro_f1": 0.4,
                 "per_class": [{"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": n} for n in test_counts],
                 "confusion_matrix": cm, "predicted_distribution": predicted},
        "timing": {"train_seconds": train_seconds, "train_samples_per_second": 8544 * epochs / train_seconds,
                   "dev_eval_seconds": 3.0, "test_eval_seconds": 2.0, "test_samples_per_second": total / 2.0},
        "memory": {"peak_rss_bytes": 2**30, "peak_gpu_bytes": None},
        "checkpoint": {"path": "checkpoint/model", "bytes": 10, "trained_artifact_bytes": 10},
        "environment": {"hardware": {"cpu": cpu, "gpu": None, "device": "cpu", "threads": 2},
                        "software": {"python": "3.11", "torch": "2", "transformers": "5", "peft": "0",
                                     "git_commit": None}},
    })
    return result
