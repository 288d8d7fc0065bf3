"""What every registered strategy trains, and at what learning-rate scale, on tiny DistilBERT, BERT, RoBERTa and
DeBERTa-v2 loaded the real way: save_pretrained into a folder, then the Hub model source reads it back.

The expectations are written out here per architecture (ARCHS: which parameters are the embeddings, each layer, a
pretrained pooler, the head), not read from the role table, so that a gap in the table shows as a difference: a
module no role covers (DeBERTa-v2's relative-position embeddings), a suffix that catches too much (IA3's
output.dense on BERT), a pooler left out of freeze. A strategy registered without a promise here fails, naming
what to write.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest
import torch
from factories import TINY_ARCHS, tiny_model  # tests/ is on sys.path

from tuneoff.models.sources import HubModel, bundled_tokenizer
from tuneoff.strategies import STRATEGIES, Rate, setup_for
from tuneoff.strategies.regularisers import TeacherContext

N_LAYERS = 2  # every tiny model; the top layer is 1
BERT_LINEAR = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
               "attention_out": "attention.output.dense", "ffn_in": "intermediate.dense", "ffn_out": "output.dense"}
BERT_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


@dataclass(frozen=True)
class Arch:
    """One architecture's parameters by part, written out by hand."""

    layers: str  # the layer list: parameters f"{layers}.{i}." are layer i
    embeddings: tuple[str, ...]  # prefixes of everything at the embeddings' depth
    head: tuple[str, ...]  # top-level modules of the freshly initialised head
    linear: dict  # role -> path inside a layer
    norms: tuple[str, ...]  # paths of the layer norms inside a layer
    outer_norms: tuple[str, ...]  # full paths of the layer norms outside the layers
    pooler: str | None = None  # a pretrained pooler above the top layer


ARCHS = {
    "distilbert": Arch("distilbert.transformer.layer", ("distilbert.embeddings.",), ("pre_classifier", "classifier"),
                       {"query": "attention.q_lin", "key": "attention.k_lin", "value": "attention.v_lin",
                        "attention_out": "attention.out_lin", "ffn_in": "ffn.lin1", "ffn_out": "ffn.lin2"},
                       ("sa_layer_norm", "output_layer_norm"), ("distilbert.embeddings.LayerNorm",)),
    "bert": Arch("bert.encoder.layer", ("bert.embeddings.",), ("classifier",), BERT_LINEAR, BERT_NORMS,
                 ("bert.embeddings.LayerNorm",), pooler="bert.pooler"),
    "roberta": Arch("roberta.encoder.layer", ("roberta.embeddings.",), ("classifier",), BERT_LINEAR, BERT_NORMS,
                    ("roberta.embeddings.LayerNorm",)),
    "deberta-v2": Arch("deberta.encoder.layer",
                       ("deberta.embeddings.", "deberta.encoder.rel_embeddings.", "deberta.encoder.LayerNorm."),
                       ("pooler", "classifier"),
                       {**BERT_LINEAR, "query": "attention.self.query_proj", "key": "attention.self.key_proj",
                        "value": "attention.self.value_proj"},
                       BERT_NORMS, ("deberta.embeddings.LayerNorm", "deberta.encoder.LayerNorm")),
}


def part(arch: Arch, name: str):
    """Which part a base-model parameter belongs to: "embeddings", a layer index, "pooler" or "head"."""
    parts = [p for p, hit in [("embeddings", name.startswith(arch.embeddings)),
                              ("pooler", arch.pooler is not None and name.startswith(arch.pooler + ".")),
                              ("head", name.startswith(tuple(f"{h}." for h in arch.head)))] if hit]
    parts += [i for i in range(N_LAYERS) if name.startswith(f"{arch.layers}.{i}.")]
    assert len(parts) == 1, f"{name} is in {parts or 'no part'}"
    return parts[0]


# --- the models, saved once per architecture and loaded through the Hub source for every test ---------------------

@functools.cache
def tokenizer():
    return bundled_tokenizer()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One saved tiny model per architecture. Every weight is moved off its initial value (biases off 0, norms
    off 1), so that a re-initialised tensor always differs from the saved one."""
    out = {}
    for arch in TINY_ARCHS:
        model = tiny_model(arch, tokenizer())
        with torch.no_grad():
            for q in model.parameters():
                q.add_(0.05 * torch.randn_like(q))
        out[arch] = tmp_path_factory.mktemp(arch) / "model"
        model.save_pretrained(out[arch])
        tokenizer().save_pretrained(out[arch])
    return out


def loaded(folders, arch: str):
    return HubModel(name=str(folders[arch])).build(5).model


def applied(folders, arch: str, name: str):
    model = loaded(folders, arch)
    teacher = torch.zeros(6, 5)  # distillation's teacher logits; apply does not read them
    setup = setup_for(model, total_steps=20, context=TeacherContext(teacher))
    texts = tokenizer()(["a superb , brilliant film", "dull and weak"], padding=True, return_tensors="pt")
    setup.train_batches = lambda: [{**texts, "labels": torch.tensor([4, 1])}]  # Child-Tuning's Fisher pass
    strategy = STRATEGIES[name](**STRATEGIES[name].example)
    model, _ = strategy.apply(model, setup)
    return strategy, model, setup


# --- the promises ------------------------------------------------------------------------------------------------

@dataclass
class Promise:
    trained: dict  # parameter name -> learning-rate scale, for every parameter that takes gradients
    owned: dict | None = None  # what strategy.parameters hands the optimizer, when more than what trains


def every(arch: Arch, base: list[str]) -> Promise:
    return Promise({n: 1.0 for n in base})


def only(keep):
    """The base model's own parameters (no PEFT wrapper) for which keep(arch, name) holds, and the head, at scale 1."""
    return lambda arch, base: Promise({n: 1.0 for n in base if part(arch, n) == "head" or keep(arch, n)})


def llrd(arch: Arch, base: list[str]) -> Promise:
    decay = STRATEGIES["llrd"]().decay  # 0.9: the head and pooler at 1, layer i at decay^(2 - i), embeddings lowest
    depth = {"head": 0, "pooler": 0, "embeddings": N_LAYERS + 1, **{i: N_LAYERS - i for i in range(N_LAYERS)}}
    return Promise({n: decay ** depth[part(arch, n)] for n in base})


def opening(arch: Arch, base: list[str]) -> Promise:
    """The head trains at first; the optimizer owns every weight, to be opened later."""
    return Promise({n: 1.0 for n in base if part(arch, n) == "head"}, owned={n: 1.0 for n in base})


HEAD_LR = Rate(lr=1e-3)  # a fresh head's own rate beside adapters and prompts (PEFT strategies' head_lr)


def peft(adapters, prefix="base_model.model.", prompt=False, adapter_rate=1.0):
    """The adapters (names built by adapters(arch), under the wrapper's prefix; a prompt encoder's outside it) at
    ``adapter_rate`` and PEFT's trained copy of the head at its own rate."""
    def promise(arch: Arch, base: list[str]) -> Promise:
        head = [f"{prefix}{h}.modules_to_save.default.{n[len(h) + 1:]}" for n in base for h in arch.head
                if n.startswith(h + ".")]
        return Promise({**{n: HEAD_LR for n in head},
                        **{("" if prompt else prefix) + a: adapter_rate for a in adapters(arch)}})
    return promise


def in_layers(*roles_and_tensors):
    """Adapter names in every layer: in_layers(("key", "value"), ("ia3_l.default",))."""
    roles, tensors = roles_and_tensors
    return lambda arch: [f"{arch.layers}.{i}.{arch.linear[r]}.{t}" for i in range(N_LAYERS) for r in roles
                         for t in tensors]


LORA_TARGETS = ("query", "key", "value", "attention_out", "ffn_in", "ffn_out")
LORA = ("lora_A.default.weight", "lora_B.default.weight")


def norms(arch: Arch) -> list[str]:
    paths = [*(f"{arch.layers}.{i}.{m}" for i in range(N_LAYERS) for m in arch.norms), *arch.outer_norms]
    return [f"{p}.ln_tuning_layers.default.{t}" for p in paths for t in ("weight", "bias")]


def bottleneck(adapters: tuple[str, ...], layer_norms: bool):
    """Bottleneck adapters (modules of each layer), the head, and every layer norm where the strategy trains them."""
    def promise(arch: Arch, base: list[str]) -> Promise:
        paths = [*(f"{arch.layers}.{i}.{m}" for i in range(N_LAYERS) for m in arch.norms), *arch.outer_norms]
        norm_names = {f"{p}.{t}" for p in paths for t in ("weight", "bias")} if layer_norms else set()
        kept = [n for n in base if part(arch, n) == "head" or n in norm_names]
        added = [f"{arch.layers}.{i}.{a}.{lin}.{t}" for i in range(N_LAYERS) for a in adapters
                 for lin in ("down", "up") for t in ("weight", "bias")]
        return Promise({n: 1.0 for n in [*kept, *added]})
    return promise


PROMPT = ["prompt_encoder.default.embedding.weight"]
P_TUNING = PROMPT + [f"prompt_encoder.default.mlp_head.{i}.{t}" for i in (0, 2, 4) for t in ("weight", "bias")]

PROMISES = {
    "full": every, "rdrop": every, "distill": every, "reinit": every, "llrd": llrd,
    "head": only(lambda arch, n: False),
    "bitfit": only(lambda arch, n: n.endswith(".bias")),
    "freeze": only(lambda arch, n: part(arch, n) in (N_LAYERS - 1, "pooler")),  # k = 1: the top layer, its pooler
    "unfreeze": opening,  # at first the head only; the later steps in test_unfreeze_opens_...
    "lpft": every,  # the probe is fitted in apply, then every weight trains
    "mixout": every, "noisytune": every, "label_smoothing": every,  # strategies/robust.py
    "childtune": every, "childtune_f": every,  # every weight takes gradients; masks act on them before the update
    "ema": every, "swa": every, "wiseft": every, "sam": every,  # strategies/averaging.py
    "l2sp": every, "r3f": every,  # strategies/penalties.py
    "adapter_houlsby": bottleneck(("adapter_attention", "adapter_ffn"), layer_norms=True),  # strategies/adapters.py
    "adapter_pfeiffer": bottleneck(("adapter_ffn",), layer_norms=False),
    "soup": every,  # strategies/soup.py: each ingredient is full fine-tuning
    "lora": peft(in_layers(LORA_TARGETS, LORA)), "loraplus": peft(in_layers(LORA_TARGETS, LORA)),
    "adalora": peft(in_layers(LORA_TARGETS, ("lora_A.default", "lora_B.default", "lora_E.default"))),
    "ia3": peft(in_layers(("key", "value", "ffn_out"), ("ia3_l.default",)),  # not the attention's output.dense
                adapter_rate=Rate(decay=False)),  # scaling vectors: no decay towards 0
    "vera": peft(in_layers(("query", "value"), ("vera_lambda_b.default", "vera_lambda_d.default"))),
    "lntuning": peft(norms),
    "prompt": peft(lambda arch: PROMPT, "base_model.", prompt=True),
    "ptuning": peft(lambda arch: P_TUNING, "base_model.", prompt=True),
}


def promise_for(name: str):
    if name not in PROMISES:
        pytest.fail(f"strategy {name!r} is registered but tests/test_strategy_roles.py has no promise of what it "
                    "trains: add PROMISES[{name!r}] (which parameters take gradients, at what learning-rate scale)")
    return PROMISES[name]


def test_every_strategy_has_its_promise_written_down():
    missing = sorted(set(STRATEGIES) - set(PROMISES))
    assert not missing, f"strategies with no promise in tests/test_strategy_roles.py PROMISES: {missing}"


# --- the tests ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_the_parts_written_here_cover_every_parameter_once(folders, arch):
    base = [n for n, _ in loaded(folders, arch).named_parameters()]
    parts = [part(ARCHS[arch], n) for n in base]  # asserts one part each
    assert set(parts) == {"embeddings", "head", *range(N_LAYERS), *(["pooler"] if ARCHS[arch].pooler else [])}


@pytest.mark.parametrize("arch", TINY_ARCHS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_what_trains_and_at_what_scale_is_what_the_strategy_promises(folders, name, arch):
    promise = promise_for(name)
    base = [n for n, _ in loaded(folders, arch).named_parameters()]
    want = promise(ARCHS[arch], base)
    strategy, model, setup = applied(folders, arch, name)
    trained = {n for n, q in model.named_parameters() if q.requires_grad}
    assert trained == set(want.trained), (sorted(trained - set(want.trained)), sorted(set(want.trained) - trained))
    owned = {n: scale for n, _, scale in strategy.parameters(model, setup)}
    assert owned == pytest.approx(want.owned or want.trained)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_unfreeze_opens_the_top_layer_with_its_pooler_then_down_to_the_embeddings(folders, arch):
    strategy, model, setup = applied(folders, arch, "unfreeze")  # 20 steps, two layers: opens after 5, 10, 15
    spec, opened = ARCHS[arch], []
    for step in range(1, 21):
        if step in (1, 6, 11, 16):
            opened.append({part(spec, n) for n, q in model.named_parameters() if q.requires_grad})
        strategy.after_step(model, setup, step)
    top = {N_LAYERS - 1, *(["pooler"] if spec.pooler else [])}
    assert opened == [{"head"}, {"head", *top}, {"head", *top, 0}, {"head", *top, 0, "embeddings"}]
    assert all(q.requires_grad for q in model.parameters())  # nothing outside the parts stays frozen


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_reinit_redraws_exactly_the_top_layer_and_the_pretrained_pooler(folders, arch):
    """Through the real loading path, where transformers 5 marks loaded tensors as initialised."""
    model = loaded(folders, arch)
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    torch.manual_seed(0)
    STRATEGIES["reinit"](k=1).apply(model, setup_for(model))
    changed = {n for n, q in model.named_parameters() if not torch.equal(q, before[n])}
    assert changed == {n for n in before if part(ARCHS[arch], n) in (N_LAYERS - 1, "pooler")}
