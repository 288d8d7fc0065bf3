import pytest
import torch

from tuneoff.models import DISTILBERT_TARGETS, RandomDistilBert
from tuneoff.strategies import STRATEGIES, Full, Lora


def tiny(seed=0):
    torch.manual_seed(seed)
    return RandomDistilBert(size="tiny").build(5)


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_full_trains_every_parameter():
    built = tiny()
    model, warnings = Full().apply(built.model, pretrained=True)
    assert trainable(model) == {n for n, _ in model.named_parameters()}
    assert warnings == []


def test_lora_trains_only_adapters_and_both_head_layers():
    built = tiny()
    model, _ = Lora(r=4).apply(built.model, pretrained=True)
    names = trainable(model)
    adapters = {n for n in names if "lora_" in n}
    heads = names - adapters
    assert adapters and all(any(f".{t}." in n for t in DISTILBERT_TARGETS) for n in adapters)
    # both head layers train, through PEFT's modules_to_save copies
    assert {n.split(".modules_to_save")[0].split(".")[-1] for n in heads} == {"pre_classifier", "classifier"}
    assert all("modules_to_save" in n for n in heads)
    # every targeted module type got an adapter
    for target in DISTILBERT_TARGETS:
        assert any(f".{target}.lora_A" in n for n in adapters), target
    n_layers, dim, hidden = 2, 32, 64
    per_layer = 4 * (4 * dim + 4 * dim) + 4 * (dim + hidden) * 2  # q,k,v,out + lin1, lin2 (A and B)
    head = (dim * dim + dim) + (dim * 5 + 5)
    assert sum(p.numel() for n, p in model.named_parameters() if p.requires_grad) == n_layers * per_layer + head


def test_lora_target_modules_are_respected():
    model, _ = Lora(r=2, target_modules=("q_lin", "v_lin")).apply(tiny().model, pretrained=True)
    adapters = {n for n in trainable(model) if "lora_" in n}
    assert adapters and all(".q_lin." in n or ".v_lin." in n for n in adapters)


def test_lora_over_random_weights_warns_loudly():
    _, warnings = Lora().apply(tiny().model, pretrained=False)
    assert len(warnings) == 1 and "RANDOMLY INITIALISED" in warnings[0]
    _, warnings = Lora().apply(tiny().model, pretrained=True)
    assert warnings == []


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_saved_checkpoint_reloads_with_plain_transformers(name, tmp_path):
    from transformers import AutoModelForSequenceClassification

    built = tiny()
    model, _ = STRATEGIES[name]().apply(built.model, pretrained=True)
    with torch.no_grad():  # move away from the initial weights so the test can tell
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05)
    model.eval()
    batch = built.tokenizer(["a superb film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        want = model(**batch).logits
    size = STRATEGIES[name]().save(model, built.tokenizer, tmp_path)
    assert size > 0
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    with torch.no_grad():
        got = reloaded(**batch).logits
    assert torch.allclose(want, got, atol=1e-5)
    if name == "lora":
        assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
        assert size < sum(f.stat().st_size for f in (tmp_path / "model").iterdir())


def test_registry_names_match_strategy_names():
    assert set(STRATEGIES) >= {"full", "lora"}
    for name, cls in STRATEGIES.items():
        assert cls().name == name
