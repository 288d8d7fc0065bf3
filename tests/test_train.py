import math
import time

import pytest
import torch

from tuneoff.data import load_sst5
from tuneoff.models.sources import RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.strategies import Full, setup_for
from tuneoff.training.batching import encode, train_batches
from tuneoff.training.loop import NonFiniteLoss, linear_schedule, make_optimizer, train, warm_up_kernels

CPU = torch.device("cpu")


def setup(tree_dir, seed=7, **protocol):
    p = Protocol(epochs=3, batch_size=8, eval_batch_size=16, learning_rate=2e-3, max_seq_len=32, seed=seed, **protocol)
    torch.manual_seed(p.seed)
    built = RandomDistilBert(size="tiny").build(5)
    model, _ = Full().apply(built.model, setup_for(built.model))
    sst = load_sst5(tree_dir, verify=False)
    tr, dv = (encode(built.tokenizer, s.texts, s.labels, p.max_seq_len) for s in (sst.train, sst.dev))
    return model, tr, dv, p


def test_seeded_run_is_reproducible_and_learns(tree_dir):
    torch.set_num_threads(1)
    model, tr, dv, p = setup(tree_dir)
    first = train(model, tr, dv, p, CPU)
    model, tr, dv, p = setup(tree_dir)
    second = train(model, tr, dv, p, CPU)
    assert first.steps == second.steps
    assert [e["dev_loss"] for e in first.epochs] == [e["dev_loss"] for e in second.epochs]
    losses = [e["train_loss"] for e in first.epochs]
    assert losses[-1] < losses[0] < math.log(5) + 0.3
    assert len(first.epochs) == 3 and first.train_samples == 3 * len(tr)
    assert first.steps[-1][0] == 3 * math.ceil(len(tr) / 8)
    # one timed window per loss record: its steps, samples and seconds (the speed bonus's steady time)
    assert [w[0] for w in first.windows] == [b[0] - a[0] for a, b in zip([[0]] + first.steps, first.steps)]
    assert sum(w[1] for w in first.windows) == first.train_samples and all(w[2] > 0 for w in first.windows)


def test_first_losses_are_pinned(tree_dir):
    """Pins the loop's arithmetic (init, batching, schedule, AdamW); update only on purpose."""
    torch.set_num_threads(1)
    model, tr, dv, p = setup(tree_dir)
    out = train(model, tr, dv, p, CPU)
    assert [round(s[1], 4) for s in out.steps[:3]] == PINNED


PINNED = [1.6087, 1.6007, 1.5937]


def test_kernel_warm_up_changes_nothing_and_takes_one_batch_per_width_on_cuda(tree_dir, monkeypatch):
    """The warm-up before the timed epoch must leave training exactly as it would have been."""
    import tuneoff.training.loop as loop

    torch.set_num_threads(1)
    monkeypatch.setattr(loop, "warm_up_kernels", lambda *a: 0.0)
    model, tr, dv, p = setup(tree_dir)
    without = train(model, tr, dv, p, CPU)
    assert without.kernel_warmup_seconds == 0.0
    monkeypatch.undo()

    model, tr, dv, p = setup(tree_dir)
    batches = train_batches(tr.lengths(), p.batch_size, p.bucket_batches, p.seed + 1)
    widths = sorted({max(len(tr.ids[i]) for i in b) for b in batches})
    assert len(widths) >= 2  # so that CPU (one batch) and CUDA (every width) differ
    seen = []
    hook = model.distilbert.embeddings.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[1]))
    backward = []  # the warm-up does run a backward pass: gradients are computed, then dropped
    grad_hook = model.classifier.weight.register_hook(lambda g: backward.append(g.abs().sum().item()))
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    rng = torch.get_rng_state()
    started = time.perf_counter()
    seconds = warm_up_kernels(model.train(), tr, batches, CPU, None)
    elapsed = time.perf_counter() - started
    assert isinstance(seconds, float) and 0 < seconds <= elapsed  # its own passes, timed in seconds
    assert seen == [widths[-1]]  # CPU: the widest batch only
    assert len(backward) == 1 and backward[0] > 0
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(q.grad is None for q in model.parameters())
    assert all(torch.equal(q, before[n]) for n, q in model.named_parameters())

    hook.remove()
    grad_hook.remove()
    cuda = loop.warm_up_batches(tr, batches, "cuda")
    assert sorted(max(len(tr.ids[i]) for i in b) for b in cuda) == widths

    # The real warm-up runs; what it reports is recorded as is, and never added to the timed epochs.
    real_warm_up = loop.warm_up_kernels
    monkeypatch.setattr(loop, "warm_up_kernels", lambda *a: real_warm_up(*a) * 0 + 1000.0)
    with_warm_up = train(model, tr, dv, p, CPU)
    assert with_warm_up.kernel_warmup_seconds == 1000.0
    assert with_warm_up.train_seconds == sum(e["train_seconds"] for e in with_warm_up.epochs) < 1000.0
    assert with_warm_up.steps == without.steps
    assert with_warm_up.epochs[-1]["dev_loss"] == without.epochs[-1]["dev_loss"]


def test_best_epoch_weights_are_restored(tree_dir, monkeypatch):
    import tuneoff.training.loop as loop

    accuracies = iter([0.2, 0.6, 0.4])
    snapshots = []
    real_score = loop.score

    def fake_score(model, *args, **kwargs):
        scored = real_score(model, *args, **kwargs)
        snapshots.append({n: q.detach().clone() for n, q in model.named_parameters()})
        acc = next(accuracies)
        return _Fixed(scored, acc)

    monkeypatch.setattr(loop, "score", fake_score)
    model, tr, dv, p = setup(tree_dir)
    out = train(model, tr, dv, p, CPU)
    assert out.best_epoch == 2
    assert [e["dev_accuracy"] for e in out.epochs] == [0.2, 0.6, 0.4]
    for n, q in model.named_parameters():
        assert torch.equal(q, snapshots[1][n]), n
    assert not torch.equal(next(iter(snapshots[2].values())), next(iter(snapshots[1].values())))


class _Fixed:
    def __init__(self, scored, accuracy):
        self.loss, self._acc = scored.loss, accuracy

    def accuracy(self, labels):
        return self._acc


def test_non_finite_loss_stops_the_player(tree_dir):
    model, tr, dv, p = setup(tree_dir)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLoss, match="epoch 1"):
        train(model, tr, dv, p, CPU)


def test_optimizer_holds_only_trainable_parameters_and_skips_decay_on_norms():
    torch.manual_seed(0)
    model = RandomDistilBert(size="tiny").build(5).model
    for q in model.distilbert.parameters():
        q.requires_grad_(False)
    opt = make_optimizer(model, Protocol(weight_decay=0.1))
    held = {id(q) for g in opt.param_groups for q in g["params"]}
    assert held == {id(q) for q in model.parameters() if q.requires_grad}
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and all(q.ndim == 2 for q in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(q.ndim == 1 for q in no_decay["params"])


def test_linear_schedule_warms_up_then_decays_to_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_schedule(opt, warmup=2, total=10)
    seen = []
    for _ in range(10):
        seen.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert seen[:3] == [0.5, 1.0, 1.0]
    assert seen[-1] == pytest.approx(0.125) and sched.get_last_lr()[0] == 0.0


def test_compile_is_opt_in_and_wraps_the_model(tree_dir, monkeypatch):
    calls = []

    def fake_compile(model, **kwargs):
        calls.append(kwargs)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    model, tr, dv, p = setup(tree_dir)
    train(model, tr, dv, p.model_copy(update={"epochs": 1}), CPU)
    assert calls == []
    train(model, tr, dv, p.model_copy(update={"epochs": 1, "compile": True}), CPU)
    assert calls == [{"dynamic": True}]
