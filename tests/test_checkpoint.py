"""The checkpoint's owner (store.checkpoint): its layout, the result's record of it, the files it must hold, and the
records results on disk already carry, read as before. No torch: files are written by the test."""

from __future__ import annotations

import json

import pytest

from tuneoff.store.checkpoint import EXPORTED_BASE, Checkpoint, exported_base
from tuneoff.store.jobfolder import JobFolder


def write(folder, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def test_the_layout_is_model_adapter_and_base_inside_the_job_checkpoint_folder(tmp_path):
    checkpoint = JobFolder(tmp_path / "players" / "p" / "seed-1").checkpoint
    job = tmp_path / "players" / "p" / "seed-1"
    assert checkpoint.folder == job / "checkpoint"
    assert (checkpoint.model, checkpoint.adapter, checkpoint.base) == (
        job / "checkpoint" / "model",
        job / "checkpoint" / "adapter",
        job / "checkpoint" / "base",
    )
    assert exported_base(tmp_path / "out") == tmp_path / "out" / "base" and EXPORTED_BASE == "base"


def test_the_record_names_the_folders_relative_to_the_job_and_counts_their_bytes(tmp_path):
    checkpoint = Checkpoint(tmp_path)
    write(checkpoint.model, {"config.json": b"{}", "model.safetensors": b"x" * 100})
    assert checkpoint.record(checkpoint.model, checkpoint.MERGED) == {
        "path": "checkpoint/model",
        "format": "merged",
        "trained_artifact_bytes": 102,
        "bytes": 102,
    }
    write(checkpoint.adapter, {"adapter_config.json": b"{}", "adapter_model.safetensors": b"y" * 10})
    # what was trained is the adapter where there is one; the checkpoint's bytes count every folder in it
    assert checkpoint.record(checkpoint.model, checkpoint.MERGED, adapter=True) == {
        "path": "checkpoint/model",
        "adapter": "checkpoint/adapter",
        "format": "merged",
        "trained_artifact_bytes": 12,
        "bytes": 114,
    }
    write(checkpoint.base, {"config.json": b"{}", "model.safetensors": b"z"})
    assert checkpoint.record(checkpoint.base, checkpoint.PEFT, adapter=True) == {
        "path": "checkpoint/base",
        "adapter": "checkpoint/adapter",
        "format": "peft",
        "trained_artifact_bytes": 12,
        "bytes": 117,
    }


def test_a_record_of_an_unknown_format_or_folder_is_refused(tmp_path):
    checkpoint = Checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"format 'lora'; expected one of \['merged', 'peft', 'bottleneck'\]"):
        checkpoint.record(checkpoint.model, "lora")
    with pytest.raises(ValueError, match=r"checkpoint weights .*adapter: expected"):
        checkpoint.record(checkpoint.adapter, checkpoint.MERGED)


def test_a_recorded_checkpoint_says_what_to_load(tmp_path):
    merged = Checkpoint.of(
        {"checkpoint": {"path": "checkpoint/model", "bytes": 1, "trained_artifact_bytes": 1}}, tmp_path
    )  # a record written before formats were recorded: merged, no adapter
    assert (merged.weights, merged.adapter_weights, merged.format, merged.merged, merged.has_adapter) == (
        tmp_path / "checkpoint" / "model",
        None,
        "merged",
        True,
        False,
    )
    peft = Checkpoint.of(
        {"checkpoint": {"path": "checkpoint/base", "adapter": "checkpoint/adapter", "format": "peft"}}, tmp_path
    )
    assert (peft.weights, peft.adapter_weights, peft.merged, peft.has_adapter) == (
        tmp_path / "checkpoint" / "base",
        tmp_path / "checkpoint" / "adapter",
        False,
        True,
    )
    assert (
        Checkpoint.of({"checkpoint": {"path": "checkpoint/model", "format": "bottleneck", "adapter": "a"}}).format
        == Checkpoint.BOTTLENECK
    )


def test_missing_names_the_first_lost_file_as_the_record_spells_it(tmp_path):
    record = {"path": "checkpoint/base", "adapter": "checkpoint/adapter", "format": "peft"}
    checkpoint = Checkpoint.of({"checkpoint": record}, tmp_path)
    assert checkpoint.missing() == "checkpoint/base/config.json"
    write(checkpoint.base, {"config.json": b"{}"})
    assert checkpoint.missing() == "checkpoint/base/model.safetensors"
    write(checkpoint.base, {"model.safetensors": b""})
    assert checkpoint.missing() == "checkpoint/adapter/adapter_config.json"
    write(checkpoint.adapter, {"adapter_config.json": b"{}"})
    assert checkpoint.missing() is None
    assert JobFolder(tmp_path).checkpoint_missing({"checkpoint": record}) is None
    assert (
        JobFolder(tmp_path).checkpoint_missing({"checkpoint": {**record, "path": "checkpoint/model"}})
        == "checkpoint/model/config.json"
    )


def test_a_record_written_by_the_strategies_survives_json(tmp_path):
    """The record is plain JSON (the result's), read back into the same checkpoint."""
    checkpoint = Checkpoint(tmp_path)
    write(checkpoint.model, {"config.json": b"{}", "model.safetensors": b"w"})
    record = json.loads(json.dumps(checkpoint.record(checkpoint.model, checkpoint.MERGED)))
    again = JobFolder(tmp_path).checkpoint_of({"checkpoint": record})
    assert again.weights == checkpoint.model and again.missing() is None
