"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021) against the papers' equations: the module, where
it sits in a layer (intermediate values caught by hooks on tiny BERT, dropout off), the identity at a zero
up-projection, the trained parameter count, and the checkpoint through predict and export."""

from __future__ import annotations

import functools
import json
import math

import pytest
import torch
from conftest import TINY_CONFIG, write_trees
from factories import TINY_ARCHS, tiny_model

from tuneoff.cli import main
from tuneoff.models.bottleneck import Bottleneck, from_pretrained
from tuneoff.models.sources import bundled_tokenizer
from tuneoff.run.predict import predict
from tuneoff.strategies import STRATEGIES, setup_for

TEXTS = ["a superb , brilliant film", "dull and weak", "the story", "awful , dreadful"]


@functools.cache
def tokenizer():
    return bundled_tokenizer()


def inputs():
    return tokenizer()(TEXTS, padding=True, return_tensors="pt")


F = {
    "relu": lambda v: v.clamp(min=0),
    "gelu": lambda v: 0.5 * v * (1 + torch.erf(v / math.sqrt(2))),
    "swish": lambda v: v / (1 + torch.exp(-v)),
}


def by_hand(adapter, z):
    """A(z) = W_up f(W_down z + b_down) + b_up, without the residual."""
    hidden = F[adapter.activation](z @ adapter.down.weight.T + adapter.down.bias)
    return hidden @ adapter.up.weight.T + adapter.up.bias


def layer_norm(v, norm):
    mean, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
    return (v - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


@pytest.mark.parametrize("activation", sorted(F))
def test_a_bottleneck_is_its_input_plus_up_of_f_of_down(activation):
    torch.manual_seed(0)
    adapter = Bottleneck(6, 3, activation, init_scale=0.01)
    for linear in (adapter.down, adapter.up):  # near identity: truncated at 2 std, zero biases
        assert linear.weight.abs().max() <= 0.02 and not linear.bias.any()
    with torch.no_grad():
        for q in adapter.parameters():
            q.copy_(torch.randn_like(q))
    z = torch.randn(4, 6)
    torch.testing.assert_close(adapter(z), z + by_hand(adapter, z))


def caught(model, paths: dict) -> dict:
    """Hooks, registered before the adapters' (so they see what the model's own modules return and receive):
    name -> (module path, "in" for an input of the module's call by position, or "out")."""
    got, modules = {}, dict(model.named_modules())
    for key, (path, what) in paths.items():
        if what == "out":
            modules[path].register_forward_hook(lambda m, a, out, key=key: got.__setitem__(key, out))
        else:
            modules[path].register_forward_pre_hook(lambda m, a, key=key, i=what: got.__setitem__(key, a[i]))
    return got


LAYER = "bert.encoder.layer.0"


def adapted(name: str, **options):
    model = tiny_model("bert", tokenizer()).eval()
    got = caught(
        model,
        {
            "x_att": (f"{LAYER}.attention.output", 1),
            "h_att": (f"{LAYER}.attention.output.dense", "out"),
            "s_att": (f"{LAYER}.attention.output.LayerNorm", 0),
            "x_ffn": (f"{LAYER}.output", 1),
            "h_ffn": (f"{LAYER}.output.dense", "out"),
            "s_ffn": (f"{LAYER}.output.LayerNorm", 0),
            "out_ffn": (f"{LAYER}.output", "out"),
        },
    )
    model, _ = STRATEGIES[name](**options).apply(model, setup_for(model))
    with torch.no_grad():
        model(**inputs())
    return model, got


def test_houlsby_adapts_each_sublayers_output_before_its_residual_add_and_layer_norm():
    """Houlsby et al. 2019, fig. 2: LN(x + h + A(h)) after the attention and after the feed-forward."""
    model, got = adapted("adapter_houlsby", size=4, init_scale=0.5)
    layer = model.bert.encoder.layer[0]
    with torch.no_grad():
        for part, adapter in (("att", layer.adapter_attention), ("ffn", layer.adapter_ffn)):
            h = got[f"h_{part}"]
            delta = by_hand(adapter, h)
            assert delta.abs().max() > 1e-3  # far above the comparison's tolerance
            torch.testing.assert_close(got[f"s_{part}"], got[f"x_{part}"] + h + delta)


def test_pfeiffer_adapts_after_the_feed_forwards_add_and_norm_and_normalises_again():
    """AdapterHub's Pfeiffer configuration: with y = x + h, LN(y + A(LN(y))); the attention sublayer is untouched."""
    model, got = adapted("adapter_pfeiffer", size=4, init_scale=0.5)
    layer = model.bert.encoder.layer[0]
    norm = layer.output.LayerNorm
    with torch.no_grad():
        y = got["s_ffn"]
        torch.testing.assert_close(y, got["x_ffn"] + got["h_ffn"])
        delta = by_hand(layer.adapter_ffn, layer_norm(y, norm))
        assert delta.abs().max() > 1e-3  # far above the comparison's tolerance
        torch.testing.assert_close(got["out_ffn"], layer_norm(y + delta, norm))
        torch.testing.assert_close(got["s_att"], got["x_att"] + got["h_att"])
    assert not hasattr(layer, "adapter_attention")


@pytest.mark.parametrize("name", ["adapter_houlsby", "adapter_pfeiffer"])
@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_with_zero_up_projections_the_adapted_model_is_the_model(arch, name):
    base = tiny_model(arch, tokenizer()).eval()
    model, _ = STRATEGIES[name](size=4, init_scale=0.5).apply(tiny_model(arch, tokenizer()), setup_for(base))
    model.eval()
    with torch.no_grad():
        want = base(**inputs()).logits
        assert not torch.allclose(model(**inputs()).logits, want, atol=1e-4)  # the adapters are in the path
        for adapter in (m for m in model.modules() if isinstance(m, Bottleneck)):
            adapter.up.weight.zero_()
            adapter.up.bias.zero_()
        torch.testing.assert_close(model(**inputs()).logits, want)


@pytest.mark.parametrize("name,per_layer,norms", [("adapter_houlsby", 2, True), ("adapter_pfeiffer", 1, False)])
def test_what_trains_is_the_adapters_the_head_and_for_houlsby_the_layer_norms(name, per_layer, norms):
    """Houlsby et al. 2019, §2.1: each adapter adds 2md + d + m parameters; they train it, the layer norms and
    the head. Tiny BERT: d = 32, L = 2 layers, 2 layer norms each (and the embeddings' one), head 32 x 5 + 5."""
    model = tiny_model("bert", tokenizer())
    model, _ = STRATEGIES[name](size=4).apply(model, setup_for(model))
    d, m, layers = 32, 4, 2
    adapters = layers * per_layer * (2 * m * d + d + m)
    layer_norms = (2 * layers + 1) * 2 * d if norms else 0
    assert sum(q.numel() for q in model.parameters() if q.requires_grad) == adapters + layer_norms + 32 * 5 + 5
    assert not any(q.requires_grad for n, q in model.named_parameters() if n.startswith("bert.pooler."))


def test_a_model_without_the_modules_is_refused_before_training():
    model = tiny_model("bert", tokenizer())
    model.bert.encoder.layer[0].output.LayerNorm = torch.nn.Identity()
    problems = STRATEGIES["adapter_pfeiffer"]().check(model)
    assert problems == ["bottleneck adapters: output.LayerNorm is a Identity, not a LayerNorm"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-player tournament (Houlsby adapters) over a tiny DistilBERT saved as a folder, so that the adapter
    can name its base."""
    work = tmp_path_factory.mktemp("adapters")
    tiny_model("distilbert", tokenizer()).save_pretrained(work / "base")
    tokenizer().save_pretrained(work / "base")
    players = TINY_CONFIG.index("[[players]]")
    config = (
        TINY_CONFIG[:players] + '[[players]]\nname = "houlsby"\n'
        f'model = {{ kind = "hub", name = "{work / "base"}" }}\n'
        'strategy = { name = "adapter_houlsby", size = 4, init_scale = 0.1 }\n'
        "protocol = { learning_rate = 5e-2 }\n"
    )
    (work / "tiny.toml").write_text(config)
    out = work / "run"
    assert (
        main(
            [
                "run",
                str(work / "tiny.toml"),
                "--data-dir",
                str(write_trees(work / "sst5")),
                "--out",
                str(out),
                "--no-report",
                "--set",
                "protocol.epochs=1",
            ]
        )
        == 0
    )
    return out


def test_the_checkpoint_answers_predict_and_exports_as_an_adapter_tuneoff_loads(run, tmp_path, capsys):
    result = json.loads((run / "players" / "houlsby" / "seed-7" / "result.json").read_text())
    assert result["checkpoint"]["format"] == "bottleneck"
    answers = predict(run, "houlsby", TEXTS)
    want = torch.tensor([list(a.probabilities.values()) for a in answers])
    assert main(["export", str(run), "--player", "houlsby", "--to", str(tmp_path / "merged")]) == 2
    assert (
        "cannot be exported as a plain transformers model: bottleneck adapters are nonlinear" in capsys.readouterr().out
    )
    assert (
        main(
            ["export", str(run), "--player", "houlsby", "--to", str(tmp_path / "a"), "--no-merge", "--allow-collapsed"]
        )
        == 0
    )  # one epoch on 60 sentences: it may have learned nothing
    model = from_pretrained(tmp_path / "a")
    with torch.inference_mode():
        got = model(**tokenizer()(TEXTS, padding=True, return_tensors="pt")).logits.softmax(-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    card = (tmp_path / "a" / "README.md").read_text()
    assert "from tuneoff.models.bottleneck import from_pretrained" in card and "library_name: tuneoff" in card
