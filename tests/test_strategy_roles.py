"""What every registered strategy trains, and at what learning-rate scale, on tiny DistilBERT, BERT, RoBERTa and
DeBERTa-v2 loaded the real way: save_pretrained into a folder, then the Hub model source reads it back.

Each strategy's class declares what it trains (``Strategy.trains``, in the role table's words); strategy_checks.py
spells the declaration out per architecture from its own hand-written description of each (ARCHS), not from the
role table, so that a gap in the table shows as a difference. A registered strategy needs no entry here.
"""

from __future__ import annotations

import pytest
import torch
from factories import TINY_ARCHS  # tests/ is on sys.path
from strategy_checks import ARCHS, N_LAYERS, applied, check_promise, loaded, part

from tuneoff.strategies import STRATEGIES, setup_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- the tests ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_the_parts_written_here_cover_every_parameter_once(tiny_folders, arch):
    base = [n for n, _ in loaded(tiny_folders, arch).named_parameters()]
    parts = [part(ARCHS[arch], n) for n in base]  # asserts one part each
    assert set(parts) == {"embeddings", "head", *range(N_LAYERS), *(["pooler"] if ARCHS[arch].pooler else [])}


@pytest.mark.parametrize("arch", TINY_ARCHS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_what_trains_and_at_what_rate_is_what_the_strategy_declares(tiny_folders, name, arch):
    check_promise(tiny_folders, arch, name)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_unfreeze_opens_the_top_layer_with_its_pooler_then_down_to_the_embeddings(tiny_folders, arch):
    strategy, model, setup = applied(tiny_folders, arch, "unfreeze")  # 20 steps, two layers: opens after 5, 10, 15
    spec, opened = ARCHS[arch], []
    for step in range(1, 21):
        if step in (1, 6, 11, 16):
            opened.append({part(spec, n) for n, q in model.named_parameters() if q.requires_grad})
        strategy.after_step(model, setup, step)
    top = {N_LAYERS - 1, *(["pooler"] if spec.pooler else [])}
    assert opened == [{"head"}, {"head", *top}, {"head", *top, 0}, {"head", *top, 0, "embeddings"}]
    assert all(q.requires_grad for q in model.parameters())  # nothing outside the parts stays frozen


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_reinit_redraws_exactly_the_top_layer_and_the_pretrained_pooler(tiny_folders, arch):
    """Through the real loading path, where transformers 5 marks loaded tensors as initialised."""
    model = loaded(tiny_folders, arch)
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    torch.manual_seed(0)
    STRATEGIES["reinit"](k=1).apply(model, setup_for(model))
    changed = {n for n, q in model.named_parameters() if not torch.equal(q, before[n])}
    assert changed == {n for n in before if part(ARCHS[arch], n) in (N_LAYERS - 1, "pooler")}
