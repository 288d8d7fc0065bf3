"""What a result records of how a strategy trained: the parameters it finally trained, and each epoch's learning
rates (the head's, and every param group's)."""

from __future__ import annotations

import pytest
import torch

from tuneoff.cli import main
from tuneoff.data import load_sst5
from tuneoff.models.sources import RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.store.runfolder import RunFolder
from tuneoff.strategies import STRATEGIES, setup_for
from tuneoff.training.batching import encode, steps_per_epoch
from tuneoff.training.loop import train

UNFREEZE = """
[tournament]
name = "opening"

[protocol]
epochs = 3
batch_size = 8
eval_batch_size = 16
learning_rate = 1e-3
max_seq_len = 32
threads = 1
seed = 7

[data]
verify = false

[[players]]
name = "unfreeze"
model = { kind = "random", size = "tiny" }
strategy = { name = "unfreeze", every_steps = 3 }
"""


def test_unfreeze_records_the_parameters_it_opened_by_its_last_epoch(tree_dir, tmp_path):
    """Three epochs of 8 steps on two layers, one more group every 3 steps and the last opening (the embeddings)
    after step 9: the embeddings train from epoch 2 on, the rest earlier, so everything counts as trained."""
    (tmp_path / "opening.toml").write_text(UNFREEZE)
    out = tmp_path / "run"
    assert (
        main(["run", str(tmp_path / "opening.toml"), "--data-dir", str(tree_dir), "--out", str(out), "--no-report"])
        == 0
    )
    (result,) = RunFolder(out).results()  # validated against the schema
    torch.manual_seed(0)
    model = RandomDistilBert(size="tiny").build(5).model
    embeddings = sum(q.numel() for q in model.distilbert.embeddings.parameters())
    total = sum(q.numel() for q in model.parameters())
    assert result["parameters"] == {"total": total, "trainable": total} and embeddings > 0


def trained(strategy, tree_dir, lr=1e-3):
    p = Protocol(epochs=2, batch_size=8, eval_batch_size=16, learning_rate=lr, max_seq_len=32, seed=7, warmup_ratio=0.1)
    torch.manual_seed(p.seed)
    built = RandomDistilBert(size="tiny").build(5)
    setup = setup_for(built.model, total_steps=1)
    model, _ = strategy.apply(built.model, setup)
    sst = load_sst5(tree_dir, verify=False)
    tr, dv = (encode(built.tokenizer, s.texts, s.labels, p.max_seq_len) for s in (sst.train, sst.dev))
    per_epoch = steps_per_epoch(len(tr), p.batch_size)
    total, warmup = 2 * per_epoch, round(0.1 * 2 * per_epoch)
    factor = (total - per_epoch) / (total - warmup)  # the linear schedule after epoch 1
    return train(model, tr, dv, p, torch.device("cpu"), strategy=strategy, setup=setup).epochs[0], lr * factor


def test_llrd_records_the_heads_rate_and_every_groups_rate_largest_first(tree_dir):
    record, head = trained(STRATEGIES["llrd"](decay=0.5), tree_dir)
    assert record["learning_rate_end"] == pytest.approx(head)
    # head, layer 1, layer 0, embeddings: each a group with weight decay and one without (biases, norms)
    assert record["learning_rates_end"] == pytest.approx([head * 0.5**d for d in range(4) for _ in range(2)])


def test_loraplus_records_the_heads_rate_though_b_learns_faster(tree_dir):
    record, head = trained(STRATEGIES["loraplus"](ratio=16.0), tree_dir)
    assert record["learning_rate_end"] == pytest.approx(head)
    assert record["learning_rates_end"][0] == pytest.approx(16.0 * head)
