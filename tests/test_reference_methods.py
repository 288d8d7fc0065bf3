"""Reference tests for the strategies whose method is a schedule, a loss or a rate: ULMFiT's gradual unfreezing opens
every layer before the run ends, whatever its length; R-Drop's loss is the authors' GLUE weighting; a fresh head
beside a prompt or adapters learns at its own rate; IA3's scaling vectors take no decay towards 0."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from test_strategies import tiny

from tuneoff.data import load_sst5
from tuneoff.models.sources import RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.strategies import STRATEGIES, Setup, setup_for
from tuneoff.training.batching import encode, steps_per_epoch
from tuneoff.training.loop import make_optimizer, train

CPU = torch.device("cpu")


# --- gradual unfreezing -------------------------------------------------------------------------------


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_unfreeze_moves_every_weight_before_the_run_ends_whatever_its_length(tree_dir, epochs, monkeypatch):
    """Howard & Ruder: unfreeze from the top, one group at a time, until everything trains. On two layers and any
    number of epochs, every weight of the model has moved by the run's last step (the loop may then keep an
    earlier epoch's weights, as it does for every strategy)."""
    p = Protocol(epochs=epochs, batch_size=16, learning_rate=1e-3, max_seq_len=32)
    torch.manual_seed(0)
    built = RandomDistilBert(size="tiny").build(5)
    sst = load_sst5(tree_dir, verify=False)
    train_set, dev_set = (encode(built.tokenizer, s.texts, s.labels, p.max_seq_len) for s in (sst.train, sst.dev))
    per_epoch = steps_per_epoch(len(train_set), p.batch_size)
    setup = Setup(True, setup_for(built.model).roles, per_epoch * epochs, per_epoch)
    strategy = STRATEGIES["unfreeze"]()
    model, warnings = strategy.apply(built.model, setup)
    start = {n: q.detach().clone() for n, q in model.named_parameters()}
    last, opening = {}, type(strategy).after_step

    def after_step(self, model, setup, step):
        opening(self, model, setup, step)
        if step == setup.total_steps:
            last.update({n: q.detach().clone() for n, q in model.named_parameters()})

    monkeypatch.setattr(type(strategy), "after_step", after_step)
    train(model, train_set, dev_set, p, CPU, strategy=strategy, setup=setup)
    still = [n for n, q in last.items() if torch.equal(q, start[n])]
    assert warnings == [] and last and still == []
    assert all(q.requires_grad for q in model.parameters())


# --- R-Drop ---------------------------------------------------------------------------------------------


class TwoPasses:
    """A network whose two forward passes return the given logits, in turn (two dropout masks)."""

    def __init__(self, first, second):
        self.out = [first, second]

    def __call__(self, **inputs):
        return SimpleNamespace(logits=self.out.pop(0))


def symmetric_kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """½ (KL(P1 ‖ P2) + KL(P2 ‖ P1)) per sentence, from the probabilities."""
    p1, p2 = a.double().softmax(-1), b.double().softmax(-1)
    return 0.5 * ((p1 * (p1 / p2).log()).sum(-1) + (p2 * (p2 / p1).log()).sum(-1))


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_rdrop_loss_is_both_cross_entropies_plus_alpha_times_the_symmetric_kl(reduction):
    """Liang et al.'s GLUE code: CE(P1) + CE(P2) (each a batch mean) + α Σ_batch ½ (KL(P1‖P2) + KL(P2‖P1)); with
    kl_reduction "mean", the KL term per sentence (eq. 3)."""
    torch.manual_seed(1)
    a, b = 2 * torch.randn(8, 5), 2 * torch.randn(8, 5)
    labels = torch.randint(0, 5, (8,))
    batch = {"input_ids": torch.zeros(8, 3, dtype=torch.long), "attention_mask": torch.ones(8, 3), "labels": labels}
    strategy = STRATEGIES["rdrop"](alpha=0.5, kl_reduction=reduction)
    got = strategy.loss(TwoPasses(a, b), batch, torch.arange(8), None)
    kl = symmetric_kl(a, b)
    want = (
        F.cross_entropy(a.double(), labels)
        + F.cross_entropy(b.double(), labels)
        + 0.5 * (kl.sum() if reduction == "sum" else kl.mean())
    )
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    assert STRATEGIES["rdrop"]().alpha == 0.5 and STRATEGIES["rdrop"]().kl_reduction == "sum"  # the code's own


# --- a fresh head's own rate ------------------------------------------------------------------------------


def rates_by_group(strategy, p: Protocol, arch: str = "distilbert") -> tuple:
    """(rates of the head's groups, rates of everything else's groups) in the optimizer the loop would build."""
    model, _ = tiny(arch)
    setup = setup_for(model)
    model, _ = strategy.apply(model, setup)
    optimizer = strategy.optimizer(model, p.learning_rate, p.weight_decay) or make_optimizer(
        model, p, strategy.parameters(model, setup)
    )
    names = {id(q): n for n, q in model.named_parameters()}
    head, rest = set(), set()
    for group in optimizer.param_groups:
        for q in group["params"]:
            (head if ".modules_to_save." in names[id(q)] else rest).add(group["lr"])
    return head, rest


@pytest.mark.parametrize("name", ["prompt", "ptuning", "lora", "loraplus", "ia3", "vera", "adalora", "lntuning"])
def test_a_fresh_head_beside_prompts_or_adapters_learns_at_its_own_rate(name):
    strategy = STRATEGIES[name](**{**STRATEGIES[name].example, "head_lr": 2e-3})
    head, rest = rates_by_group(strategy, Protocol(learning_rate=0.3))
    assert head == {2e-3}
    assert rest == ({0.3, 0.3 * 16} if name == "loraplus" else {0.3})  # LoRA+'s B matrices at ratio x the rate
    assert type(strategy).second_rate.field == "head_lr" and STRATEGIES[name]().head_lr == 1e-3


# --- IA3 -------------------------------------------------------------------------------------------------


def test_ia3_scaling_vectors_take_no_weight_decay():
    """(IA)^3's vectors scale activations, identity 1: with a zero gradient and any rate they stay at 1, while a
    decayed weight of the head shrinks under the same step."""
    model, _ = tiny("distilbert")
    strategy = STRATEGIES["ia3"]()
    setup = setup_for(model)
    model, _ = strategy.apply(model, setup)
    optimizer = make_optimizer(model, Protocol(learning_rate=0.5, weight_decay=0.5), strategy.parameters(model, setup))
    vectors = [q for n, q in model.named_parameters() if ".ia3_l." in n]
    head = next(q for n, q in model.named_parameters() if n.endswith("classifier.modules_to_save.default.weight"))
    before = head.detach().clone()
    assert vectors and all(torch.equal(v, torch.ones_like(v)) for v in vectors)
    for q in model.parameters():
        if q.requires_grad:
            q.grad = torch.zeros_like(q)
    optimizer.step()
    assert all(torch.equal(v, torch.ones_like(v)) for v in vectors)
    assert torch.allclose(head, before * (1 - strategy.head_lr * 0.5))  # decoupled decay acts where it should
