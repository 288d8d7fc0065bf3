"""The checks every registered strategy goes through, on tiny DistilBERT, BERT, RoBERTa and DeBERTa-v2 loaded the
real way (save_pretrained into a folder, then the Hub model source reads it back): what trains and at what rate is
what its class declares (``Strategy.trains``), and it learns one batch and its checkpoint reloads. The parametrised
suites (test_strategy_roles.py, test_strategies.py) and test_new_strategy.py call them, so a strategy registered
anywhere is checked with no table to edit.

A declaration speaks of roles (the layers, their ``query`` .. ``ffn_out`` projections, every layer norm, the pooler,
the head); it is spelled out here per architecture from ARCHS, written out by hand, not read from the role table
(models/roles.py), so that a gap in the table shows as a difference: a module no role covers (DeBERTa-v2's
relative-position embeddings), a suffix that catches too much (IA3's output.dense on BERT), a pooler left out of
freeze.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest
import torch
from factories import TINY_ARCHS, tiny_model  # tests/ is on sys.path

from tuneoff.models.sources import HubModel, bundled_tokenizer
from tuneoff.plan.config import Protocol
from tuneoff.store.checkpoint import Checkpoint
from tuneoff.strategies import STRATEGIES, Rate, load_checkpoint, setup_for
from tuneoff.strategies.regularisers import TeacherContext
from tuneoff.training.loop import make_optimizer
from tuneoff.training.steps import eager_reason

N_LAYERS = 2  # every tiny model; the top layer is 1
BERT_LINEAR = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_out": "attention.output.dense",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
}
BERT_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")
PROMPT_ENCODER = "prompt_encoder.default"  # where PEFT keeps a prompt method's encoder ("input" in a declaration)


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
    "distilbert": Arch(
        "distilbert.transformer.layer",
        ("distilbert.embeddings.",),
        ("pre_classifier", "classifier"),
        {
            "query": "attention.q_lin",
            "key": "attention.k_lin",
            "value": "attention.v_lin",
            "attention_out": "attention.out_lin",
            "ffn_in": "ffn.lin1",
            "ffn_out": "ffn.lin2",
        },
        ("sa_layer_norm", "output_layer_norm"),
        ("distilbert.embeddings.LayerNorm",),
    ),
    "bert": Arch(
        "bert.encoder.layer",
        ("bert.embeddings.",),
        ("classifier",),
        BERT_LINEAR,
        BERT_NORMS,
        ("bert.embeddings.LayerNorm",),
        pooler="bert.pooler",
    ),
    "roberta": Arch(
        "roberta.encoder.layer",
        ("roberta.embeddings.",),
        ("classifier",),
        BERT_LINEAR,
        BERT_NORMS,
        ("roberta.embeddings.LayerNorm",),
    ),
    "deberta-v2": Arch(
        "deberta.encoder.layer",
        ("deberta.embeddings.", "deberta.encoder.rel_embeddings.", "deberta.encoder.LayerNorm."),
        ("pooler", "classifier"),
        {
            **BERT_LINEAR,
            "query": "attention.self.query_proj",
            "key": "attention.self.key_proj",
            "value": "attention.self.value_proj",
        },
        BERT_NORMS,
        ("deberta.embeddings.LayerNorm", "deberta.encoder.LayerNorm"),
    ),
}


def part(arch: Arch, name: str):
    """Which part a base-model parameter belongs to: "embeddings", a layer index, "pooler" or "head"."""
    parts = [
        p
        for p, hit in [
            ("embeddings", name.startswith(arch.embeddings)),
            ("pooler", arch.pooler is not None and name.startswith(arch.pooler + ".")),
            ("head", name.startswith(tuple(f"{h}." for h in arch.head))),
        ]
        if hit
    ]
    parts += [i for i in range(N_LAYERS) if name.startswith(f"{arch.layers}.{i}.")]
    assert len(parts) == 1, f"{name} is in {parts or 'no part'}"
    return parts[0]


def norm_paths(arch: Arch) -> list[str]:
    """Every layer norm: each layer's, and those outside the layers."""
    return [*(f"{arch.layers}.{i}.{m}" for i in range(N_LAYERS) for m in arch.norms), *arch.outer_norms]


# --- the models, saved once per session per architecture (conftest's tiny_folders) ------------------------------


@functools.cache
def tokenizer():
    return bundled_tokenizer()


def save_tiny_models(root) -> dict:
    """One saved tiny model per architecture. Every weight is moved off its initial value (biases off 0, norms
    off 1), so that a re-initialised tensor always differs from the saved one."""
    out = {}
    for arch in TINY_ARCHS:
        model = tiny_model(arch, tokenizer())
        with torch.no_grad():
            for q in model.parameters():
                q.add_(0.05 * torch.randn_like(q))
        out[arch] = root / arch / "model"
        model.save_pretrained(out[arch])
        tokenizer().save_pretrained(out[arch])
    return out


def loaded(folders, arch: str):
    return HubModel(name=str(folders[arch])).build(5).model


TEXTS = ["a superb , brilliant film", "dull and weak", "the story", "awful , dreadful", "a good , solid movie", "bland"]
LABELS = [4, 1, 2, 0, 3, 1]


def batch():
    return {**tokenizer()(TEXTS, padding=True, return_tensors="pt"), "labels": torch.tensor(LABELS)}


def applied(folders, arch: str, name: str):
    """(strategy built from its example options, the model it applied itself to, the setup)."""
    model = loaded(folders, arch)
    teacher = 4.0 * torch.nn.functional.one_hot(torch.tensor(LABELS), 5).float()  # a teacher that knows the labels
    setup = setup_for(model, total_steps=20, context=TeacherContext(teacher))
    setup.train_batches = lambda: [batch()]  # what the runner hands Child-Tuning and LP-FT (the training set)
    strategy = STRATEGIES[name](**STRATEGIES[name].example)
    torch.manual_seed(0)  # adapters' initial draws: the same whichever tests ran before
    model, _ = strategy.apply(model, setup)
    return strategy, model, setup


# --- what a declaration promises on an architecture ---------------------------------------------------------------


@dataclass
class Promise:
    trained: dict  # parameter name -> learning-rate scale or Rate, for every parameter that takes gradients
    owned: dict | None = None  # what strategy.parameters hands the optimizer, when more than what trains


def wrapper_prefix(model) -> str:
    """Where a PEFT wrapper keeps the transformers model ("" for a plain model)."""
    if not hasattr(model, "get_base_model"):
        return ""
    base = model.get_base_model()
    return next(n for n, m in model.named_modules() if m is base) + "."


def kept(strategy, arch: Arch):
    """Which of the base model's own weights besides the head the declaration's ``base`` trains."""
    trains = type(strategy).trains
    if trains.base == "top":
        k = getattr(strategy, trains.top)
        top = {*range(N_LAYERS - k, N_LAYERS), *(["pooler"] if k >= 1 else [])}
        return lambda n: part(arch, n) in top
    norms = {f"{p}.{t}" for p in norm_paths(arch) for t in ("weight", "bias")}
    return {
        "every": lambda n: True,
        "none": lambda n: False,
        "biases": lambda n: n.endswith(".bias"),
        "norms": lambda n: n in norms,
    }[trains.base]


def sites(arch: Arch, at: str) -> list[str]:
    if at == "norms":
        return norm_paths(arch)
    if at == "input":
        return [PROMPT_ENCODER]
    inside = "" if at == "layer" else "." + arch.linear[at]
    return [f"{arch.layers}.{i}{inside}" for i in range(N_LAYERS)]


def added_parameters(model, arch: Arch, added) -> dict:
    """The model's parameters that are ``added.tensors`` at ``added.at``, each site holding every tensor named."""
    prefix, rate = wrapper_prefix(model), (1.0 if added.decay is None else Rate(decay=added.decay))
    names = [n for n, _ in model.named_parameters()]
    out = {}
    for site in (s for at in added.at for s in sites(arch, at)):
        for tensor in added.tensors:
            spot = f"{site}.{tensor}"
            found = [
                n for n in names if n.removeprefix(prefix) == spot or n.removeprefix(prefix).startswith(spot + ".")
            ]
            assert found, f"declared {tensor!r} at {site!r}, but the model has no parameter there"
            out.update(dict.fromkeys(found, rate))
    return out


def promised(strategy, arch: Arch, base: list[str], model) -> Promise:
    """What ``type(strategy).trains`` promises for the base model's parameters ``base`` once applied as ``model``."""
    trains, prefix = type(strategy).trains, wrapper_prefix(model)
    head_rate = Rate(lr=getattr(strategy, trains.head_rate)) if trains.head_rate else 1.0
    depth = {"head": 0, "pooler": 0, "embeddings": N_LAYERS + 1, **{i: N_LAYERS - i for i in range(N_LAYERS)}}
    keep, trained = kept(strategy, arch), {}
    for n in base:
        if part(arch, n) == "head" and prefix:  # PEFT trains its copy of the head (modules_to_save)
            h = next(h for h in arch.head if n.startswith(h + "."))
            trained[f"{prefix}{h}.modules_to_save.default.{n[len(h) + 1 :]}"] = head_rate
        elif part(arch, n) == "head":
            trained[n] = head_rate
        elif keep(n):
            trained[n] = getattr(strategy, trains.depth_decay) ** depth[part(arch, n)] if trains.depth_decay else 1.0
    for added in trains.added:
        trained.update(added_parameters(model, arch, added))
    return Promise(trained, dict.fromkeys(base, 1.0) if trains.owns_every_weight else None)


def check_promise(folders, arch: str, name: str) -> None:
    """What takes gradients once the strategy applied itself, and at what rate, is what its class declares."""
    base = [n for n, _ in loaded(folders, arch).named_parameters()]
    strategy, model, setup = applied(folders, arch, name)
    want = promised(strategy, ARCHS[arch], base, model)
    trained = {n for n, q in model.named_parameters() if q.requires_grad}
    assert trained == set(want.trained), (
        f"{name} on {arch}: trains but does not declare",
        sorted(trained - set(want.trained)),
        "declares but does not train",
        sorted(set(want.trained) - trained),
    )
    owned = {n: scale for n, _, scale in strategy.parameters(model, setup)}
    assert owned == pytest.approx(want.owned or want.trained)


# --- its steps run captured exactly when it declares them capturable ---------------------------------------------


def check_capturable(name: str) -> None:
    """On CUDA with protocol.cuda_graphs, the strategy's steps are captured exactly when its class declares
    ``capturable`` (its hooks decide: ``capture_blocker``); without cuda_graphs, never."""
    strategy = STRATEGIES[name](**STRATEGIES[name].example)
    p = Protocol(static_shapes=16, cuda_graphs=True)
    reason = eager_reason(p, torch.device("cuda"), strategy)
    declared = type(strategy).capturable
    assert (reason is None) == declared, f"{name} declares capturable = {declared}, but its hooks say: {reason}"
    assert eager_reason(p.model_copy(update={"cuda_graphs": False}), torch.device("cuda"), strategy) is None


# --- it learns one batch, and its checkpoint reloads -------------------------------------------------------------


def check_learns_and_reloads(folders, arch: str, name: str, checkpoint_dir) -> None:
    """20 steps on one batch lower the loss; the saved checkpoint reloads to the same predictions."""
    strategy, model, setup = applied(folders, arch, name)
    data, tok = batch(), tokenizer()
    # a smaller rate when every weight moves, or when a strategy's own optimizer scales some rates up (LoRA+'s B)
    everything = type(strategy).trains.base == "every" or strategy.optimizer(model, 1.0, 0.0) is not None
    p = Protocol(learning_rate=1e-3 if everything else 1e-2, weight_decay=0.0)
    if type(strategy).trains.head_rate:  # a fresh head's own rate: the same as the adapters' here
        strategy = strategy.model_copy(update={type(strategy).trains.head_rate: p.learning_rate})
    optimizer = strategy.optimizer(model, p.learning_rate, 0.0) or make_optimizer(
        model, p, strategy.parameters(model, setup)
    )
    index = torch.arange(len(TEXTS))
    inputs = {k: v for k, v in data.items() if k != "labels"}
    params = [q for g in optimizer.param_groups for q in g["params"]]

    def eval_loss():  # without dropout, so that the comparison is not noise
        model.eval()
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(model(**inputs).logits, data["labels"]).item()

    def forward_backward():
        loss = strategy.loss(model, data, index, setup)
        loss.backward()
        return loss

    before = eval_loss()
    model.train()
    torch.manual_seed(0)  # dropout's draws: the same whichever tests ran before
    for step in range(1, 21):
        if step == 1:
            strategy.before_epoch(model, setup, 1)
        strategy.backward(forward_backward, params)  # SAM: two passes
        optimizer.step()
        strategy.after_step(model, setup, step)
        optimizer.zero_grad()
    after = eval_loss()
    assert after < before - 0.02, (before, after)
    with torch.no_grad():
        want = model(**inputs).logits
    saved = strategy.save(model, tok, Checkpoint(checkpoint_dir))
    assert saved["trained_artifact_bytes"] > 0 and saved["bytes"] >= saved["trained_artifact_bytes"]
    with torch.no_grad():
        got = load_checkpoint(Checkpoint.of({"checkpoint": saved}, checkpoint_dir))[1](**inputs).logits
    assert torch.allclose(want, got, atol=1e-4), (want - got).abs().max()
