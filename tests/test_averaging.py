"""EMA, SWA, WiSE-FT and SAM pinned against the papers' equations: the averages the loop scores, keeps and saves
(EMA's recurrence; SWA's equal mean of its window's snapshots, never the raw weights), SWA's constant or cyclic
rate in the window, WiSE-FT's interpolation of both whole models from a probed start and its choice of alpha on
dev, and SAM's two-pass step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tuneoff.data import load_sst5
from tuneoff.models.sources import RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.strategies import STRATEGIES, Setup, setup_for
from tuneoff.strategies.averaging import ExponentialAverage, Sam, WindowAverage
from tuneoff.training import loop
from tuneoff.training.batching import collate, encode, steps_per_epoch
from tuneoff.training.evaluate import score
from tuneoff.training.loop import train
from tuneoff.training.steps import EagerStep, eager_reason

CPU = torch.device("cpu")


def weights(model) -> list[torch.Tensor]:
    return [q.detach().clone() for q in model.parameters()]


def same(a: list, b: list, exact: bool = False) -> bool:
    return all((torch.equal(x, y) if exact else torch.allclose(x, y, atol=1e-6)) for x, y in zip(a, b))


def tiny_run(tree_dir, name: str, epochs: int = 1, **options):
    """A tiny random DistilBERT, the SST-5-shaped training set, and its protocol (4 steps an epoch)."""
    p = Protocol(epochs=epochs, batch_size=16, learning_rate=5e-3, max_seq_len=32, static_shapes=8)
    torch.manual_seed(3)
    built = RandomDistilBert(size="tiny").build(5)
    strategy = STRATEGIES[name](**options)
    per_epoch = steps_per_epoch(60, p.batch_size)
    setup = Setup(True, setup_for(built.model).roles, per_epoch * p.epochs, per_epoch)
    sst = load_sst5(tree_dir, verify=False)
    data = [encode(built.tokenizer, s.texts, s.labels, p.max_seq_len, p.static_shapes) for s in (sst.train, sst.dev)]
    setup.train_batches = lambda: [collate(data[0], list(range(i, min(i + 16, 60))), CPU) for i in range(0, 60, 16)]
    model, _ = strategy.apply(built.model, setup)
    return model, data, p, strategy, setup


@pytest.fixture
def snapshots(monkeypatch):
    """The trained weights after every step, as the running average sees them."""
    seen = []
    for cls in (ExponentialAverage, WindowAverage):
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


def test_ema_is_torchs_averaged_model():
    from torch.optim.swa_utils import AveragedModel

    w = torch.nn.Parameter(torch.tensor([0.0]))
    ema = STRATEGIES["ema"]().evaluated(SimpleNamespace(parameters=lambda: [w]), None)
    assert isinstance(ema.average, AveragedModel)


def test_swa_keeps_the_mean_of_its_window_never_the_raw_weights(tree_dir, snapshots, monkeypatch):
    """Two epochs of 4 steps, the window from step 5: epoch 1 scores best on dev (forced) but holds no average, so
    it is recorded, never kept; what is kept and left in the model is the equal mean of the weights after steps
    5..8, and the window runs at the SWA rate."""
    model, (train_set, dev_set), p, strategy, setup = tiny_run(tree_dir, "swa", epochs=2, start=0.5, swa_lr=0.25)
    scores = iter([0.9, 0.1])
    real = loop.evaluate_epoch

    def rigged(*args, **kwargs):  # the dev accuracy the test chooses; the rest as measured
        return {**real(*args, **kwargs), "dev_accuracy": next(scores, 0.0)}

    monkeypatch.setattr(loop, "evaluate_epoch", rigged)
    out = train(model, train_set, dev_set, p, CPU, strategy=strategy, setup=setup)
    assert [s for s, _ in snapshots] == list(range(1, 9))
    window = [trained for step, trained in snapshots if step >= 5]
    mean = [sum(ws) / len(ws) for ws in zip(*window)]
    assert out.best_epoch == 2 and [e["dev_accuracy"] for e in out.epochs] == [0.9, 0.1]
    assert same(weights(model), mean)
    assert not same(weights(model), snapshots[-1][1]) and not same(weights(model), snapshots[3][1])
    assert out.epochs[1]["learning_rate_end"] == pytest.approx(0.25 * p.learning_rate)  # the SWA rate


def swa_rates(options: dict, total: int = 20, warmup: int = 2, peak: float = 1.0) -> list[float]:
    """The learning rate of each of the run's steps under the strategy's schedule."""
    w = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([w], lr=peak)
    schedule = STRATEGIES["swa"](**options).schedule(optimizer, warmup, total)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_swa_runs_its_window_at_a_constant_rate_after_the_reference_schedule():
    """Izmailov et al.'s reference schedule before the window (s = 10 steps here): warm-up, the peak until s/2,
    a linear fall to the SWA rate r by 0.9 s; then r, constant, through the window."""
    r, s = 0.2, 10
    rates = swa_rates({"start": 0.5, "swa_lr": r})

    def reference(k: int) -> float:  # k: steps done before this one
        if k >= s:
            return r
        if k < 2:
            return (k + 1) / 2
        t = k / s
        return 1.0 if t <= 0.5 else (1 - (1 - r) * (t - 0.5) / 0.4 if t <= 0.9 else r)

    assert rates == pytest.approx([reference(k) for k in range(20)])
    assert rates[s:] == pytest.approx([r] * 10)


def test_swa_cyclic_window_follows_the_papers_cycle():
    """Eq. 1 of Izmailov et al.: in the window, step i runs at (1 - t) α1 + t α2, t = (mod(i - 1, c) + 1) / c."""
    r, c = 0.1, 4
    rates = swa_rates({"start": 0.6, "swa_lr": r, "window": "cyclic", "cycle": c})
    window = rates[12:]
    want = [(1 - t) + t * r for t in (((i - 1) % c + 1) / c for i in range(1, 9))]
    assert window == pytest.approx(want)
    assert window[3] == pytest.approx(r) and window[4] == pytest.approx(1 - 0.25 * (1 - r))


def test_swa_averages_at_the_end_of_each_cycle_and_evaluates_nothing_before_its_first_snapshot():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    swa = STRATEGIES["swa"](start=0.5, cycle=2).evaluated(SimpleNamespace(parameters=lambda: [w]), Setup(True, None, 8))
    for step, value in enumerate([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], start=1):
        with torch.no_grad():
            w.fill_(value)
        swa.after_step(step)
        if step == 5:
            assert not swa.keepable()  # no snapshot yet: the trained weights, and never kept
            with swa.swapped_in():
                assert w.item() == 5.0
    assert swa.keepable()
    with swa.swapped_in():
        assert w.item() == pytest.approx((6.0 + 8.0) / 2)  # after window steps 2 and 4: the cycles' ends
    with pytest.raises(ValueError, match="no snapshot would be taken"):
        STRATEGIES["swa"](start=0.9, cycle=3).apply(
            RandomDistilBert(size="tiny").build(5).model, setup_for(RandomDistilBert(size="tiny").build(5).model, 20)
        )


def wiseft_case(tree_dir, alphas, prefer: float):
    """WiSE-FT's choice after a pretend training run in which every weight moved by 0.1; dev prefers the model at
    alpha ``prefer`` (0.6 there, 0.4 elsewhere)."""
    model, _, _, strategy, setup = tiny_run(tree_dir, "wiseft", alphas=alphas)
    evaluated = strategy.evaluated(model, setup)  # before training: it keeps the start point
    start = {n: q.detach().clone() for n, q in model.named_parameters()}
    with torch.no_grad():
        for q in model.parameters():
            q.add_(0.1)
    finetuned = {n: q.detach().clone() for n, q in model.named_parameters()}

    def score_dev():
        preferred = {n: (1 - prefer) * start[n] + prefer * finetuned[n] for n in start}
        return 0.6 if all(torch.allclose(q, preferred[n], atol=1e-6) for n, q in model.named_parameters()) else 0.4

    report = evaluated.after_training(score_dev)
    return report, {n: q.detach() for n, q in model.named_parameters()}, start, finetuned


def test_wiseft_alpha_below_one_is_the_interpolation_of_both_whole_models(tree_dir):
    """θ_α = (1 - α) θ_start + α θ_fine-tuned for every weight, the head's included."""
    report, now, start, finetuned = wiseft_case(tree_dir, (0.5, 1.0), prefer=0.5)
    assert report == {"alpha": 0.5, "alphas": [0.5, 1.0], "dev_accuracy": [0.6, 0.4]}
    for name, q in now.items():
        assert torch.allclose(q, 0.5 * start[name] + 0.5 * finetuned[name], atol=1e-6), name
    assert torch.allclose(now["classifier.weight"], start["classifier.weight"] + 0.05, atol=1e-6)  # the head too


def test_wiseft_alpha_zero_is_the_start_point_and_picks_the_finetuned_end_when_dev_prefers_it(tree_dir):
    report, now, start, _ = wiseft_case(tree_dir, (0.0, 1.0), prefer=0.0)
    assert report["alpha"] == 0.0 and all(torch.equal(now[n], start[n]) for n in now)
    report, now, _, finetuned = wiseft_case(tree_dir, (0.0, 1.0), prefer=1.0)
    assert report == {"alpha": 1.0, "alphas": [0.0, 1.0], "dev_accuracy": [0.4, 0.6]}
    assert all(torch.equal(now[n], finetuned[n]) for n in now)


def test_wiseft_starts_from_the_linear_probe_head(tree_dir):
    """WiSE-FT's start point: the pretrained body with LP-FT's probe as its head (reused, not a second fit)."""
    wiseft, *_ = tiny_run(tree_dir, "wiseft", probe_c=3.0)
    lpft, *_ = tiny_run(tree_dir, "lpft", probe_c=3.0)
    plain, *_ = tiny_run(tree_dir, "full")
    for name, q in wiseft.named_parameters():
        assert torch.equal(q, dict(lpft.named_parameters())[name]), name
    assert not torch.equal(wiseft.classifier.weight, plain.classifier.weight)
    assert torch.equal(wiseft.pre_classifier.weight, plain.pre_classifier.weight)  # the rest as built


def test_wiseft_interpolates_and_records_its_choice_through_the_loop(tree_dir):
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
    assert "strategy sam computes its gradients in more than one pass" in eager_reason(
        captured, torch.device("cuda"), strategy
    )
    assert all(STRATEGIES[n]().capture_blocker() is None for n in ("ema", "swa", "wiseft"))  # schedule: safe
