"""`tuneoff export`: a player's checkpoint as a folder transformers (or PEFT) loads, answering as `predict` does."""

import json

import pytest
import torch
from conftest import TINY_CONFIG, write_trees
from factories import LABELS, tiny_model

from tuneoff.cli import main
from tuneoff.run.export import export, writer
from tuneoff.run.predict import predict
from tuneoff.store.runfolder import RunFolder

SENTENCES = ["a superb , brilliant film", "dull and weak", "the story", "awful , the worst movie"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny tournament (full and LoRA) over a tiny random DistilBERT saved as a folder, so that an adapter
    can name its base."""
    from tuneoff.models.sources import bundled_tokenizer

    work = tmp_path_factory.mktemp("export")
    tokenizer = bundled_tokenizer()
    tiny_model("distilbert", tokenizer).save_pretrained(work / "base")
    tokenizer.save_pretrained(work / "base")
    config = TINY_CONFIG.replace('{ kind = "random", size = "tiny" }', f'{{ kind = "hub", name = "{work / "base"}" }}')
    # LoRA's rate high enough that its adapter moves the answers (by about 0.1 in probability): an export that
    # lost the adapter would not answer as the trained player does
    config = config.replace("protocol = { learning_rate = 5e-3 }", "protocol = { learning_rate = 5e-2 }")
    assert "5e-2" in config
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
                "protocol.epochs=2",
                "--set",
                "protocol.learning_rate=1e-2",
            ]
        )
        == 0
    )
    return out


def expected(run, player):
    """predict's labels and probabilities on SENTENCES, as [labels], tensor (sentences x labels in LABELS order)."""
    answers = predict(run, player, SENTENCES)
    probs = torch.tensor([[a.probabilities[label] for label in LABELS] for a in answers])
    return [LABELS[i] for i in probs.argmax(-1)], probs


@pytest.mark.parametrize("player", ["full", "lora"])
def test_the_export_loads_in_a_pipeline_and_answers_as_predict(run, tmp_path, player):
    from transformers import pipeline

    done = export(run, player, tmp_path / "model", allow_collapsed=True)
    assert (done.path, done.seed, done.adapter) == (tmp_path / "model", 7, False)
    assert (tmp_path / "model" / "model.safetensors").is_file() and not list(tmp_path.glob(".model*"))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["id2label"] == {str(i): label for i, label in enumerate(LABELS)}
    assert config["label2id"] == {label: i for i, label in enumerate(LABELS)}
    answers = pipeline("text-classification", model=str(tmp_path / "model"))(SENTENCES, top_k=None)
    probs = torch.tensor(
        [[next(a["score"] for a in answer if a["label"] == label) for label in LABELS] for answer in answers]
    )
    labels, want = expected(run, player)
    assert [answer[0]["label"] for answer in answers] == labels
    torch.testing.assert_close(probs, want, atol=1e-5, rtol=1e-4)


def test_the_lora_export_holds_the_adapter_merged_into_the_base(run, tmp_path):
    """Each adapted weight is the base's plus (alpha / r) B A: an export of the base without the adapter fails."""
    from safetensors.torch import load_file

    export(run, "lora", tmp_path / "model", allow_collapsed=True)
    merged = load_file(tmp_path / "model" / "model.safetensors")
    base = load_file(run.parent / "base" / "model.safetensors")
    adapter = load_file(run / "players" / "lora" / "seed-7" / "checkpoint" / "adapter" / "adapter_model.safetensors")
    name = "distilbert.transformer.layer.0.attention.q_lin"
    a, b = (adapter[f"base_model.model.{name}.lora_{x}.weight"] for x in "AB")
    delta = 8.0 / 4 * b @ a  # alpha / r of the tiny config's LoRA player
    assert delta.abs().max() > 1e-3  # training moved it: a base exported unmerged would differ
    torch.testing.assert_close(merged[f"{name}.weight"], base[f"{name}.weight"] + delta)


def test_no_merge_writes_an_adapter_peft_loads_answering_as_predict(run, tmp_path):
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer

    done = export(run, "lora", tmp_path / "adapter", merge=False, allow_collapsed=True)
    assert done.adapter and not (tmp_path / "adapter" / "model.safetensors").exists()
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str((run.parent / "base").resolve())
    model = AutoPeftModelForSequenceClassification.from_pretrained(str(tmp_path / "adapter")).eval()
    batch = AutoTokenizer.from_pretrained(str(tmp_path / "adapter"))(SENTENCES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        probs = model(**batch).logits.softmax(-1)
    labels, want = expected(run, "lora")
    assert [LABELS[i] for i in probs.argmax(-1)] == labels
    torch.testing.assert_close(probs, want, atol=1e-5, rtol=1e-4)
    assert "AutoPeftModelForSequenceClassification" in (tmp_path / "adapter" / "README.md").read_text()


def test_the_card_states_accuracy_ci_verdict_and_commands(run, tmp_path, capsys):
    to = tmp_path / "model"
    assert main(["export", str(run), "--player", "lora", "--to", str(to), "--allow-collapsed"]) == 0
    assert (
        f"player lora, seed 7 (its seed with the best dev accuracy): a transformers model in {to}"
        in capsys.readouterr().out.replace("\n", "")
    )
    card = (to / "README.md").read_text()
    head = card.split("---\n")[1]
    for line in (
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "- tuneoff",
        "- lora",
        "- SetFit/sst5",
        "- accuracy",
        "- f1",
        "license: unknown",
    ):
        assert line in head.splitlines(), line
    result = json.loads((run / "players" / "lora" / "seed-7" / "result.json").read_text())
    row = next(r for r in json.loads((run / "leaderboard.json").read_text())["ranked"] if r["player"] == "lora")
    lo, hi = row["test_accuracy_ci95"]
    assert f"test accuracy **{result['test']['accuracy']:.2%}**" in card
    assert f"95 % CI {lo:.2%} – {hi:.2%}" in card
    if row["collapsed"]:  # tiny models on a tiny test set: the board does not rank a collapsed player
        assert f"COLLAPSED, not ranked: {row['collapse_reason']}" in card
    else:
        a, b = row["rank_interval"]
        assert f"rank interval **{a if a == b else f'{a}–{b}'}**" in card
    pair = json.loads((run / "leaderboard.json").read_text())["pairwise"][0]
    verdict = "cannot be separated" if not pair["separable"] else "is significantly better than"
    lo, hi = pair["ci95"]
    assert f"- {pair['a']} vs {pair['b']}: {pair['diff']:+.2f} [{lo:+.2f}, {hi:+.2f}] points" in card
    assert verdict in card
    # portable commands: the config beside the card, the default run folder, the folder's own name; no local path
    assert "tuneoff run tuneoff.toml --only lora\n" in card
    assert "tuneoff export runs/tiny --player lora --seed 7 --to model --allow-collapsed\n" in card
    assert "config file: `tiny.toml`" in card and str(tmp_path) not in card and str(run.parent) not in card


def test_a_non_empty_folder_is_refused_unless_forced(run, tmp_path, capsys):
    to = tmp_path / "model"
    to.mkdir()
    (to / "keep.txt").write_text("mine")
    assert main(["export", str(run), "--player", "full", "--to", str(to), "--allow-collapsed"]) == 2
    assert f"--to {to}: folder not empty; --force replaces" in capsys.readouterr().out.replace("\n", "")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and [p.name for p in to.iterdir()] == ["keep.txt"]
    assert main(["export", str(run), "--player", "full", "--to", str(to), "--force", "--allow-collapsed"]) == 0
    assert not (to / "keep.txt").exists() and (to / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging or old folder left


def test_an_unknown_player_is_refused_naming_the_players(run, tmp_path, capsys):
    assert main(["export", str(run), "--player", "nobody", "--to", str(tmp_path / "m")]) == 2
    assert "players here: ['full', 'lora']" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_an_interrupted_export_leaves_nothing(run, tmp_path, monkeypatch):
    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("tuneoff.run.export.model_card", stop)
    with pytest.raises(KeyboardInterrupt):
        export(run, "full", tmp_path / "model", allow_collapsed=True)
    assert not list(tmp_path.iterdir())


def test_what_cannot_be_exported_is_refused_in_one_line(run, capsys):
    result = json.loads((run / "players" / "full" / "seed-7" / "result.json").read_text())
    assert main(["export", str(run), "--player", "full", "--to", str(run.parent / "x"), "--no-merge"]) == 2
    assert "--no-merge: player 'full' (strategy full) has no adapter" in capsys.readouterr().out
    prompt = {
        **result,
        "player": {**result["player"], "strategy": {"name": "prompt"}},
        "checkpoint": {"path": "checkpoint/base", "adapter": "checkpoint/adapter", "format": "peft"},
    }
    with pytest.raises(
        ValueError,
        match=r"player 'full' \(strategy prompt\) cannot be exported as a plain "
        r"transformers model: its trained virtual tokens are extra inputs",
    ):
        writer(prompt, merge=True)
    # a merged LoRA checkpoint over random weights: its base can be neither named nor rebuilt
    random = {
        **result,
        "player": {**result["player"], "model": {"kind": "random", "size": "tiny"}, "strategy": {"name": "lora"}},
        "checkpoint": {"path": "checkpoint/model", "adapter": "checkpoint/adapter", "format": "merged"},
    }
    with pytest.raises(
        ValueError, match="trained on a 'random' model, whose weights no adapter can name and tuneoff cannot rebuild"
    ):
        writer(random, merge=False)
    assert writer(prompt, merge=False).__name__ == "write_adapter"
    # a PEFT checkpoint saved its base: written beside the adapter, whatever the model
    random_prompt = {**prompt, "player": {**prompt["player"], "model": {"kind": "random", "size": "tiny"}}}
    assert writer(random_prompt, merge=False).__name__ == "write_adapter"
    assert RunFolder(run).players() == ["full", "lora"]


def test_an_unknown_seed_is_refused_naming_the_seeds(run, tmp_path, capsys):
    assert main(["export", str(run), "--player", "lora", "--seed", "8", "--to", str(tmp_path / "m")]) == 2
    assert "--seed 8: player 'lora' has no result for it; seeds: [7]" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_the_card_names_a_hub_base_model_only(tmp_path):
    from tuneoff.run.card_facts import base_model_id

    def result(**model):
        return {"player": {"model": model}}

    assert base_model_id(result(kind="hub", name="distilbert-base-uncased")) == "distilbert-base-uncased"
    assert base_model_id(result(kind="hub", name=str(tmp_path))) is None  # a local folder is no Hub id
    assert base_model_id(result(kind="random", size="tiny")) is None
    assert base_model_id(result(kind="minilm")) == "sentence-transformers/all-MiniLM-L6-v2"
    assert base_model_id(result(kind="no-such-kind")) is None
