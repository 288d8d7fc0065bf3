"""The data-set registry: SST-5 text, phrases and SST-2 from the trees, CSV, JSON lines, Hugging Face
datasets saved locally, extra test sets, and a 3-class tournament end to end. No downloads."""

from __future__ import annotations

import json

import pytest
from conftest import write_trees

from tuneoff.cli import main
from tuneoff.data import DATASETS, DataError, Sst2, Sst5, Sst5Phrases
from tuneoff.plan.config import _dataset
from tuneoff.store.runfolder import RunFolder


def test_every_registered_data_set_has_a_documented_class():
    for name, cls in DATASETS.items():  # registered by name (tests/test_registry.py checks every registry)
        assert cls.model_fields["name"].default == name and cls.__doc__


# Three tree lines and how pytreebank renders their sentences (escapes undone, brackets restored).
PYTREEBANK = [
    ("(3 (2 The) (3 (2 writer\\/director) (3 (2 is) (3 gifted))))", "The writer/director is gifted", 3),
    ("(1 (2 \\*\\*\\*) (1 (2 -LRB-) (1 (1 dull) (2 -RRB-))))", "*** ( dull )", 1),
    ("(4 (2 8 1\\/2) (4 (2 is) (4 superb)))", "8 1/2 is superb", 4),
]


def test_sst5_text_is_rendered_as_pytreebank_renders_it(tmp_path):
    lines = [line for line, _, _ in PYTREEBANK]
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.txt").write_text("\n".join(lines) + "\n")
    data = Sst5(verify=False).load(tmp_path)
    assert list(zip(data.test.texts, data.test.labels)) == [(t, y) for _, t, y in PYTREEBANK]


def test_sst2_and_phrases_counts_from_the_real_trees(real_sst5):
    sst2 = Sst2().load(real_sst5)
    assert [len(s) for s in sst2.splits()] == [6920, 872, 1821] and sst2.labels == ("negative", "positive")
    every_node = Sst5Phrases(dedupe=False).load(real_sst5)
    assert [len(s) for s in every_node.splits()] == [318_582, 1101, 2210]
    assert len(Sst5Phrases().load(real_sst5).train) == 159_274
    sst5 = Sst5().load(real_sst5)
    assert sum("\\/" in t or "\\*" in t for s in sst5.splits() for t in s.texts) == 0
    assert sum("/" in t or "*" in t for s in sst5.splits() for t in s.texts) >= 108


def test_phrases_come_from_the_training_trees_only(tmp_path):
    folder = write_trees(tmp_path / "t")
    for split in ("dev", "test"):
        text = (folder / f"{split}.txt").read_text().replace("(2 film)", "(2 zzz" + split + "only)")
        (folder / f"{split}.txt").write_text(text)
    phrases = Sst5Phrases(verify=False).load(folder)
    assert not any("only" in t for t in phrases.train.texts)
    assert len(phrases.train) > len(Sst5(verify=False).load(folder).train)  # whole sentences and their parts
    assert phrases.dev.texts == Sst5(verify=False).load(folder).dev.texts


CSV_GOOD = "text,label\na superb film,positive\nan awful film,negative\njust a film,neutral\n"


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_local_files_load_with_labels_from_the_data_or_the_config(tmp_path, kind):
    rows = [("a superb film", "positive"), ("an awful film", "negative"), ("just a film", "neutral")]
    for split in ("train", "dev", "test"):
        path = tmp_path / f"{split}.{kind}"
        if kind == "csv":
            path.write_text(CSV_GOOD)
        else:
            path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    spec = _dataset({"name": kind, **{s: str(tmp_path / f"{s}.{kind}") for s in ("train", "dev", "test")}})
    data = spec.load()
    assert data.labels == ("negative", "neutral", "positive") and data.train.labels == (2, 0, 1)
    ordered = spec.model_copy(update={"labels": ("negative", "neutral", "positive")}).load()
    assert ordered.train.labels == (2, 0, 1)


@pytest.mark.parametrize(
    "content, message",
    [
        ("words,label\na,positive\n", "train.csv:1: no column 'text'; columns: ['label', 'words']"),
        ("text,label\na superb film,positive\n,negative\n", "train.csv:3: empty text in column 'text'"),
        (
            "text,label\na,positive\nb,amazing\n",
            "train.csv:3: unknown label 'amazing'; labels: ['negative', 'positive']",
        ),
        ("text,label\n", "train.csv: no records"),
    ],
)
def test_bad_csv_names_file_line_and_what(tmp_path, content, message):
    for split in ("dev", "test"):
        (tmp_path / f"{split}.csv").write_text("text,label\na,positive\nb,negative\n")
    (tmp_path / "train.csv").write_text(content)
    spec = _dataset(
        {
            "name": "csv",
            "labels": ["negative", "positive"],
            **{s: str(tmp_path / f"{s}.csv") for s in ("train", "dev", "test")},
        }
    )
    with pytest.raises(DataError) as err:
        spec.load()
    assert message in str(err.value)


def test_bad_jsonl_names_file_and_line(tmp_path):
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n')
    (tmp_path / "dev.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b" "label": 0}\n')
    spec = _dataset({"name": "jsonl", **{s: str(tmp_path / f"{s}.jsonl") for s in ("train", "dev", "test")}})
    with pytest.raises(DataError, match=r"dev\.jsonl:2: not valid JSON"):
        spec.load()


def test_a_hugging_face_data_set_saved_locally(tmp_path):
    import datasets

    features = datasets.Features(
        {"sentence": datasets.Value("string"), "sentiment": datasets.ClassLabel(names=["bad", "ok", "good"])}
    )
    rows = {"sentence": ["awful", "fine", "superb", "dreadful"], "sentiment": [0, 1, 2, 0]}
    dd = datasets.DatasetDict(
        {s: datasets.Dataset.from_dict(rows, features=features) for s in ("train", "validation", "test")}
    )
    dd.save_to_disk(str(tmp_path / "saved"))
    spec = _dataset(
        {"name": "hf", "id": str(tmp_path / "saved"), "text_column": "sentence", "label_column": "sentiment"}
    )
    data = spec.load()
    assert data.labels == ("bad", "ok", "good") and data.test.labels == (0, 1, 2, 0)
    saved = datasets.load_from_disk(str(tmp_path / "saved"))  # the fingerprints as saved (save_to_disk makes new ones)
    assert data.files == {
        "train": saved["train"]._fingerprint,
        "dev": saved["validation"]._fingerprint,
        "test": saved["test"]._fingerprint,
    } and all(data.files.values())
    with pytest.raises(DataError, match=r"no split \['dev'\]; splits: \['train', 'validation', 'test'\]"):
        spec.model_copy(update={"dev_split": "dev"}).load()
    with pytest.raises(DataError, match=r"no column 'review'"):
        spec.model_copy(update={"text_column": "review"}).load()


def test_a_hub_id_without_network_fails_in_one_line():
    spec = _dataset({"name": "hf", "id": "SetFit/sst5"})
    with pytest.raises(DataError) as err:
        spec.load()
    assert "'SetFit/sst5' could not be loaded" in str(err.value) and "\n" not in str(err.value)


THREE_CLASS = """
[tournament]
name = "three"
[protocol]
epochs = 2
batch_size = 4
eval_batch_size = 8
learning_rate = 1e-2
max_seq_len = 16
threads = 1
seed = 3
[data]
name = "csv"
train = "train.csv"
dev = "dev.csv"
test = "test.csv"
[[players]]
name = "full"
model = { kind = "random", size = "tiny" }
strategy = { name = "full" }
[[players]]
name = "head"
model = { kind = "random", size = "tiny" }
strategy = { name = "head" }
"""


def test_a_three_class_csv_tournament_runs_and_reports(tmp_path):
    words = {"negative": "awful", "neutral": "film", "positive": "superb"}
    for split, n in (("train", 30), ("dev", 9), ("test", 9)):
        rows = [f"{words[y]} {['a', 'the', 'this'][i % 3]},{y}" for i, y in enumerate(list(words) * (n // 3))]
        (tmp_path / f"{split}.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "three.toml").write_text(THREE_CLASS)
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "three.toml"), "--out", str(out)]) == 0  # data paths relative to the config
    results = RunFolder(out).results()
    assert {tuple(r["labels"]) for r in results} == {("negative", "neutral", "positive")}
    for r in results:
        assert len(r["test"]["confusion_matrix"]) == 3 and r["data"]["name"] == "csv"
        assert r["data"]["checksums_ok"] is None and r["data"]["test_majority_rate"] == pytest.approx(1 / 3)
    md = (out / "report.md").read_text()
    assert "negative" in md and (out / "report.html").is_file()


SST2_EXTRA = """
[[eval]]
name = "sst2"
dataset = { name = "sst2", verify = false }
label_map = { "very negative" = "negative", "negative" = "negative", "positive" = "positive", "very positive" = "positive" }
"""  # noqa: E501 (a TOML inline table is one line)


def test_an_sst5_player_scored_on_sst2_as_an_extra_test_set(tmp_path, tiny_config, tree_dir):
    config = tmp_path / "x.toml"
    config.write_text(tiny_config.read_text() + SST2_EXTRA)
    out = tmp_path / "run"
    learn = ["--set", "protocol.epochs=4", "--set", "protocol.learning_rate=1e-2"]  # so that it does not collapse
    assert main(["run", str(config), "--data-dir", str(tree_dir), "--out", str(out), "--only", "full", *learn]) == 0
    (result,) = RunFolder(out).results()
    scored = result["extra_eval"]["sst2"]
    sst2 = Sst2(verify=False).load(tree_dir)
    # SST-2's test split is SST-5's without the neutral sentences, in the same order: the player's SST-5
    # predictions on those sentences, mapped by hand (0, 1 -> negative; 3, 4 -> positive; 2 -> wrong),
    # give the extra set's score independently of score_extra.
    kept = [(p, y) for p, y in zip(result["test"]["predictions"], result["test"]["labels"]) if y != 2]
    assert [int(y > 2) for _, y in kept] == list(sst2.test.labels) and len(kept) == 21
    by_hand = [{0: 0, 1: 0, 2: -1, 3: 1, 4: 1}[p] for p, _ in kept]
    right = sum(m == int(y > 2) for m, (_, y) in zip(by_hand, kept))
    assert scored["accuracy"] == right / 21
    assert scored["unmapped_predictions"] == by_hand.count(-1)
    seconds = scored.pop("seconds")  # how long scoring it took, in the job's timing too
    assert seconds > 0 and result["timing"]["extra_eval_seconds"] == seconds
    # Pinned (seed 7, CPU): 17 of 21 right, no neutral predictions; negative F1 12*2/(15+13) = 6/7,
    # positive F1 5*2/(6+8) = 5/7, macro-F1 11/14.
    assert scored == {
        "dataset": "sst2",
        "examples": 21,
        "accuracy": 17 / 21,
        "macro_f1": pytest.approx(11 / 14),
        "unmapped_predictions": 0,
        "sha256": sst2.test.sha256,
        "predictions": by_hand,
        "labels": list(sst2.test.labels),
    }  # kept per sentence for the board's paired tests
    board = json.loads((out / "leaderboard.json").read_text())
    entry = board["ranked"][0]["extra_eval"]["sst2"]
    assert entry["mean"] == scored["accuracy"] and entry["ci95"][0] < 17 / 21 < entry["ci95"][1]
    # one player: it may be best on SST-2 exactly when it may be best on the test set (not if it collapsed there)
    assert board["extra_eval"]["sst2"] == {"players": ["full"], "pairwise": [], "may_be_best": board["may_be_best"]}
    assert "Across data sets" in (out / "report.md").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace('"very positive" = "positive" }', '"very positive" = "great" }'))
    assert main(["run", str(bad), "--data-dir", str(tree_dir), "--out", str(tmp_path / "bad")]) == 2


def test_extra_label_mappings_are_built_from_the_label_map_or_the_shared_names(tmp_path, tiny_config, tree_dir):
    from tuneoff.plan.loading import load_config
    from tuneoff.run.tournament import load_data

    config = tmp_path / "x.toml"
    config.write_text(
        tiny_config.read_text() + SST2_EXTRA + '[[eval]]\nname = "same-names"\n'
        'dataset = { name = "sst2", verify = false }\n'
    )
    dataset, extras = load_data(load_config(config), str(tree_dir), None)
    assert dataset.labels == ("very negative", "negative", "neutral", "positive", "very positive")
    assert [(x.name, x.dataset.labels) for x in extras] == [
        ("sst2", ("negative", "positive")),
        ("same-names", ("negative", "positive")),
    ]
    # label_map: very negative, negative -> 0; neutral unmapped -> -1; positive, very positive -> 1.
    assert extras[0].mapping == (0, 0, -1, 1, 1)
    # no label_map: only the names both sets share ("negative", "positive") are mapped.
    assert extras[1].mapping == (-1, 0, -1, 1, -1)


def test_a_small_run_scores_a_fixed_sample_of_an_extra_set(tmp_path, tiny_config, tree_dir):
    from tuneoff.plan.loading import load_config
    from tuneoff.run.tournament import fingerprints, load_data

    config = tmp_path / "x.toml"
    config.write_text(tiny_config.read_text() + SST2_EXTRA)
    whole = load_data(load_config(config), str(tree_dir), None)
    config.write_text(tiny_config.read_text() + SST2_EXTRA.replace("label_map", "max_test = 8\nlabel_map"))
    dataset, extras = load_data(load_config(config), str(tree_dir), None)
    full, sample = whole[1][0].dataset.test, extras[0].dataset.test
    assert len(full) == 21 and len(sample) == 8
    assert set(zip(sample.texts, sample.labels)) <= set(zip(full.texts, full.labels))
    assert fingerprints(*whole)["eval:sst2"] != fingerprints(dataset, extras)["eval:sst2"]  # another job
    assert load_data(load_config(config), str(tree_dir), None)[1][0].dataset.test == sample  # the same 8 each time


def test_extra_set_scores_map_predictions_and_count_unmapped_ones_as_wrong(tmp_path, monkeypatch):
    """score_extra's arithmetic on a hand-computed case; the model's predictions are chosen, not run."""
    import numpy as np
    import torch

    from tuneoff.models.sources import bundled_tokenizer
    from tuneoff.plan.config import Protocol
    from tuneoff.training import evaluate

    labels = ["negative", "negative", "positive", "positive", "positive", "positive", "positive"]
    for split in ("train", "dev", "test"):
        rows = [f"sentence {i},{y}" for i, y in enumerate(labels)]
        (tmp_path / f"{split}.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    two = _dataset(
        {
            "name": "csv",
            "labels": ["negative", "positive"],
            **{s: str(tmp_path / f"{s}.csv") for s in ("train", "dev", "test")},
        }
    ).load()
    assert two.test.labels == (0, 0, 1, 1, 1, 1, 1)
    predictions = np.array([0, 1, 2, 3, 4, 2, 0])  # the 5-class player's
    seen = []

    def chosen(model, data, *args, **kwargs):
        seen.append(len(data))
        return evaluate.Scored(0.0, predictions, np.zeros((len(predictions), 5)))

    monkeypatch.setattr(evaluate, "score", chosen)
    extra = evaluate.Extra("two", two, (0, 0, -1, 1, 1))
    scored = evaluate.score_extra(None, bundled_tokenizer(), extra, Protocol(), torch.device("cpu"))
    assert seen == [7]
    # mapped: [0, 0, -1, 1, 1, -1, 0] against [0, 0, 1, 1, 1, 1, 1]: right at 0, 1, 3, 4 -> 4/7.
    # negative: TP 2, predicted 3, support 2 -> F1 = 2*2/(3+2) = 4/5.
    # positive: TP 2, predicted 2, support 5 -> F1 = 2*2/(2+5) = 4/7. macro-F1 = (4/5 + 4/7)/2 = 24/35.
    # (-1 is no class of its own: a third class would give 16/35; dropping the unmapped ones 4/5 accuracy.)
    assert scored == {
        "dataset": "csv",
        "examples": 7,
        "accuracy": pytest.approx(4 / 7),
        "macro_f1": pytest.approx(24 / 35),
        "unmapped_predictions": 2,
        "sha256": two.test.sha256,
        "predictions": [0, 0, -1, 1, 1, -1, 0],
        "labels": [0, 0, 1, 1, 1, 1, 1],
    }
