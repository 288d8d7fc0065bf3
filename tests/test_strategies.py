"""Every registered strategy on tiny random DistilBERT, BERT, RoBERTa and DeBERTa-v2, each saved with
save_pretrained and loaded back through the Hub model source as a user's model would be: what trains, that it
learns, and that its checkpoint reloads to the same predictions."""

from __future__ import annotations

import functools
import re

import pytest
import torch
from factories import TINY_ARCHS, tiny_model  # tests/ is on sys.path

from tuneoff.models.roles import ROLES, UnsupportedModel, roles_for
from tuneoff.models.sources import HubModel, bundled_tokenizer
from tuneoff.plan.config import Protocol
from tuneoff.store.checkpoint import Checkpoint
from tuneoff.strategies import STRATEGIES, Full, Lora, load_checkpoint, setup_for
from tuneoff.strategies.regularisers import TeacherContext
from tuneoff.training.loop import make_optimizer

ARCHS = TINY_ARCHS
TEXTS = ["a superb , brilliant film", "dull and weak", "the story", "awful , dreadful", "a good , solid movie",
         "bland"]
LABELS = [4, 1, 2, 0, 3, 1]


@functools.cache
def tokenizer():
    return bundled_tokenizer()


def tiny(arch: str, seed: int = 0):
    return tiny_model(arch, tokenizer(), seed), tokenizer()


@functools.cache
def saved(arch: str, root: str) -> str:
    """The tiny model of this architecture, saved once per session as a user's model folder."""
    folder = f"{root}/{arch}"
    tiny(arch)[0].save_pretrained(folder)
    tokenizer().save_pretrained(folder)
    return folder


def from_folder(arch: str, root) -> tuple:
    """Loaded through the Hub model source (from_pretrained), as a user's model would be."""
    return HubModel(name=saved(arch, str(root))).build(5).model, tokenizer()


def options(name: str) -> dict:
    return STRATEGIES[name].example  # each strategy declares a small example of its options


def head(roles):
    return re.compile(r"(^|\.)(" + "|".join(map(re.escape, roles.head)) + r")\.")


# What each strategy promises to train, as a rule on parameter names (the head is always added).
PROMISES = {
    "lpft": lambda n, r: True,  # the probe is fitted in apply; then every weight trains
    "mixout": lambda n, r: True, "noisytune": lambda n, r: True, "childtune": lambda n, r: True,  # childtune: masked
    "childtune_f": lambda n, r: True,  # every weight; a random share of each gradient is masked each step
    "label_smoothing": lambda n, r: True,
    "full": lambda n, r: True, "llrd": lambda n, r: True, "reinit": lambda n, r: True, "rdrop": lambda n, r: True,
    "distill": lambda n, r: True,
    "head": lambda n, r: False,
    "bitfit": lambda n, r: n.endswith(".bias"),
    "freeze": lambda n, r: n.startswith((f"{r.layers}.1.", f"{r.pooler}.")),  # BERT's pooler trains with the top
    "unfreeze": lambda n, r: False,  # epoch 1: the head only
    "lntuning": lambda n, r: ".ln_tuning_layers." in n,
    "lora": lambda n, r: ".lora_" in n, "loraplus": lambda n, r: ".lora_" in n, "adalora": lambda n, r: ".lora_" in n,
    "ia3": lambda n, r: ".ia3_l" in n, "vera": lambda n, r: "vera_lambda" in n,
    "prompt": lambda n, r: n.startswith("prompt_encoder."), "ptuning": lambda n, r: n.startswith("prompt_encoder."),
    "ema": lambda n, r: True, "swa": lambda n, r: True, "wiseft": lambda n, r: True, "sam": lambda n, r: True,
    "l2sp": lambda n, r: True, "r3f": lambda n, r: True,  # strategies/penalties.py
    "adapter_houlsby": lambda n, r: ".adapter_" in n or "norm" in n.lower(),  # and every layer norm
    "adapter_pfeiffer": lambda n, r: ".adapter_ffn." in n,
    "soup": lambda n, r: True,  # each ingredient is full fine-tuning
}

EVERY_WEIGHT_ROBUST = ("lpft", "mixout", "noisytune", "childtune", "childtune_f", "label_smoothing")
EVERY_WEIGHT_AVERAGING = ("ema", "swa", "wiseft", "sam", "soup")  # strategies/averaging.py, soup.py
EVERY_WEIGHT_PENALTIES = ("l2sp", "r3f")  # strategies/penalties.py


def batch(tok):
    b = tok(TEXTS, padding=True, return_tensors="pt")
    return {**b, "labels": torch.tensor(LABELS)}


def prepared(name: str, arch: str, root=None):
    model, tok = tiny(arch) if root is None else from_folder(arch, root)
    teacher = 4.0 * torch.nn.functional.one_hot(torch.tensor(LABELS), 5).float()  # a teacher that knows the labels
    setup = setup_for(model, total_steps=20, context=TeacherContext(teacher))
    setup.train_batches = lambda: [batch(tok)]  # what the runner hands Child-Tuning (the training set)
    strategy = STRATEGIES[name](**options(name))
    torch.manual_seed(0)  # adapters' initial draws: the same whichever tests ran before
    model, _ = strategy.apply(model, setup)
    return strategy, model, tok, setup


def test_every_promise_is_written_down():
    assert set(PROMISES) == set(STRATEGIES)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_trainable_set_is_what_the_strategy_promises(name, arch):
    strategy, model, tok, setup = prepared(name, arch)
    roles, is_head = setup.roles, head(setup.roles)
    names = [n for n, _ in model.named_parameters()]
    trained = {n for n, q in model.named_parameters() if q.requires_grad}
    want = {n for n in names if (PROMISES[name](n, roles) or is_head.search(n)) and "original_module" not in n}
    assert trained == want
    assert any(is_head.search(n) for n in trained), "the head must train"
    if name not in ("full", "llrd", "reinit", "rdrop", "distill", *EVERY_WEIGHT_ROBUST, *EVERY_WEIGHT_AVERAGING,
                    *EVERY_WEIGHT_PENALTIES):
        assert len(trained) < len(names)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_it_learns_one_batch_and_its_checkpoint_reloads(name, arch, tmp_path, tmp_path_factory):
    strategy, model, tok, setup = prepared(name, arch, tmp_path_factory.getbasetemp() / "models")
    data = batch(tok)
    # a smaller rate when every weight moves, or when LoRA+'s B matrices learn 16 times faster than it
    everything = name in ("full", "llrd", "reinit", "rdrop", "distill", "loraplus", *EVERY_WEIGHT_ROBUST,
                          *EVERY_WEIGHT_AVERAGING, *EVERY_WEIGHT_PENALTIES)
    p = Protocol(learning_rate=1e-3 if everything else 1e-2, weight_decay=0.0)
    if "head_lr" in type(strategy).model_fields:  # a fresh head's own rate: the same as the adapters' here
        strategy = strategy.model_copy(update={"head_lr": p.learning_rate})
    optimizer = strategy.optimizer(model, p.learning_rate, 0.0) or make_optimizer(model, p, strategy.parameters(model, setup))
    index = torch.arange(len(TEXTS))
    inputs = {k: v for k, v in data.items() if k != "labels"}
    params = [q for g in optimizer.param_groups for q in g["params"]]

    def eval_loss():  # without dropout, so that the comparison is not noise
        model.eval()
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(model(**inputs).logits, data["labels"]).item()

    before = eval_loss()
    model.train()
    torch.manual_seed(0)  # dropout's draws: the same whichever tests ran before
    for step in range(1, 21):
        if step == 1:
            strategy.before_epoch(model, setup, 1)
        strategy.backward(lambda: forward_backward(strategy, model, data, index, setup), params)  # SAM: two passes
        optimizer.step()
        strategy.after_step(model, setup, step)
        optimizer.zero_grad()
    after = eval_loss()
    assert after < before - 0.02, (before, after)
    with torch.no_grad():
        want = model(**inputs).logits
    saved = strategy.save(model, tok, Checkpoint(tmp_path))
    assert saved["trained_artifact_bytes"] > 0 and saved["bytes"] >= saved["trained_artifact_bytes"]
    with torch.no_grad():
        got = load_checkpoint(Checkpoint.of({"checkpoint": saved}, tmp_path))[1](**inputs).logits
    assert torch.allclose(want, got, atol=1e-4), (want - got).abs().max()


def forward_backward(strategy, model, data, index, setup):
    loss = strategy.loss(model, data, index, setup)
    loss.backward()
    return loss


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

    deberta = DebertaV2ForSequenceClassification(DebertaV2Config(num_hidden_layers=2, hidden_size=32,
                                                                 num_attention_heads=2, intermediate_size=64,
                                                                 vocab_size=100, num_labels=5))
    assert roles_for(deberta).head == ("pooler", "classifier") and set(ROLES) >= {"distilbert", "bert", "roberta",
                                                                                 "deberta-v2"}
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
        assert cls(**options(name)).name == name
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
    promised = {n for n in promised if not n.endswith(("LayerNorm.weight", "LayerNorm.bias", "layer_norm.weight",
                                                        "layer_norm.bias", ".bias"))}  # these re-init to 1 and 0
    assert promised and promised <= changed
    assert changed <= {n for n in before if n.startswith(top) or (roles.pooler and n.startswith(roles.pooler + "."))}


def test_loraplus_trains_with_the_protocols_weight_decay():
    model, _ = tiny("distilbert")
    strategy = STRATEGIES["loraplus"]()
    model, _ = strategy.apply(model, setup_for(model))
    optimizer = strategy.optimizer(model, 1e-4, 0.01)
    decays = {g["weight_decay"] for g in optimizer.param_groups if g["params"]}
    assert 0.01 in decays  # PEFT's own default would leave every group at 0
