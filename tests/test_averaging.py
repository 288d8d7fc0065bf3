"""EMA, SWA, WiSE-FT and SAM pinned against hand computations: the averages the loop scores, keeps and saves,
WiSE-FT's choice of alpha on dev, and SAM's two-pass step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tuneoff.data import load_sst5
from tuneoff.models.sources import RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.strategies import STRATEGIES, Setup, setup_for
from tuneoff.strategies.averaging import EqualAverage, ExponentialAverage, Sam
from tuneoff.training.batching import encode, steps_per_epoch
from tuneoff.training.evaluate import score
from tuneoff.training.loop import train
from tuneoff.training.steps import EagerStep, eager_reason

CPU = torch.device("cpu")


def weights(model) -> list[torch.Tensor]:
    return [q.detach().clone() for q in model.parameters()]


def same(a: list, b: list, exact: bool = False) -> bool:
    return all((torch.equal(x, y) if exact else torch.allclose(x, y, atol=1e-6)) for x, y in zip(a, b))


def tiny_run(tree_dir, name: str, **options):
    """A tiny random DistilBERT, the SST-5-shaped training set, and its protocol (one epoch, 4 steps)."""
    p = Protocol(epochs=1, batch_size=16, learning_rate=5e-3, max_seq_len=32, static_shapes=8)
    torch.manual_seed(3)
    built = RandomDistilBert(size="tiny").build(5)
    strategy = STRATEGIES[name](**options)
    total = steps_per_epoch(60, p.batch_size) * p.epochs
    setup = Setup(True, setup_for(built.model).roles, total, total)
    model, _ = strategy.apply(built.model, setup)
    sst = load_sst5(tree_dir, verify=False)
    data = [encode(built.tokenizer, s.texts, s.labels, p.max_seq_len, p.static_shapes) for s in (sst.train, sst.dev)]
    return model, data, p, strategy, setup


@pytest.fixture
def snapshots(monkeypatch):
    """The trained weights after every step, as the running average sees them."""
    seen = []
    for cls in (ExponentialAverage, EqualAverage):
        original = cls.after_step

        def recording(self, step, original=original):
            seen.append((step, [q.detach().clone() for q in self.params]))
            original(self, step)

        monkeypatch.setattr(cls, "after_step", recording)
    return seen


def test_ema_is_evaluated_kept_and_left_in_the_model(tree_dir, snapshots):
    model, (train_set, dev_set), p, strategy, setup = tiny_run(tree_dir, "ema", decay=0.7, warmup=False)
    average = weights(model)  # the average starts at the weights before training
    out = train(model, train_set, dev_set, p, CPU, strategy=strategy, setup=setup)
    assert [s for s, _ in snapshots] == [1, 2, 3, 4]
    for _, trained in snapshots:
        average = [0.7 * a + 0.3 * w for a, w in zip(average, trained)]
    assert same(weights(model), average)
    assert not same(weights(model), snapshots[-1][1])  # the average, not the last step's weights
    dev = score(model, dev_set, p.eval_batch_size, CPU)
    assert out.epochs[0]["dev_loss"] == pytest.approx(dev.loss, abs=1e-6)  # dev scored the average too


def test_ema_decay_warms_up_as_tensorflows_num_updates():
    w = torch.nn.Parameter(torch.tensor([0.0]))
    ema = STRATEGIES["ema"](decay=0.9).evaluated(SimpleNamespace(parameters=lambda: [w]), None)
    want = 0.0
    for step, value in enumerate([1.0, 2.0, 4.0, 8.0], start=1):
        with torch.no_grad():
            w.fill_(value)
        ema.after_step(step)
        decay = min(0.9, (1 + step) / (10 + step))  # 2/11, 3/12, 4/13, 5/14
        want = decay * want + (1 - decay) * value
    with ema.swapped_in():
        assert w.item() == pytest.approx(want, abs=1e-6)
    assert w.item() == 8.0  # the trained weight is back after the block


def test_swa_is_the_mean_of_the_snapshots_from_its_start(tree_dir, snapshots):
    model, (train_set, dev_set), p, strategy, setup = tiny_run(tree_dir, "swa", start=0.5)
    out = train(model, train_set, dev_set, p, CPU, strategy=strategy, setup=setup)
    assert setup.total_steps == 4 and [s for s, _ in snapshots] == [1, 2, 3, 4]
    averaged = [trained for step, trained in snapshots if step > 2]  # the second half of the run's 4 steps
    mean = [sum(ws) / len(ws) for ws in zip(*averaged)]
    assert same(weights(model), mean)
    assert not same(weights(model), snapshots[-1][1])
    dev = score(model, dev_set, p.eval_batch_size, CPU)
    assert out.epochs[0]["dev_loss"] == pytest.approx(dev.loss, abs=1e-6)


def test_swa_before_its_start_evaluates_the_trained_weights():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    swa = STRATEGIES["swa"](start=0.5).evaluated(SimpleNamespace(parameters=lambda: [w]), Setup(True, None, 4))
    swa.after_step(1)
    swa.after_step(2)
    with swa.swapped_in():
        assert w.item() == 1.0 and swa.average is None


def wiseft_case(alphas, prefer_pretrained: bool):
    built = RandomDistilBert(size="tiny").build(5)
    strategy = STRATEGIES["wiseft"](alphas=alphas)
    setup = setup_for(built.model)
    model, _ = strategy.apply(built.model, setup)
    evaluated = strategy.evaluated(model, setup)  # before training: it keeps the pretrained weights
    pretrained = dict(model.named_parameters())
    pretrained = {n: q.detach().clone() for n, q in pretrained.items()}
    with torch.no_grad():  # "training": every weight moves
        for q in model.parameters():
            q.add_(0.1)
    finetuned = {n: q.detach().clone() for n, q in model.named_parameters()}
    body = [n for n in pretrained if not n.startswith(("pre_classifier.", "classifier."))]

    def score_dev():
        at_pretrained = all(torch.equal(dict(model.named_parameters())[n], pretrained[n]) for n in body)
        return 0.6 if at_pretrained == prefer_pretrained else 0.4

    report = evaluated.after_training(score_dev)
    now = {n: q.detach() for n, q in model.named_parameters()}
    return report, now, pretrained, finetuned, body


def test_wiseft_alpha_zero_is_the_pretrained_body_with_the_finetuned_head():
    report, now, pretrained, finetuned, body = wiseft_case((0.0, 1.0), prefer_pretrained=True)
    assert report == {"alpha": 0.0, "alphas": [0.0, 1.0], "dev_accuracy": [0.6, 0.4]}
    assert all(torch.equal(now[n], pretrained[n]) for n in body)
    head = [n for n in now if n not in body]
    assert head and all(torch.equal(now[n], finetuned[n]) for n in head)  # the fresh head keeps what it learned


def test_wiseft_picks_the_finetuned_end_when_dev_prefers_it():
    report, now, _, finetuned, _ = wiseft_case((0.0, 1.0), prefer_pretrained=False)
    assert report == {"alpha": 1.0, "alphas": [0.0, 1.0], "dev_accuracy": [0.4, 0.6]}
    assert all(torch.equal(now[n], finetuned[n]) for n in now)


def test_wiseft_interpolates_the_body_and_records_its_choice_through_the_loop(tree_dir):
    model, (train_set, dev_set), p, strategy, setup = tiny_run(tree_dir, "wiseft", alphas=[0.0, 0.5, 1.0])
    out = train(model, train_set, dev_set, p, CPU, strategy=strategy, setup=setup)
    assert out.report["alphas"] == [0.0, 0.5, 1.0] and len(out.report["dev_accuracy"]) == 3
    assert out.report["dev_accuracy"][2] == out.epochs[0]["dev_accuracy"]  # alpha 1: the best epoch's weights
    best = max(out.report["dev_accuracy"])
    chosen = out.report["alpha"]
    assert out.report["dev_accuracy"][out.report["alphas"].index(chosen)] == best
    assert score(model, dev_set, p.eval_batch_size, CPU).accuracy(dev_set.labels) == best  # the chosen one stays


def test_wiseft_refuses_alphas_outside_zero_one():
    with pytest.raises(ValueError, match=r"distinct values in \[0, 1\]"):
        STRATEGIES["wiseft"](alphas=[0.5, 1.5])


class Line(torch.nn.Module):
    """Least squares on a line: what SAM's step can be computed for by hand."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.5, -1.0], dtype=torch.float64))

    def forward(self, input_ids, labels, **_):
        return SimpleNamespace(loss=((input_ids.double() @ self.w - labels) ** 2).mean())


def test_sam_steps_on_the_gradient_at_the_ascent_point():
    x = torch.tensor([[1, 2], [3, 1], [0, 2]])
    y = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    model, rho, lr = Line(), 0.05, 0.1
    w = model.w.detach().clone()

    def gradient(v):
        return 2 / 3 * x.double().T @ (x.double() @ v - y)

    g = gradient(w)
    ascent = w + rho * g / g.norm()
    want = w - lr * gradient(ascent)

    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    p = Protocol(max_grad_norm=0.0)
    step = EagerStep(model, model, optimizer, p, (Sam(rho=rho), None))
    loss = step({"input_ids": x, "labels": y}, torch.arange(3))
    assert loss.item() == pytest.approx(((x.double() @ w - y) ** 2).mean().item())  # the loss at w, not at w + e
    assert torch.allclose(model.w.detach(), want, atol=1e-12)
    assert not torch.allclose(model.w.detach(), w - lr * g, atol=1e-6)  # not the plain step
    assert step.record["passes_per_step"] == 2


def test_sam_records_two_passes_and_runs_eager_where_steps_are_captured(tree_dir):
    model, (train_set, dev_set), p, strategy, setup = tiny_run(tree_dir, "sam")
    out = train(model, train_set, dev_set, p, CPU, strategy=strategy, setup=setup)
    assert out.step["passes_per_step"] == 2
    captured = Protocol(cuda_graphs=True, static_shapes=16)
    assert "strategy sam computes its gradients in more than one pass" in eager_reason(captured, torch.device("cuda"),
                                                                                         strategy)
    assert all(STRATEGIES[n]().capture_blocker() is None for n in ("ema", "swa", "wiseft"))
