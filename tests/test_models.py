import pytest
import torch

from tuneoff.models.sources import (
    SIZES,
    SOURCES,
    BundledMiniLM,
    HubModel,
    RandomDistilBert,
    bundled_minilm_dir,
)


def test_minilm_converted_to_distilbert_matches_the_original():
    from transformers import BertModel

    torch.manual_seed(0)
    built = BundledMiniLM().build(num_labels=5)
    assert built.pretrained
    distil = built.model.eval()
    bert = BertModel.from_pretrained(str(bundled_minilm_dir()), use_safetensors=True).eval()
    batch = built.tokenizer(
        ["a gorgeous , witty , seductive movie .", "it 's just dull", "( not ) the worst"],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        want = bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        got = distil.distilbert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    real = batch["attention_mask"].bool()
    assert (want - got)[real].abs().max().item() < 1e-4
    cfg = distil.config
    assert (cfg.n_layers, cfg.dim, cfg.n_heads, cfg.hidden_dim, cfg.vocab_size) == (6, 384, 12, 1536, 30522)


# The documented shapes, written out here (not read from SIZES): (n_layers, dim, n_heads, hidden_dim).
DOCUMENTED = {"tiny": (2, 32, 2, 64), "small": (4, 256, 4, 1024), "base": (6, 768, 12, 3072)}


def distilbert_parameters(n_layers, dim, hidden_dim, vocab=30522, positions=512, labels=5):
    """DistilBERT's parameter count by hand: embeddings, per-layer attention/FFN/norms, classifier head."""
    embeddings = vocab * dim + positions * dim + 2 * dim
    layer = 4 * (dim * dim + dim) + (dim * hidden_dim + hidden_dim) + (hidden_dim * dim + dim) + 2 * 2 * dim
    head = (dim * dim + dim) + (dim * labels + labels)
    return embeddings + n_layers * layer + head


# tiny:  993,152 + 2 * 8,544 + 1,221 ; small: 7,945,216 + 4 * 789,760 + 67,077 ;
# base: 23,835,648 + 6 * 7,087,872 + 594,437 (5 labels, the bundled 30,522-word vocabulary).
PARAMETERS = {"tiny": 1_011_461, "small": 11_171_333, "base": 66_957_317}


def test_parameter_arithmetic_matches_the_pinned_counts():
    for size, (n_layers, dim, _, hidden_dim) in DOCUMENTED.items():
        assert distilbert_parameters(n_layers, dim, hidden_dim) == PARAMETERS[size], size


@pytest.mark.parametrize("size", sorted(DOCUMENTED))
def test_random_sizes_are_documented_shapes(size):
    n_layers, dim, n_heads, hidden_dim = DOCUMENTED[size]
    source = RandomDistilBert(size=size)
    assert source.dims() == {"n_layers": n_layers, "dim": dim, "n_heads": n_heads, "hidden_dim": hidden_dim}
    assert sorted(SIZES) == sorted(DOCUMENTED)
    skeleton = source.skeleton(num_labels=5)  # the meta device: shapes only, no memory (base too)
    cfg = skeleton.config
    assert (cfg.n_layers, cfg.dim, cfg.n_heads, cfg.hidden_dim, cfg.vocab_size) == (
        n_layers,
        dim,
        n_heads,
        hidden_dim,
        30522,
    )
    assert sum(q.numel() for q in skeleton.parameters()) == PARAMETERS[size]
    if size == "base":
        return
    torch.manual_seed(0)
    built = source.build(num_labels=5)
    assert not built.pretrained
    assert built.description == (
        f"random DistilBERT n_layers={n_layers} dim={dim} n_heads={n_heads} hidden_dim={hidden_dim}"
    )
    assert sum(q.numel() for q in built.model.parameters()) == PARAMETERS[size]
    assert len(built.model.distilbert.transformer.layer) == n_layers
    assert built.model.distilbert.transformer.layer[0].ffn.lin1.weight.shape == (hidden_dim, dim)


def test_random_explicit_dims_override_the_preset():
    assert RandomDistilBert(size="small", n_layers=3, dim=64, n_heads=4).dims() == {
        "n_layers": 3,
        "dim": 64,
        "n_heads": 4,
        "hidden_dim": 1024,
    }
    with pytest.raises(ValueError, match="not divisible"):
        RandomDistilBert(size="tiny", dim=30, n_heads=4).dims()


def test_random_build_is_seeded():
    torch.manual_seed(3)
    a = RandomDistilBert(size="tiny").build(5).model
    torch.manual_seed(3)
    b = RandomDistilBert(size="tiny").build(5).model
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n


def test_hub_source_loads_a_local_folder_with_safetensors(tmp_path):
    torch.manual_seed(0)
    built = RandomDistilBert(size="tiny").build(5)
    built.model.save_pretrained(tmp_path, safe_serialization=True)
    built.tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = HubModel(name=str(tmp_path)).build(5)
    assert loaded.pretrained
    for (n, p), (_, q) in zip(built.model.named_parameters(), loaded.model.named_parameters()):
        assert torch.equal(p, q), n


def test_hub_source_failure_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="could not load the tokenizer of model"):
        HubModel(name=str(tmp_path / "nowhere")).build(5)


def test_every_source_is_registered_by_its_kind():
    for kind, cls in SOURCES.items():
        assert cls.model_fields["kind"].default == kind
