"""`tuneoff export` the Hugging Face way: collapse refused or bannered, Hub metadata that ModelCard.load reads,
adapters whose card snippet loads them (on a head-less base, and with the converted MiniLM beside them), a
portable reproduction block that trains the same job again, and --push-to-hub against a recorded fake."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from conftest import write_trees
from factories import LABELS
from test_datasets import SST2_EXTRA

from tuneoff.cli import main
from tuneoff.run.predict import predict
from tuneoff.store.runfolder import RunFolder

SAMPLE = "a superb film"  # the card's snippets label it
MINI = """
[tournament]
name = "mini"

[protocol]
epochs = 1
batch_size = 8
eval_batch_size = 32
learning_rate = 1e-3
max_seq_len = 32
threads = 1
seed = 3

[data]
verify = false

[[players]]
name = "lora"
model = { kind = "minilm" }
strategy = { name = "lora", r = 4, alpha = 8 }
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_trees(tmp_path_factory.mktemp("sst5"))


@pytest.fixture(scope="module")
def mini(tmp_path_factory, data) -> Path:
    """A LoRA player on the bundled MiniLM, with SST-2 as an extra test set."""
    work = tmp_path_factory.mktemp("mini")
    (work / "mini.toml").write_text(MINI + SST2_EXTRA)
    assert main(
        ["run", str(work / "mini.toml"), "--data-dir", str(data), "--out", str(work / "run"), "--no-report"]
    ) in (0, 1)
    return work / "run"


@pytest.fixture(scope="module")
def headless(tmp_path_factory, data) -> Path:
    """A LoRA player over a local base saved without a classification head (its config: 2 labels)."""
    from conftest import TINY_CONFIG
    from transformers import DistilBertConfig, DistilBertModel

    from tuneoff.models.sources import bundled_tokenizer

    work = tmp_path_factory.mktemp("headless")
    tokenizer = bundled_tokenizer()
    torch.manual_seed(0)
    config = DistilBertConfig(
        vocab_size=len(tokenizer), n_layers=2, dim=32, n_heads=2, hidden_dim=64, pad_token_id=tokenizer.pad_token_id
    )
    assert config.num_labels == 2
    DistilBertModel(config).save_pretrained(work / "base")
    tokenizer.save_pretrained(work / "base")
    text = TINY_CONFIG.replace('{ kind = "random", size = "tiny" }', f'{{ kind = "hub", name = "{work / "base"}" }}')
    (work / "tiny.toml").write_text(
        text.replace("protocol = { learning_rate = 5e-3 }", "protocol = { learning_rate = 5e-2 }")
    )
    assert main(
        [
            "run",
            str(work / "tiny.toml"),
            "--data-dir",
            str(data),
            "--out",
            str(work / "run"),
            "--no-report",
            "--only",
            "lora",
        ]
    ) in (0, 1)
    return work / "run"


def patched(run: Path, to: Path, right: bool) -> Path:
    """A copy of the run whose test answers are right but for three (no collapse), or all the commonest class
    (collapse)."""
    shutil.copytree(run, to)
    for job in sorted(to.glob("players/*/*/result.json")):
        r = json.loads(job.read_text())
        labels, k = r["test"]["labels"], len(r["labels"])
        common = max(range(k), key=labels.count)
        r["test"]["predictions"] = (
            [(y + (i < 3)) % k for i, y in enumerate(labels)] if right else [common] * len(labels)
        )
        r["test"]["accuracy"] = sum(p == y for p, y in zip(r["test"]["predictions"], labels)) / len(labels)
        r["test"]["predicted_distribution"] = [r["test"]["predictions"].count(c) for c in range(k)]
        job.write_text(json.dumps(r))
    assert main(["leaderboard", str(to)]) in (0, 1)
    return to


def card_of(folder: Path) -> str:
    return (folder / "README.md").read_text()


def block(card: str, language: str) -> str:
    return re.search(rf"```{language}\n(.*?)```", card, re.S).group(1)


def snippet_probabilities(folder: Path, monkeypatch) -> torch.Tensor:
    """Run the card's own loading snippet from the export's parent folder (it loads the folder by its name)."""
    monkeypatch.chdir(folder.parent)
    namespace: dict = {}
    exec(compile(block(card_of(folder), "python"), "README.md", "exec"), namespace)  # the card's code
    return namespace["probabilities"]


def expected(run: Path, player: str) -> torch.Tensor:
    answer = predict(run, player, [SAMPLE])[0]
    return torch.tensor([answer.probabilities[label] for label in LABELS])


def test_a_collapsed_checkpoint_is_refused_unless_allowed_and_its_card_says_so(mini, tmp_path, capsys):
    from huggingface_hub import ModelCard

    run = patched(mini, tmp_path / "collapsed", right=False)
    assert main(["export", str(run), "--player", "lora", "--to", str(tmp_path / "m")]) == 2
    out = capsys.readouterr().out.replace("\n", "")
    assert "player 'lora' seed 3 COLLAPSED: " in out and "--allow-collapsed exports it anyway" in out
    assert not (tmp_path / "m").exists()
    assert main(["export", str(run), "--player", "lora", "--to", str(tmp_path / "m"), "--allow-collapsed"]) == 0
    assert "warning: player 'lora' seed 3 COLLAPSED" in capsys.readouterr().out.replace("\n", "")
    card = card_of(tmp_path / "m")
    assert "collapsed" in ModelCard.load(tmp_path / "m" / "README.md").data.tags
    assert card.split("---\n", 2)[2].lstrip().startswith("> **COLLAPSED: this model learned nothing.**")
    assert "--allow-collapsed\n" in block(card, "bash")  # the reproduction needs it too
    healthy = patched(mini, tmp_path / "healthy", right=True)
    assert main(["export", str(healthy), "--player", "lora", "--to", str(tmp_path / "h")]) == 0
    assert "collapsed" not in ModelCard.load(tmp_path / "h" / "README.md").data.tags
    assert "COLLAPSED" not in card_of(tmp_path / "h") and "warning" not in capsys.readouterr().out


def test_the_card_metadata_follows_hub_conventions(mini, tmp_path):
    from huggingface_hub import ModelCard

    run = patched(mini, tmp_path / "run", right=True)
    assert main(["export", str(run), "--player", "lora", "--to", str(tmp_path / "m")]) == 0
    data = ModelCard.load(tmp_path / "m" / "README.md").data
    assert (data.license, data.base_model) == ("apache-2.0", "sentence-transformers/all-MiniLM-L6-v2")
    assert data.datasets == ["SetFit/sst5", "stanfordnlp/sst2"] and data.library_name == "transformers"
    result = RunFolder(run).job("lora", "seed-3").result()
    scores = {(e.dataset_type, e.metric_type): e.metric_value for e in data.eval_results}
    assert scores[("SetFit/sst5", "accuracy")] == result["test"]["accuracy"] == 22 / 25
    assert scores[("SetFit/sst5", "f1")] == result["test"]["macro_f1"]
    assert scores[("SetFit/sst5", "accuracy_ci95_low")] < 22 / 25 < scores[("SetFit/sst5", "accuracy_ci95_high")]
    sst2 = result["extra_eval"]["sst2"]
    assert scores[("stanfordnlp/sst2", "accuracy")] == sst2["accuracy"]
    assert scores[("stanfordnlp/sst2", "f1")] == sst2["macro_f1"]
    assert (
        scores[("stanfordnlp/sst2", "accuracy_ci95_low")]
        <= sst2["accuracy"]
        <= scores[("stanfordnlp/sst2", "accuracy_ci95_high")]
    )
    card = card_of(tmp_path / "m")
    assert (
        "## Framework versions" in card
        and f"- Transformers {result['environment']['software']['transformers']}" in card
    )
    epochs = card[card.index("## Training results") :]
    assert "| 1 (kept) |" in epochs and f"{result['history']['epochs'][0]['dev_accuracy']:.2%}" in epochs
    assert main(["export", str(run), "--player", "lora", "--to", str(tmp_path / "l"), "--license", "mit"]) == 0
    assert ModelCard.load(tmp_path / "l" / "README.md").data.license == "mit"


def test_the_reproduction_block_trains_the_same_job_again(mini, data, tmp_path, monkeypatch):
    assert main(["export", str(mini), "--player", "lora", "--to", str(tmp_path / "m"), "--allow-collapsed"]) == 0
    card = card_of(tmp_path / "m")
    assert str(mini.parent) not in card and str(tmp_path) not in card and "…" not in block(card, "bash")
    commands = [shlex.split(line) for line in block(card, "bash").splitlines() if not line.startswith("#")]
    assert [c[:2] for c in commands] == [["tuneoff", "run"], ["tuneoff", "export"]]
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(tmp_path / "m" / "tuneoff.toml", work)
    monkeypatch.chdir(work)
    assert main([*commands[0][1:], "--data-dir", str(data), "--no-report"]) in (0, 1)  # offline: the SST files here
    again, before = (RunFolder(r).job("lora", "seed-3").result() for r in (work / "runs" / "mini", mini))
    assert again["job_hash"] == before["job_hash"] and again["status"] == "completed"
    assert main([*commands[1][1:], "--allow-collapsed"]) == 0 and (work / "m" / "model.safetensors").is_file()


def test_an_adapter_on_a_headless_base_loads_with_its_cards_snippet(headless, tmp_path, monkeypatch):
    from huggingface_hub import ModelCard
    from peft import AutoPeftModelForSequenceClassification

    assert (
        main(
            [
                "export",
                str(headless),
                "--player",
                "lora",
                "--to",
                str(tmp_path / "adapter"),
                "--no-merge",
                "--allow-collapsed",
            ]
        )
        == 0
    )
    data = ModelCard.load(tmp_path / "adapter" / "README.md").data
    assert data.library_name == "peft" and data.base_model is None  # a local base has no Hub id
    torch.testing.assert_close(
        snippet_probabilities(tmp_path / "adapter", monkeypatch), expected(headless, "lora"), atol=1e-5, rtol=1e-4
    )
    with pytest.raises(RuntimeError, match="size mismatch"):  # without the label maps the head has 2 classes
        AutoPeftModelForSequenceClassification.from_pretrained(str(tmp_path / "adapter"))


def test_an_offline_minilm_adapter_is_exported_with_its_base_beside_it(mini, tmp_path, monkeypatch):
    from huggingface_hub import ModelCard

    assert (
        main(
            [
                "export",
                str(mini),
                "--player",
                "lora",
                "--to",
                str(tmp_path / "adapter"),
                "--no-merge",
                "--allow-collapsed",
            ]
        )
        == 0
    )
    folder = tmp_path / "adapter"
    assert (folder / "adapter_model.safetensors").is_file() and (folder / "base" / "model.safetensors").is_file()
    data = ModelCard.load(folder / "README.md").data
    assert data.library_name == "peft" and data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert "base_model:adapter:sentence-transformers/all-MiniLM-L6-v2" in data.tags
    torch.testing.assert_close(snippet_probabilities(folder, monkeypatch), expected(mini, "lora"), atol=1e-5, rtol=1e-4)


class FakeHub:
    """Stands in for huggingface_hub.HfApi: records each call, and what the folder held when it was uploaded."""

    calls: list = []

    def __init__(self, **kwargs):
        self.calls.append(("HfApi", kwargs))

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return type("RepoUrl", (str,), {"repo_id": repo_id})(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        self.calls.append(
            ("upload_folder", kwargs, sorted(p.name for p in folder.iterdir()), (folder / "README.md").read_text())
        )
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()


def test_push_to_hub_creates_the_repo_and_uploads_the_folder(mini, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tuneoff.run.hub_push.HfApi", FakeHub)
    FakeHub.calls = []
    to = tmp_path / "m"
    assert (
        main(
            [
                "export",
                str(mini),
                "--player",
                "lora",
                "--to",
                str(to),
                "--allow-collapsed",
                "--push-to-hub",
                "me/mini-lora",
                "--private",
            ]
        )
        == 0
    )
    (_, create), (_, repo, options), (_, upload, files, readme) = [
        (c[0], c[1:]) if c[0] == "HfApi" else c for c in FakeHub.calls
    ]
    assert repo == "me/mini-lora" and options == {"private": True, "exist_ok": True, "repo_type": "model"}
    assert upload["repo_id"] == "me/mini-lora" and upload["folder_path"] == str(to) and upload["repo_type"] == "model"
    assert {"README.md", "config.json", "model.safetensors", "tuneoff.toml"} <= set(files)
    assert "pipeline('text-classification', model='me/mini-lora')" in readme  # the card loads the Hub repo
    assert "https://huggingface.co/me/mini-lora/commit/abc" in capsys.readouterr().out


def test_push_to_hub_failures_and_bad_ids_are_one_line(mini, tmp_path, monkeypatch, capsys):
    class Offline(FakeHub):
        def create_repo(self, repo_id, **kwargs):
            raise ConnectionError("offline\nmore")

    monkeypatch.setattr("tuneoff.run.hub_push.HfApi", Offline)
    to = tmp_path / "m"
    assert (
        main(["export", str(mini), "--player", "lora", "--to", str(to), "--allow-collapsed", "--push-to-hub", "me/x"])
        == 1
    )
    out = capsys.readouterr().out.replace("\n", "")
    assert "--push-to-hub me/x: the upload failed (ConnectionError: offline); the export is in " in out
    assert (to / "README.md").is_file()  # kept
    assert main(["export", str(mini), "--player", "lora", "--to", str(tmp_path / "n"), "--push-to-hub", "bad id"]) == 2
    assert "not a Hub repository id" in capsys.readouterr().out and not (tmp_path / "n").exists()
    assert main(["export", str(mini), "--player", "lora", "--to", str(tmp_path / "n"), "--private"]) == 2
    assert "--private: only with --push-to-hub" in capsys.readouterr().out


def test_each_test_set_is_named_by_its_hub_id_and_local_files_by_none(tmp_path):
    from tuneoff.report.card_meta import HubSet
    from tuneoff.run.card_facts import scored_sets

    def result(data: dict, **extra) -> dict:
        return {"job": {"data": {**data, "sha256": {}}}, "extra_eval": extra}

    config = {"eval": [{"name": "yelp", "dataset": {"name": "hf", "id": "Yelp/yelp_review_full", "config": "x"}}]}
    sets = scored_sets(
        result(
            {"name": "sst5"},
            yelp={"dataset": "hf"},
            sst2={"dataset": "sst2"},
            mine={"dataset": "csv", "spec": {"name": "csv", "train": "a", "dev": "b", "test": "c"}},
            hub={"dataset": "hf", "spec": {"name": "hf", "id": "someone/reviews"}},
        ),
        config,
    )
    assert sets == {
        "test": HubSet("SetFit/sst5"),
        "yelp": HubSet("Yelp/yelp_review_full", "x"),
        "sst2": HubSet("stanfordnlp/sst2"),
        "mine": HubSet(None),
        "hub": HubSet("someone/reviews"),
    }
    assert scored_sets(result({"name": "hf", "id": str(tmp_path)}), {})["test"] == HubSet(None)  # saved to disk
    assert scored_sets(result({"name": "sst5-phrases"}), {})["test"] == HubSet("SetFit/sst5")
    assert scored_sets(result({"name": "csv", "train": "a", "dev": "b", "test": "c"}), {})["test"] == HubSet(None)


def test_the_portable_config_keeps_no_local_path(tmp_path):
    import tomllib

    from tuneoff.plan.portable import portable_toml

    (tmp_path / "model").mkdir()
    config = {
        "tournament": {"name": "t", "seeds": [1]},
        "protocol": {"epochs": 2, "data_seed": None},
        "data": {
            "name": "csv",
            "train": str(tmp_path / "train.csv"),
            "dev": str(tmp_path / "dev.csv"),
            "test": str(tmp_path / "test.csv"),
        },
        "eval": [{"name": "sst2", "dataset": {"name": "sst2", "dir": str(tmp_path), "verify": True}}],
        "players": [
            {
                "name": "p",
                "model": {"kind": "hub", "name": str(tmp_path / "model")},
                "strategy": {"name": "full"},
                "protocol": {},
            }
        ],
    }
    text, notes = portable_toml(config, "header")
    assert str(tmp_path) not in text and text.startswith("# header\n# NOTE: ")
    back = tomllib.loads(text)
    assert back["data"] == {"name": "csv", "train": "train.csv", "dev": "dev.csv", "test": "test.csv"}
    assert back["eval"][0]["dataset"] == {"name": "sst2", "verify": True} and back["protocol"] == {"epochs": 2}
    assert back["players"][0]["model"] == {"kind": "hub", "name": "model"}
    assert len(notes) == 5 and any("--data-dir" in n for n in notes)
