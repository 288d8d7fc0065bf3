"""strategies/robust.py, pinned: LP-FT's switch, Mixout's mixing, NoisyTune's noise, Child-Tuning's mask, and
label smoothing's loss. (Trainable sets, learning one batch and checkpoints: tests/test_strategies.py.)"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from test_strategies import LABELS, TEXTS, batch, tiny
from tuneoff.plan.config import Protocol
from tuneoff.strategies import STRATEGIES, setup_for
from tuneoff.strategies.robust import child_masks, fisher_information, mixout


def trainable(model) -> set[str]:
    return {n for n, q in model.named_parameters() if q.requires_grad}


def is_head(name: str) -> bool:  # DistilBERT's head
    return name.startswith(("pre_classifier.", "classifier."))


def inputs(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "labels"}


# --- LP-FT ---------------------------------------------------------------------------------------------


def test_lpft_trains_the_head_alone_until_the_switch_step_then_everything():
    model, tok = tiny("distilbert")
    setup = setup_for(model, total_steps=10)
    strategy = STRATEGIES["lpft"](probe_fraction=0.3)  # round(0.3 * 10) = 3 steps of probing
    model, _ = strategy.apply(model, setup)
    everything = {n for n, _ in model.named_parameters()}
    head = {n for n in everything if is_head(n)}
    p = Protocol(learning_rate=1e-2, weight_decay=0.0)
    from tuneoff.training.loop import make_optimizer

    optimizer = make_optimizer(model, p, strategy.parameters(model, setup))
    assert {id(q) for g in optimizer.param_groups for q in g["params"]} == {id(q) for q in model.parameters()}
    data = batch(tok)
    encoder = model.distilbert.transformer.layer[0].ffn.lin1.weight
    start = encoder.detach().clone()
    strategy.before_epoch(model, setup, 1)
    for step in range(1, 6):
        assert trainable(model) == (head if step <= 3 else everything), step
        model(**data).loss.backward()
        optimizer.step()
        strategy.after_step(model, setup, step)
        optimizer.zero_grad(set_to_none=True)
        if step <= 3:  # AdamW never touched the frozen encoder
            assert torch.equal(encoder, start), step
    assert not torch.equal(encoder, start)  # steps 4 and 5 trained it


def test_lpft_probe_epochs_switches_at_an_epoch_boundary_and_is_checked_against_the_protocol():
    model, _ = tiny("distilbert")
    setup = setup_for(model, total_steps=12)
    setup.steps_per_epoch = 4
    strategy = STRATEGIES["lpft"](probe_epochs=2)
    assert strategy.switch_step(setup) == 8
    model, _ = strategy.apply(model, setup)
    strategy.before_epoch(model, setup, 2)
    assert all(is_head(n) for n in trainable(model))
    strategy.before_epoch(model, setup, 3)
    assert trainable(model) == {n for n, _ in model.named_parameters()}
    assert strategy.check(model, Protocol(epochs=3)) == []
    assert "encoder would never train" in strategy.check(model, Protocol(epochs=2))[0]


# --- Mixout --------------------------------------------------------------------------------------------


def test_mixout_replaces_every_pretrained_linear_and_keeps_the_state_dict_keys():
    model, _ = tiny("bert")
    keys = set(model.state_dict())
    model, _ = STRATEGIES["mixout"](p=0.5).apply(model, setup_for(model))
    mixed = {n for n, m in model.named_modules() if type(m).__name__ == "MixoutLinear"}
    linears = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert mixed == {n for n in linears if n.startswith(("bert.encoder.layer.", "bert.pooler."))}
    assert "classifier" in linears - mixed and len(mixed) == 2 * 6 + 1  # 2 layers of 6 Linears, the pooler
    assert set(model.state_dict()) == keys


def test_mixout_takes_the_place_of_dropout_inside_the_layers_only():
    model, _ = tiny("distilbert")
    model, _ = STRATEGIES["mixout"](p=0.5).apply(model, setup_for(model))
    dropouts = {n: m.p for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}
    inside = {n for n in dropouts if n.startswith("distilbert.transformer.layer.")}
    assert inside and all(dropouts[n] == 0.0 for n in inside)
    assert dropouts["distilbert.embeddings.dropout"] == 0.1 and dropouts["dropout"] > 0  # embeddings, head: as built


def test_mixout_with_p_zero_is_the_plain_model():
    model, tok = tiny("distilbert")
    plain = copy.deepcopy(model)
    model, _ = STRATEGIES["mixout"](p=0.0).apply(model, setup_for(model))
    data = batch(tok)
    model.train()
    plain.train()
    torch.manual_seed(5)
    got = model(**inputs(data)).logits
    torch.manual_seed(5)  # the same dropout masks
    want = plain(**inputs(data)).logits
    assert torch.equal(got, want)


def test_mixout_mixes_each_entry_with_its_pretrained_value_as_the_paper_writes():
    model, _ = tiny("distilbert")
    model, _ = STRATEGIES["mixout"](p=0.7).apply(model, setup_for(model))
    layer = model.distilbert.transformer.layer[0].ffn.lin1
    u = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(torch.randn_like(layer.weight))  # training has moved the weights
    w = layer.weight.detach().clone()
    x = torch.randn(3, layer.in_features)
    layer.train()
    torch.manual_seed(11)
    got = layer(x)
    torch.manual_seed(11)
    keep = torch.empty_like(w).bernoulli_(0.3)  # the mask the layer drew: 1 with probability 1 - p
    by_hand = torch.where(keep == 1, (w - 0.7 * u) / 0.3, u)  # kept: rescaled; mixed out: the pretrained value
    assert 0 < keep.sum() < keep.numel()
    assert torch.allclose(got, x @ by_hand.T + layer.bias, atol=1e-5)
    assert torch.allclose(mixout(w, u, keep, 0.7), by_hand, atol=1e-6)
    # its expectation over the mask is w itself
    assert torch.allclose(0.3 * mixout(w, u, torch.ones_like(w), 0.7) + 0.7 * mixout(w, u, torch.zeros_like(w), 0.7), w,
                          atol=1e-5)
    layer.eval()  # at eval: the trained weights, no mixing
    assert torch.allclose(layer(x), x @ w.T + layer.bias, atol=1e-6)


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


# --- Child-Tuning-D ------------------------------------------------------------------------------------


def test_child_masks_keep_the_top_share_of_all_entries_ranked_together():
    fisher = {"a": torch.tensor([[4.0, 1.0], [0.0, 3.0]]), "b": torch.tensor([2.0, 5.0])}
    masks = child_masks(fisher, 0.5)  # 3 of 6 entries: 5, 4 and 3, across both tensors
    assert masks["a"].tolist() == [[True, False], [False, True]]
    assert masks["b"].tolist() == [False, True]
    assert child_masks(fisher, 1 / 6)["b"].tolist() == [False, True] and not child_masks(fisher, 1 / 6)["a"].any()


def test_childtune_masks_exactly_the_unchosen_gradient_entries():
    model, tok = tiny("distilbert")
    data = batch(tok)
    reference = copy.deepcopy(model)
    setup = setup_for(model)
    setup.train_batches = lambda: [data]
    model, _ = STRATEGIES["childtune"](reserve=0.01).apply(model, setup)  # ~10k of ~1M entries
    fisher = fisher_information(reference, [data], setup)
    masks = child_masks(fisher, 0.01)
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.01 * total)
    assert set(masks) == {n for n, _ in model.named_parameters() if not is_head(n)}

    model.eval()  # no dropout: both models see the same forward pass
    reference.eval()
    model(**data).loss.backward()
    reference(**data).loss.backward()
    ref = dict(reference.named_parameters())
    for name, q in model.named_parameters():
        want = ref[name].grad if is_head(name) else ref[name].grad * masks[name]
        assert torch.equal(q.grad, want), name
    lin1 = "distilbert.transformer.layer.0.ffn.lin1.weight"  # some entries kept, some masked, in one tensor
    assert 0 < int(masks[lin1].sum()) < masks[lin1].numel()


def test_childtune_needs_the_training_set():
    model, _ = tiny("distilbert")
    with pytest.raises(ValueError, match="needs the training set"):
        STRATEGIES["childtune"]().apply(model, setup_for(model))


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
    data = batch(tok)
    logits = model(**inputs(data)).logits
    got = strategy.loss(model, data, torch.arange(len(LABELS)), setup)
    assert torch.allclose(got, F.cross_entropy(logits, data["labels"], label_smoothing=0.2), atol=1e-6)
    assert not torch.allclose(got, F.cross_entropy(logits, data["labels"]), atol=1e-4)
    assert strategy.capture_blocker() is None  # its loss reads the batch alone


def test_only_lpft_keeps_its_steps_out_of_cuda_graphs():
    """Mixout's masks, Child-Tuning's gradient hooks and the smoothed loss all run inside one step; LP-FT changes
    what trains between steps."""
    assert "changes what trains" in STRATEGIES["lpft"]().capture_blocker()
    assert all(STRATEGIES[n]().capture_blocker() is None for n in ("mixout", "noisytune", "childtune", "label_smoothing"))
