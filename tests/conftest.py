"""Shared fixtures: SST-5-shaped tree files written by the tests, tiny configs, the real files."""

from __future__ import annotations

import os
import random
from pathlib import Path

# No test reaches the network: the Hugging Face libraries read this when they are first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

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
def tiny_folders(tmp_path_factory) -> dict:
    """architecture -> folder of a tiny saved model of it (strategy_checks.save_tiny_models), once per session."""
    from strategy_checks import save_tiny_models

    return save_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test: tiny models gain nothing from a second one, and on a loaded machine the
    threads' waiting on each other costs several times the work."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def real_sst5() -> Path:
    """The canonical files; missing is a failure in CI, a skip elsewhere."""
    if not all((REAL_SST5 / f"{s}.txt").is_file() for s in ("train", "dev", "test")):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the real SST-5 files in {REAL_SST5} (set TUNEOFF_SST5_DIR)")
        pytest.skip(f"real SST-5 files not in {REAL_SST5}")
    return REAL_SST5


def make_result(
    name="p",
    accuracy=0.5,
    predicted=None,
    train_seconds=100.0,
    cpu="CPU X",
    status="completed",
    test_counts=(279, 633, 389, 510, 399),
    seed=42,
):
    """A result on SST-5's test class counts with a chosen accuracy (and, if given, prediction counts)."""
    from factories import HARDWARE, completed, confusion, failed

    if status != "completed":
        return failed(name, "boom", status=status, seed=seed)
    left, correct = round(accuracy * sum(test_counts)), []
    for n in test_counts:
        correct.append(min(n, left))
        left -= correct[-1]
    result = completed(
        name,
        confusion(correct, counts=list(test_counts)),
        train_seconds,
        1000,
        hardware={**HARDWARE, "cpu": cpu},
        seed=seed,
    )
    if predicted is not None:  # the scoring rules read only these counts
        result["test"]["predicted_distribution"] = list(predicted)
    return result
