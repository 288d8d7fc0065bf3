"""Every registered strategy on tiny random DistilBERT, BERT, RoBERTa and DeBERTa-v2, each saved with
save_pretrained and loaded back through the Hub model source as a user's model would be: it learns, and its
checkpoint reloads to the same predictions (what trains: test_strategy_roles.py); and what single strategies do."""

from __future__ import annotations

import pytest
import torch
from factories import TINY_ARCHS, tiny_model  # tests/ is on sys.path
from strategy_checks import check_learns_and_reloads, tokenizer

from tuneoff.models.roles import ROLES, UnsupportedModel, roles_for
from tuneoff.strategies import STRATEGIES, Full, Lora, setup_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(arch: str, seed: int = 0):
    return tiny_model(arch, tokenizer(), seed), tokenizer()


@pytest.mark.parametrize("arch", TINY_ARCHS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_it_learns_one_batch_and_its_checkpoint_reloads(tiny_folders, name, arch, tmp_path):
    check_learns_and_reloads(tiny_folders, arch, name, tmp_path)


def test_llrd_scales_the_learning_rate_down_the_layers():
    model, _ = tiny("distilbert")
    setup = setup_for(model)
    scale = {n: s for n, _, s in STRATEGIES["llrd"](decay=0.5).parameters(model, setup)}
    assert scale["classifier.weight"] == 1.0
    assert scale["distilbert.transformer.layer.1.ffn.lin1.weight"] == 0.5
    assert scale["distilbert.transformer.layer.0.ffn.lin1.weight"] == 0.25
    assert scale["distilbert.embeddings.word_embeddings.weight"] == 0.125


def test_reinit_changes_only_the_top_layers():
    model, _ = tiny("bert")
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    STRATEGIES["reinit"](k=1).apply(model, setup_for(model))
    changed = {n for n, q in model.named_parameters() if not torch.equal(q, before[n])}
    assert changed and all(n.startswith(("bert.encoder.layer.1.", "bert.pooler.")) for n in changed)
    assert "bert.pooler.dense.weight" in changed  # Zhang et al. re-initialise BERT's pooler too


def test_unfreeze_opens_one_more_layer_group_on_its_step_schedule():
    model, _ = tiny("distilbert")
    setup = setup_for(model, total_steps=12)  # two layers: 4 stages of 3 steps, head / top / both / embeddings
    strategy = STRATEGIES["unfreeze"]()
    assert strategy.apply(model, setup)[1] == []

    def open_layers():
        return sorted({int(n.split(".")[3]) for n, q in model.named_parameters() if q.requires_grad and ".layer." in n})

    opened = []
    for step in range(1, 13):
        opened.append((open_layers(), model.distilbert.embeddings.word_embeddings.weight.requires_grad))
        strategy.after_step(model, setup, step)
    assert opened == [([], False)] * 3 + [([1], False)] * 3 + [([0, 1], False)] * 3 + [([0, 1], True)] * 3
    late = STRATEGIES["unfreeze"](every_steps=4)  # the embeddings would open after step 12 of 12
    assert "some weights never train" in late.apply(tiny("distilbert")[0], setup)[1][0]


def test_every_architecture_in_the_role_table_resolves_and_others_fail_clearly():
    from transformers import (
        DebertaV2Config,
        DebertaV2ForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
    )

    deberta = DebertaV2ForSequenceClassification(
        DebertaV2Config(
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=2,
            intermediate_size=64,
            vocab_size=100,
            num_labels=5,
        )
    )
    assert roles_for(deberta).head == ("pooler", "classifier") and set(ROLES) >= {
        "distilbert",
        "bert",
        "roberta",
        "deberta-v2",
    }
    gpt2 = GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100, num_labels=5))
    with pytest.raises(UnsupportedModel, match="model type 'gpt2' has no entry"):
        roles_for(gpt2)
    assert "has no entry" in Full().check(gpt2)[0]


def test_lora_options_reach_peft():
    model, _ = tiny("distilbert")
    peft_model, _ = Lora(r=4, use_rslora=True, use_dora=True).apply(model, setup_for(model))
    config = peft_model.peft_config["default"]
    assert config.use_rslora and config.use_dora and config.r == 4
    assert {"classifier", "pre_classifier"} <= set(config.modules_to_save)


def test_lora_target_modules_are_respected_and_checked():
    model, _ = tiny("distilbert")
    peft_model, _ = Lora(r=2, target_modules=("q_lin", "v_lin")).apply(model, setup_for(model))
    adapters = {n for n, q in peft_model.named_parameters() if q.requires_grad and "lora_" in n}
    assert adapters and all(".q_lin." in n or ".v_lin." in n for n in adapters)
    assert "['query'] match no module" in Lora(target_modules=("query",)).check(tiny("distilbert")[0])[0]


def test_registry_names_match_strategy_names():
    for name, cls in STRATEGIES.items():
        assert cls(**cls.example).name == name
        assert cls.__doc__ and len(cls.__doc__) > 30, f"{name} needs a docstring naming its source"


@pytest.mark.parametrize("arch", ["distilbert", "bert"])
def test_reinit_changes_the_top_layers_of_a_model_loaded_from_a_folder(arch, tmp_path):
    """Through the real loading path (save_pretrained, then the Hub model source), where transformers 5 marks
    every loaded tensor as initialised: the top layer (and BERT's pooler) must change, nothing else."""
    from tuneoff.models.sources import HubModel

    model, tok = tiny(arch)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = HubModel(name=str(tmp_path / "m")).build(5).model
    before = {n: q.detach().clone() for n, q in loaded.named_parameters()}
    torch.manual_seed(0)
    STRATEGIES["reinit"](k=1).apply(loaded, setup_for(loaded))
    roles = setup_for(loaded).roles
    top = f"{roles.layers}.{len(roles.layer_list(loaded)) - 1}."
    changed = {n for n, q in loaded.named_parameters() if not torch.equal(q, before[n])}
    promised = {n for n in before if n.startswith(top) or (roles.pooler and n.startswith(roles.pooler + "."))}
    promised = {
        n
        for n in promised
        if not n.endswith(("LayerNorm.weight", "LayerNorm.bias", "layer_norm.weight", "layer_norm.bias", ".bias"))
    }  # these re-init to 1 and 0
    assert promised and promised <= changed
    assert changed <= {n for n in before if n.startswith(top) or (roles.pooler and n.startswith(roles.pooler + "."))}


def test_loraplus_trains_with_the_protocols_weight_decay():
    model, _ = tiny("distilbert")
    strategy = STRATEGIES["loraplus"]()
    model, _ = strategy.apply(model, setup_for(model))
    optimizer = strategy.optimizer(model, 1e-4, 0.01)
    decays = {g["weight_decay"] for g in optimizer.param_groups if g["params"]}
    assert 0.01 in decays  # PEFT's own default would leave every group at 0
