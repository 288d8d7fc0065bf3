"""Child-Tuning-D and -F (Xu et al. 2021) against the paper's equations and the reference's recipe
(alibaba/AliceMind, ChildTuning/): the Fisher information over the transformer layers' parameters, each tensor's
gradient clipped before squaring; the child at or above numpy's (1 - p_D) percentile; the masks applied after
gradient clipping, inside the step; Child-Tuning-F's Bernoulli(p_F) mask scaled by 1 / p_F."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from factories import tiny_config
from strategy_checks import LABELS, TEXTS, tokenizer

from tuneoff.plan.config import Protocol
from tuneoff.strategies import STRATEGIES, setup_for
from tuneoff.training.steps import EagerStep

LAYERS = "distilbert.transformer.layer."


def quiet_model(seed: int = 0):
    """A tiny DistilBERT with no dropout, so that the Fisher pass and the steps are deterministic."""
    from transformers import AutoModelForSequenceClassification

    tok = tokenizer()
    config = tiny_config("distilbert", len(tok), tok.pad_token_id)
    config.dropout = config.attention_dropout = config.seq_classif_dropout = 0.0
    torch.manual_seed(seed)
    return AutoModelForSequenceClassification.from_config(config)


def batches() -> list[dict]:
    tok = tokenizer()
    return [
        {**tok(TEXTS[i : i + 3], padding=True, return_tensors="pt"), "labels": torch.tensor(LABELS[i : i + 3])}
        for i in (0, 3)
    ]


def reference_fisher(model, data: list[dict], clip: float) -> dict:
    """F = (1/N) Σ_batches clip(g)², per parameter of the transformer layers; clip(g) = g · min(1, c / ‖g‖) for each
    tensor separately."""
    fisher = {}
    for b in data:
        model.zero_grad()
        model(**b).loss.backward()
        for name, q in model.named_parameters():
            if name.startswith(LAYERS):
                g = q.grad * min(1.0, clip / (q.grad.norm().item() + 1e-6))  # torch's clip_grad_norm_ rule
                fisher[name] = fisher.get(name, 0) + g**2 / len(data)
    model.zero_grad()
    return fisher


def applied(reserve: float = 0.3, clip: float = 1e-3):
    model = quiet_model()
    reference = quiet_model()
    setup = setup_for(model)
    setup.train_batches = batches
    model, _ = STRATEGIES["childtune"](reserve=reserve, fisher_clip=clip).apply(model, setup)
    return model, reference, setup


def test_child_tuning_d_keeps_the_layers_entries_at_or_above_the_reference_percentile():
    model, reference, setup = applied(reserve=0.3, clip=1e-3)  # below some tensors' gradient norms (up to ~3e-3)
    fisher = reference_fisher(reference, batches(), clip=1e-3)
    everything = np.concatenate([f.reshape(-1).numpy() for f in fisher.values()])
    polar = np.percentile(everything, (1 - 0.3) * 100)
    names = {id(q): n for n, q in model.named_parameters()}
    masks = {names[id(q)]: mask for q, mask in setup.state["child_masks"]}
    assert set(masks) == set(fisher)  # the layers only: not the embeddings, nor the head
    for name, f in fisher.items():
        assert torch.equal(masks[name].cpu(), torch.as_tensor(f.numpy() >= polar)), name
    kept = sum(int(m.sum()) for m in masks.values())
    assert abs(kept - 0.3 * everything.size) <= 2  # the share the percentile leaves
    clipped = reference_fisher(quiet_model(), batches(), clip=1e9)  # the test can tell clipping from none
    assert any(not torch.allclose(clipped[n], fisher[n], rtol=1e-3, atol=0) for n in fisher)


def test_child_tuning_d_masks_after_clipping():
    """One step of SGD: the update is -lr · M ⊙ clip(g), the clipping factor taken over the whole, unmasked
    gradient (the reference masks inside its optimizer's step, after the trainer clips)."""
    model, reference, setup = applied(reserve=0.002)  # a small child: its mask removes much of the norm
    for m in (model, reference):  # the layers alone take gradients here, so that their mask changes the norm
        for name, q in m.named_parameters():
            q.requires_grad_(name.startswith(LAYERS))
    start = {n: q.detach().clone() for n, q in model.named_parameters()}
    data = batches()[0]
    reference(**data).loss.backward()
    grads = {n: q.grad.detach().clone() for n, q in reference.named_parameters() if q.grad is not None}
    norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
    factor = min(1.0, 1e-3 / (norm.item() + 1e-6))
    assert factor < 0.5  # clipping acts, so its order against the mask matters

    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    step = EagerStep(model, model, optimizer, Protocol(max_grad_norm=1e-3), (STRATEGIES["childtune"](), setup))
    step(data, torch.arange(3))
    names = {id(q): n for n, q in model.named_parameters()}
    masks = {names[id(q)]: m for q, m in setup.state["child_masks"]}
    moved = {n: q.detach() - start[n] for n, q in model.named_parameters()}
    assert set(masks) == set(grads)
    for name, mask in masks.items():
        assert torch.allclose(moved[name], -factor * grads[name] * mask, rtol=1e-3, atol=2e-7), name  # fp32 steps
    masked_norm = torch.sqrt(sum(((g * masks[n]) ** 2).sum() for n, g in grads.items()))
    assert masked_norm < 0.8 * norm  # masking first would have clipped by a different factor: the test can tell


def test_child_tuning_d_needs_the_training_set():
    with pytest.raises(ValueError, match="needs the training set"):
        STRATEGIES["childtune"]().apply(quiet_model(), setup_for(quiet_model()))


def test_child_tuning_f_keeps_each_gradient_entry_with_probability_p_and_scales_it_by_one_over_p():
    model = quiet_model()
    strategy = STRATEGIES["childtune_f"](reserve=0.3)
    model, _ = strategy.apply(model, setup_for(model))
    model(**batches()[0]).loss.backward()
    params = [q for q in model.parameters() if q.grad is not None]
    before = [q.grad.detach().clone() for q in params]
    torch.manual_seed(4)
    strategy.before_update(params, None)
    kept = total = 0
    for q, g in zip(params, before):
        nonzero = g != 0
        scaled = torch.isclose(q.grad, g / 0.3, rtol=1e-5, atol=0)
        dropped = q.grad == 0
        assert (scaled | dropped)[nonzero].all()  # each entry: g / p_F, or 0
        kept += int((scaled & nonzero).sum())
        total += int(nonzero.sum())
    assert total > 10_000 and abs(kept / total - 0.3) < 0.01  # Bernoulli(p_F) per entry, every weight (head too)
    head = dict(model.named_parameters())["classifier.weight"].grad
    assert 0 < int((head == 0).sum()) < head.numel()
