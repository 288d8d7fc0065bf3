"""L2-SP and R3F against their papers' equations, on tiny random models with dropout off (eval mode), so that
each loss and gradient is a fixed function of the weights."""

from __future__ import annotations

import functools

import pytest
import torch
from factories import TINY_ARCHS, tiny_model

from tuneoff.models.sources import bundled_tokenizer
from tuneoff.strategies import STRATEGIES, setup_for
from tuneoff.strategies.penalties import R3F

TEXTS = ["a superb , brilliant film", "dull and weak", "the story", "awful , dreadful"]
LABELS = torch.tensor([4, 1, 2, 0])


@functools.cache
def tokenizer():
    return bundled_tokenizer()


def batch():
    return {**tokenizer()(TEXTS, padding=True, return_tensors="pt"), "labels": LABELS}


def kl(p_log, q_log):
    """KL(p || q) = sum_c p_c (log p_c - log q_c), averaged over the rows."""
    return (p_log.exp() * (p_log - q_log)).sum(-1).mean()


# --- L2-SP ---------------------------------------------------------------------------------------------


def test_l2sp_loss_and_gradient_are_the_papers_penalty_on_pretrained_and_head_weights():
    """Li et al. 2018: Ω(w) = α/2 ||w_S - w0_S||² + β/2 ||w_head||², so ∇ = ∇task + α (w_S - w0_S) on the
    pretrained weights (BERT's pooler among them) and + β w on the fresh head (the classifier)."""
    model = tiny_model("bert", tokenizer())
    w0 = {n: q.detach().clone() for n, q in model.named_parameters()}
    strategy = STRATEGIES["l2sp"](alpha=0.3, beta=0.05)
    setup = setup_for(model)
    model, _ = strategy.apply(model, setup)
    with torch.no_grad():  # move every weight off its starting value
        for q in model.parameters():
            q.add_(0.02 * torch.randn_like(q))
    model.eval()
    data = batch()
    task = model(**data).loss
    task.backward()
    task_grad = {n: q.grad.clone() for n, q in model.named_parameters()}
    model.zero_grad()
    loss = strategy.loss(model, data, None, setup)
    loss.backward()
    head = {n for n in w0 if n.startswith("classifier.")}
    assert head == {"classifier.weight", "classifier.bias"}
    params = dict(model.named_parameters())
    omega = 0.3 / 2 * sum(((params[n] - w0[n]) ** 2).sum() for n in w0 if n not in head) + 0.05 / 2 * sum(
        (params[n] ** 2).sum() for n in head
    )
    torch.testing.assert_close(loss, task + omega)
    for n, q in params.items():
        want = task_grad[n] + (0.05 * q if n in head else 0.3 * (q - w0[n]))
        torch.testing.assert_close(q.grad, want, msg=n)
    assert "bert.pooler.dense.weight" not in head


def test_l2sp_replaces_weight_decay_and_its_anchors_stay_out_of_the_checkpoint():
    model = tiny_model("distilbert", tokenizer())
    strategy = STRATEGIES["l2sp"]()
    model, _ = strategy.apply(model, setup_for(model))
    optimizer = strategy.optimizer(model, 1e-4, 0.01)
    assert {g["weight_decay"] for g in optimizer.param_groups} == {0.0}
    assert sum(q.numel() for g in optimizer.param_groups for q in g["params"]) == sum(
        q.numel() for q in model.parameters()
    )
    assert not [k for k in model.state_dict() if "l2sp" in k]  # save_pretrained writes plain transformers weights
    assert strategy.capture_blocker() == "brings its own optimizer (a captured step needs the loop's capturable AdamW)"


def test_l2sp_at_alpha_and_beta_zero_is_plain_fine_tuning():
    model = tiny_model("roberta", tokenizer())
    strategy = STRATEGIES["l2sp"](alpha=0.0, beta=0.0)
    setup = setup_for(model)
    model, _ = strategy.apply(model, setup)
    model.eval()
    data = batch()
    torch.testing.assert_close(strategy.loss(model, data, None, setup), model(**data).loss)


# --- R3F -----------------------------------------------------------------------------------------------


def reference_r3f(model, data, noise, lam):
    """Aghajanyan et al. 2021, eq. (1)-(2): L = CE(f(x), y) + λ KL_S(f(x) || f(x + z)), the noise z added to the
    token embeddings; KL_S the sum of both directions (their code); the noisy pass from detached embeddings."""
    clean = model(input_ids=data["input_ids"], attention_mask=data["attention_mask"]).logits
    tokens = model.get_input_embeddings().weight[data["input_ids"]].detach()
    noisy = model(inputs_embeds=tokens + noise, attention_mask=data["attention_mask"]).logits
    p, q = clean.log_softmax(-1), noisy.log_softmax(-1)
    ce = -p[torch.arange(len(data["labels"])), data["labels"]].mean()
    return ce + lam * (kl(p, q) + kl(q, p))


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_r3f_loss_and_gradient_match_the_paper_for_a_fixed_noise_draw(arch, monkeypatch):
    model = tiny_model(arch, tokenizer()).eval()
    with torch.no_grad():  # a random tiny model answers almost uniformly: sharpen its answers so that the KL counts
        next(q for n, q in model.named_parameters() if n.startswith("classifier") and q.shape[0] == 5).mul_(20.0)
    data = batch()
    width = model.get_input_embeddings().weight.shape[1]
    noise = 0.5 * torch.randn(len(TEXTS), data["input_ids"].shape[1], width, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(R3F, "draw", lambda self, embeddings: noise)
    strategy = R3F(kl_weight=0.7)
    loss = strategy.loss(model, data, None, setup_for(model))
    loss.backward()
    got = {n: q.grad.clone() for n, q in model.named_parameters() if q.grad is not None}
    model.zero_grad()
    want = reference_r3f(model, data, noise, 0.7)
    want.backward()
    torch.testing.assert_close(loss, want)
    assert (want - reference_r3f(model, data, noise, 0.0)).item() > 1e-2  # the noise moved the predictions
    for n, q in model.named_parameters():
        if q.grad is not None:
            torch.testing.assert_close(got[n], q.grad, msg=n)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_r3f_without_noise_is_cross_entropy(arch, monkeypatch):
    """The noisy pass through inputs_embeds reads the sentence as the clean pass does (positions, token types):
    with zero noise the KL vanishes on every architecture."""
    model = tiny_model(arch, tokenizer()).eval()
    data = batch()
    monkeypatch.setattr(R3F, "draw", lambda self, embeddings: torch.zeros_like(embeddings))
    torch.testing.assert_close(R3F(kl_weight=5.0).loss(model, data, None, setup_for(model)), model(**data).loss)


@pytest.mark.parametrize("kind,std", [("uniform", 3**-0.5), ("normal", 1.0)])
def test_r3f_noise_is_uniform_or_normal_of_scale_sigma(kind, std):
    torch.manual_seed(0)
    z = R3F(noise=kind, sigma=1e-3).draw(torch.zeros(200, 500))
    assert abs(z.mean().item()) < 2e-5 and z.std().item() == pytest.approx(std * 1e-3, rel=0.02)
    if kind == "uniform":
        assert z.abs().max().item() <= 1e-3
    assert R3F().sigma == 1e-5 and R3F.passes_per_step == 2 and R3F().capture_blocker() is None
