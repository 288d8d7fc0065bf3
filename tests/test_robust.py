"""strategies/robust.py, pinned against the papers' equations: LP-FT's converged probe and full fine-tuning budget,
Mixout's per-neuron mixing, NoisyTune's noise, and label smoothing's loss. (Child-Tuning: tests/test_childtune.py;
trainable sets, learning one batch and checkpoints: tests/test_strategies.py.)"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from strategy_checks import LABELS, TEXTS, batch
from test_strategies import tiny

from tuneoff.data import load_sst5
from tuneoff.plan.config import Protocol
from tuneoff.strategies import STRATEGIES, setup_for
from tuneoff.strategies.robust import Lpft, mixout
from tuneoff.training import loop


def trainable(model) -> set[str]:
    return {n for n, q in model.named_parameters() if q.requires_grad}


def is_head(name: str) -> bool:  # DistilBERT's head
    return name.startswith(("pre_classifier.", "classifier."))


def inputs(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "labels"}


# --- LP-FT ---------------------------------------------------------------------------------------------


def sst_batches(tree_dir, tok, size: int = 16) -> list[dict]:
    """The SST-shaped training split written by the test, in batches as the runner hands them."""
    split = load_sst5(tree_dir, verify=False).train
    out = []
    for start in range(0, len(split.texts), size):
        encoded = tok(split.texts[start : start + size], padding=True, return_tensors="pt")
        out.append({**encoded, "labels": torch.tensor(split.labels[start : start + size])})
    return out


def seen_by(layer, model, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``layer`` receives over the batches, the model in eval mode (the probe's frozen features), and labels."""
    features = []
    hook = layer.register_forward_pre_hook(lambda m, args: features.append(args[0].detach().double()))
    model.eval()
    with torch.no_grad():
        for b in batches:
            model(**inputs(b))
    hook.remove()
    return torch.cat(features), torch.cat([b["labels"] for b in batches])


def probe_objective(weight, bias, x, y, c: float) -> torch.Tensor:
    """L2-regularised multinomial logistic regression: C · Σ CE + ½ ‖W‖² (bias unpenalised)."""
    return c * F.cross_entropy(x @ weight.T + bias, y, reduction="sum") + 0.5 * (weight**2).sum()


def lbfgs_optimum(x, y, classes: int, c: float) -> float:
    """The objective's minimum, found independently of scikit-learn with torch's L-BFGS from zero."""
    weight = torch.zeros(classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    solver = torch.optim.LBFGS(
        [weight, bias],
        max_iter=5000,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        solver.zero_grad()
        value = probe_objective(weight, bias, x, y, c)
        value.backward()
        return value

    solver.step(closure)
    return probe_objective(weight, bias, x, y, c).item()


@pytest.mark.parametrize(("arch", "final"), [("distilbert", "classifier"), ("roberta", "classifier.out_proj")])
def test_lpft_fits_a_converged_probe_on_the_features_the_last_linear_layer_sees(tree_dir, arch, final):
    """Kumar et al.'s first stage: the head's last linear layer at the L-BFGS optimum of logistic regression on the
    frozen features it receives (DistilBERT: after the fresh pre_classifier; RoBERTa: the head's out_proj)."""
    model, tok = tiny(arch)
    batches, C = sst_batches(tree_dir, tok), 100.0  # weak regularisation: the optimum is far from a fresh head
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    frozen = copy.deepcopy(model)
    x, y = seen_by(frozen.get_submodule(final), frozen, batches)
    setup = setup_for(model, total_steps=8)
    setup.train_batches = lambda: batches
    model, warnings = STRATEGIES["lpft"](probe_c=C).apply(model, setup)
    layer = model.get_submodule(final)
    got = probe_objective(layer.weight.detach().double(), layer.bias.detach().double(), x, y, C).item()
    optimum = lbfgs_optimum(x, y, layer.out_features, C)
    at_init = probe_objective(before[f"{final}.weight"].double(), before[f"{final}.bias"].double(), x, y, C).item()
    assert warnings == [] and got <= optimum * 1.01, (got, optimum)
    assert at_init > optimum * 1.03  # a fresh head is well outside the 1 %: the test can tell
    changed = {n for n, q in model.named_parameters() if not torch.equal(q, before[n])}
    assert changed == {f"{final}.weight", f"{final}.bias"}  # the probe moves nothing else
    assert all(q.requires_grad for q in model.parameters())  # then every weight fine-tunes


def test_lpft_fine_tunes_every_weight_from_the_first_step_over_the_whole_schedule(tree_dir, monkeypatch):
    """The fine-tuning stage gets the protocol's whole budget: all the steps, with its warm-up and linear decay."""
    from tuneoff.models.sources import RandomDistilBert
    from tuneoff.training.batching import encode

    p = Protocol(epochs=2, batch_size=16, learning_rate=1e-3, max_seq_len=32, warmup_ratio=0.25)
    torch.manual_seed(0)
    built = RandomDistilBert(size="tiny").build(5)
    sst = load_sst5(tree_dir, verify=False)
    train_set, dev_set = (encode(built.tokenizer, s.texts, s.labels, p.max_seq_len) for s in (sst.train, sst.dev))
    setup = setup_for(built.model, total_steps=8)
    setup.steps_per_epoch = 4
    setup.train_batches = lambda: sst_batches(tree_dir, built.tokenizer)
    strategy = STRATEGIES["lpft"]()
    model, _ = strategy.apply(built.model, setup)
    schedules, moved = [], []
    real = loop.linear_schedule
    monkeypatch.setattr(loop, "linear_schedule", lambda opt, w, t: schedules.append((w, t)) or real(opt, w, t))
    encoder = model.distilbert.transformer.layer[0].ffn.lin1.weight
    last = [encoder.detach().clone()]

    def after_step(self, model, setup, step):
        moved.append(not torch.equal(encoder, last[0]))
        last[0] = encoder.detach().clone()

    monkeypatch.setattr(Lpft, "after_step", after_step)
    loop.train(model, train_set, dev_set, p, torch.device("cpu"), strategy=strategy, setup=setup)
    assert schedules == [(2, 8)]  # the loop's warm-up and decay over all 8 steps
    assert moved == [True] * 8  # the encoder trains from the first step


# --- Mixout --------------------------------------------------------------------------------------------


def mixed_weight(layer, x_eye) -> torch.Tensor:
    """The weight a training forward pass used (out x in), read through the identity input."""
    return (layer(x_eye) - layer.bias).T


def test_mixout_replaces_every_pretrained_linear_and_keeps_the_state_dict_keys():
    model, _ = tiny("bert")
    keys = set(model.state_dict())
    model, _ = STRATEGIES["mixout"](p=0.5).apply(model, setup_for(model))
    mixed = {n for n, m in model.named_modules() if type(m).__name__ == "MixoutLinear"}
    linears = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert mixed == {n for n in linears if n.startswith(("bert.encoder.layer.", "bert.pooler."))}
    assert "classifier" in linears - mixed and len(mixed) == 2 * 6 + 1  # 2 layers of 6 Linears, the pooler
    assert set(model.state_dict()) == keys


@pytest.mark.parametrize(
    ("dropout", "inside", "outside"), [("off", 0.0, 0.0), ("layers", 0.0, 0.1), ("model", 0.1, 0.1)]
)
def test_mixout_sets_dropout_as_asked(dropout, inside, outside):
    model, _ = tiny("distilbert")
    model, _ = STRATEGIES["mixout"](p=0.5, dropout=dropout).apply(model, setup_for(model))
    dropouts = {n: m.p for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}
    layers = [n for n in dropouts if n.startswith("distilbert.transformer.layer.")]
    assert layers and all(dropouts[n] == inside for n in layers)
    assert dropouts["distilbert.embeddings.dropout"] == outside
    assert dropouts["dropout"] == (0.0 if dropout == "off" else model.config.seq_classif_dropout)  # the head's


def test_mixout_with_p_zero_and_the_models_dropout_is_the_plain_model():
    model, tok = tiny("distilbert")
    plain = copy.deepcopy(model)
    model, _ = STRATEGIES["mixout"](p=0.0, dropout="model").apply(model, setup_for(model))
    data = batch()
    model.train()
    plain.train()
    torch.manual_seed(5)
    got = model(**inputs(data)).logits
    torch.manual_seed(5)  # the same dropout masks
    want = plain(**inputs(data)).logits
    assert torch.equal(got, want)


def test_mixout_drops_whole_input_neurons_towards_their_pretrained_weights():
    """Lee et al. / the official code: one Bernoulli draw per input neuron; a dropped neuron's whole column of
    outgoing weights takes the pretrained values u, a kept one is (w - p u) / (1 - p); at eval, w."""
    model, _ = tiny("distilbert")
    p = 0.5
    model, _ = STRATEGIES["mixout"](p=p).apply(model, setup_for(model))
    layer = model.distilbert.transformer.layer[0].ffn.lin1
    u = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(torch.randn_like(layer.weight))  # training has moved the weights
    w = layer.weight.detach().clone()
    eye = torch.eye(layer.in_features)
    layer.train()
    torch.manual_seed(11)
    mixed = mixed_weight(layer, eye)
    dropped = torch.isclose(mixed, u, atol=1e-5).all(0)  # per column
    kept = torch.isclose(mixed, (w - p * u) / (1 - p), atol=1e-5).all(0)
    assert (dropped ^ kept).all() and 0 < dropped.sum() < layer.in_features  # each column wholly one or the other
    keep = kept.to(w.dtype)  # the paper's mixout(u, p) with this mask, written out
    assert torch.allclose(mixed, (keep * w + (1 - keep) * u - p * u) / (1 - p), atol=1e-5)
    assert torch.allclose(mixout(w, u, keep, p), mixed, atol=1e-5)
    draws = torch.stack([mixed_weight(layer, eye).detach() for _ in range(3000)])
    assert (draws.mean(0) - w).abs().max() < 0.15  # its expectation is w (std of the mean here: ~0.02)
    layer.eval()
    assert torch.allclose(mixed_weight(layer, eye), w, atol=1e-5)


def test_mixout_passes_the_gradient_through_the_kept_neurons_as_the_official_code():
    """The official backward: the weight's gradient is the mixed weight's gradient times the neuron mask."""
    model, _ = tiny("distilbert")
    model, _ = STRATEGIES["mixout"](p=0.7).apply(model, setup_for(model))
    layer = model.distilbert.transformer.layer[0].ffn.lin1
    with torch.no_grad():
        layer.weight.add_(torch.randn_like(layer.weight))  # trained away from the pretrained weights
    eye = torch.eye(layer.in_features)
    layer.train()
    torch.manual_seed(2)
    upstream = torch.randn(layer.in_features, layer.out_features)
    mixed = mixed_weight(layer, eye)
    (mixed.T * upstream).sum().backward()
    keep = ~torch.isclose(mixed.detach(), layer.target, atol=1e-6).all(0)
    assert 0 < keep.sum() < layer.in_features
    assert torch.allclose(layer.weight.grad, upstream.T * keep, atol=1e-6)


# --- NoisyTune -----------------------------------------------------------------------------------------


def test_noisytune_noise_stays_within_half_lambda_std_of_each_tensor_and_spares_the_head():
    model, _ = tiny("distilbert")
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    torch.manual_seed(0)
    model, _ = STRATEGIES["noisytune"](intensity=0.3).apply(model, setup_for(model))
    for name, q in model.named_parameters():
        delta = (q.detach() - before[name]).abs()
        if is_head(name):
            assert torch.equal(q, before[name]), name
            continue
        bound = 0.3 / 2 * before[name].std()  # U(-λ/2, λ/2) · std(W)
        assert delta.max() <= bound * (1 + 1e-5) + 1e-7, name
        if bound > 0:  # noise of that width, not a token amount: its spread uses most of the interval
            assert delta.max() > 0.8 * bound, name
    assert trainable(model) == set(before)


def test_noisytune_is_fixed_by_the_seed():
    def noised(seed: int):
        model, _ = tiny("distilbert")
        torch.manual_seed(seed)
        model, _ = STRATEGIES["noisytune"]().apply(model, setup_for(model))
        return model.distilbert.transformer.layer[1].attention.q_lin.weight.detach()

    assert torch.equal(noised(3), noised(3))
    assert not torch.equal(noised(3), noised(4))


# --- the training set, as strategies get it --------------------------------------------------------


def test_the_runner_hands_strategies_the_whole_training_set_in_batches():
    from tuneoff.run.build import training_batches

    _, tok = tiny("distilbert")
    split = SimpleNamespace(texts=TEXTS, labels=LABELS)
    batches = list(training_batches(split, tok, Protocol(batch_size=4), torch.device("cpu"))())
    assert [len(b["labels"]) for b in batches] == [4, 2]
    assert sorted(torch.cat([b["labels"] for b in batches]).tolist()) == sorted(LABELS)
    assert training_batches(None, tok, Protocol(), torch.device("cpu")) is None


# --- Label smoothing -----------------------------------------------------------------------------------


def test_label_smoothing_loss_is_torchs_smoothed_cross_entropy():
    model, tok = tiny("distilbert")
    setup = setup_for(model)
    strategy = STRATEGIES["label_smoothing"](smoothing=0.2)
    model, _ = strategy.apply(model, setup)
    model.eval()
    with torch.no_grad():
        model.classifier.weight.mul_(300.0)  # confident logits, where smoothing matters
    data = batch()
    logits = model(**inputs(data)).logits
    got = strategy.loss(model, data, torch.arange(len(LABELS)), setup)
    assert torch.allclose(got, F.cross_entropy(logits, data["labels"], label_smoothing=0.2), atol=1e-6)
    assert not torch.allclose(got, F.cross_entropy(logits, data["labels"]), atol=1e-4)
    assert strategy.capture_blocker() is None  # its loss reads the batch alone


def test_robust_strategies_keep_their_steps_capturable():
    """LP-FT's probe is fitted before training; Mixout's masks, Child-Tuning's masks and the smoothed loss all run
    inside one step."""
    names = ("lpft", "mixout", "noisytune", "childtune", "childtune_f", "label_smoothing")
    assert all(STRATEGIES[n](**STRATEGIES[n].example).capture_blocker() is None for n in names)
