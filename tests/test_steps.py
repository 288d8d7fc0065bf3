"""The training step behind one interface: the captured path (protocol.cuda_graphs) is checked on CPU
with an emulated backend for its shape handling and for leaving no trace of its warm-up; on a device
without CUDA, or for a strategy that acts between steps, the eager step runs and says why."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from strategy_checks import check_capturable  # tests/ is on sys.path

from tuneoff.data import load_sst5
from tuneoff.models.sources import RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.plan.jobs import identity
from tuneoff.strategies import STRATEGIES, Full, setup_for
from tuneoff.training.batching import collate, encode, train_batches
from tuneoff.training.loop import make_optimizer, train
from tuneoff.training.steps import CapturedStep, EagerStep, Emulated

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(tree_dir, **protocol):
    p = Protocol(epochs=1, batch_size=8, learning_rate=2e-3, max_seq_len=32, static_shapes=8, **protocol)
    torch.manual_seed(3)
    built = RandomDistilBert(size="tiny").build(5)
    model, _ = Full().apply(built.model, setup_for(built.model))
    sst = load_sst5(tree_dir, verify=False)
    data = encode(built.tokenizer, sst.train.texts, sst.train.labels, p.max_seq_len, p.static_shapes)
    return model, data, p


def steps_of(step_kind, tree_dir, batches: int, warmup_runs: int = 1):
    """Losses and final weights after ``batches`` steps (dropout on, so the random stream matters too)."""
    model, data, p = tiny(tree_dir)
    model.train()
    optimizer = make_optimizer(model, p)
    hooks = (Full(), setup_for(model))
    step = (
        EagerStep(model, model, optimizer, p, hooks)
        if step_kind == "eager"
        else CapturedStep(model, model, optimizer, p, hooks, Emulated(optimizer, warmup_runs))
    )
    torch.manual_seed(11)
    losses = []
    for index in train_batches(data.lengths(), p.batch_size, 1, seed=5)[:batches]:
        losses.append(float(step(collate(data, index), index)))
        step.end()
    return losses, [q.detach().clone() for q in model.parameters()], step


@pytest.mark.parametrize("warmup_runs", [1, 3])
def test_the_captured_path_trains_exactly_as_the_eager_step(tree_dir, warmup_runs):
    eager_losses, eager_weights, _ = steps_of("eager", tree_dir, 12)
    losses, weights, step = steps_of("captured", tree_dir, 12, warmup_runs)
    assert losses == eager_losses  # warm-up runs left no trace in weights, optimizer state or dropout masks
    assert all(torch.equal(a, b) for a, b in zip(weights, eager_weights))
    assert step.record == {"path": "captured", "eager_reason": None, "graphs": len(step.graphs), "passes_per_step": 1}


def test_one_capture_per_batch_shape_and_static_buffers_reused(tree_dir):
    model, data, p = tiny(tree_dir)
    optimizer = make_optimizer(model, p)
    captures = []

    class Counting(Emulated):
        def capture(self, fn):
            captures.append(1)
            return super().capture(fn)

    step = CapturedStep(model, model, optimizer, p, (Full(), setup_for(model)), Counting(optimizer))
    batches = train_batches(data.lengths(), p.batch_size, 1, seed=5)
    shapes = [tuple(collate(data, i)["input_ids"].shape) for i in batches]
    for index in batches:
        step(collate(data, index), index)
        step.end()
    assert len(captures) == len(step.graphs) == len(set(shapes)) < len(shapes)
    assert all(width % 8 == 0 for _, width in step.graphs)  # static shapes: widths are multiples of 8
    static, _ = step.graphs[shapes[-1]]
    assert torch.equal(static["input_ids"], collate(data, batches[-1])["input_ids"])  # the last batch was copied in


def test_without_cuda_the_eager_step_runs_and_the_result_says_why(tree_dir):
    model, data, p = tiny(tree_dir, cuda_graphs=True)
    out = train(model, data, data, p, CPU)
    assert out.step == {
        "path": "eager",
        "graphs": 0,
        "passes_per_step": 1,
        "eager_reason": "protocol.cuda_graphs needs CUDA; this player ran on cpu",
    }
    model, data, p = tiny(tree_dir)
    assert train(model, data, data, p, CPU).step == {
        "path": "eager",
        "eager_reason": None,
        "graphs": 0,
        "passes_per_step": 1,
    }


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_strategy_runs_captured_exactly_when_its_class_declares_it_capturable(name):
    check_capturable(name)


def test_captured_steps_need_static_shapes_and_exclude_compile():
    with pytest.raises(ValidationError, match="static_shapes > 0"):
        Protocol(cuda_graphs=True, static_shapes=0)
    with pytest.raises(ValidationError, match="choose one"):
        Protocol(cuda_graphs=True, static_shapes=16, compile=True)


@pytest.mark.parametrize(
    ("asked", "device", "settled"),
    [
        ({}, "cuda", (True, 16)),  # the CUDA default: captured steps, padded to multiples of 16
        ({}, "cpu", (False, 0)),
        ({}, "mps", (False, 0)),
        ({"cuda_graphs": False}, "cuda", (False, 0)),
        ({"static_shapes": 32}, "cuda", (True, 32)),
        ({"static_shapes": 8}, "cpu", (False, 8)),
        ({"compile": True}, "cuda", (False, 0)),  # compile chosen: no capture
        ({"cuda_graphs": True}, "cpu", (True, 16)),  # asked for: the eager step runs and says why
    ],
)
def test_device_defaults_settle_to_captured_steps_on_cuda_only(asked, device, settled):
    p = Protocol(**asked).on(device)
    assert (p.cuda_graphs, p.static_shapes) == settled


def test_the_new_key_changes_no_older_identity():
    from tuneoff.data import DATASETS
    from tuneoff.plan.config import Player

    player = Player(name="a", model={"kind": "random", "size": "tiny"}, strategy={"name": "full"})
    spec, sha = DATASETS["sst5"](), {"train": "x"}
    plain = identity(player, Protocol(static_shapes=16), spec, sha)
    assert "cuda_graphs" not in plain["protocol"]  # results recorded before the key existed stay current
    # unset (the device decides) is written as what older results recorded: they stay current
    assert identity(player, Protocol(), spec, sha) == identity(
        player, Protocol(cuda_graphs=False, static_shapes=0), spec, sha
    )
    assert identity(player, Protocol(), spec, sha)["protocol"]["static_shapes"] == 0
    captured = identity(player, Protocol(static_shapes=16, cuda_graphs=True), spec, sha)
    assert captured["protocol"]["cuda_graphs"] is True


def test_captured_scoring_gives_the_eager_scores_and_captures_each_shape_once(tree_dir):
    from tuneoff.training.evaluate import score
    from tuneoff.training.steps import CapturedForward

    model, data, p = tiny(tree_dir)
    eager = score(model, data, 16, CPU)
    forward = CapturedForward(model, Emulated())
    for _ in range(2):  # the second pass replays what the first captured
        captured = score(model, data, 16, CPU, forward=forward)
        assert captured.loss == eager.loss and (captured.predictions == eager.predictions).all()
    widths = {len(x) for x in data.ids}
    assert 1 < len(forward.graphs) <= len(widths) and all(w % 8 == 0 for _, w in forward.graphs)
