"""Exporting a run to experiment trackers: what each tracker holds afterwards, read back through its own API.

A tracker that is not installed is skipped here, and fails under CI=true (CI installs them all).
"""

from __future__ import annotations

import os

import pytest
from test_report import make_run  # tests/ is on sys.path: 4 players with results, one of them failed

from tuneoff.cli import main
from tuneoff.report.track import TRACKERS, TrackerMissing, trackers
from tuneoff.verdict.board import read_run

JOBS = {"full/seed-42", "lora/seed-42", "collapsed/seed-42", "broken/seed-42"}
STEPS = [s * 10 for s in range(1, 16)]  # factories.completed: the loss every 10 steps
DEV_ACCURACY = [(1, 0.4), (2, 0.5), (3, 0.45)]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need(module: str):
    """The tracker's library, or a skip (a failure under CI)."""
    try:
        return pytest.importorskip(module)
    except pytest.skip.Exception:
        if _in_ci():
            pytest.fail(f"{module} is not installed; CI installs the trackers (pip install '.[dev]')")
        raise


def exported_twice(tmp_path_factory, to: str):
    folder = make_run(tmp_path_factory.mktemp(to) / "run")
    for _ in range(2):  # the second export replaces the first one's runs
        assert main(["track", str(folder), "--to", to]) == 0
    return folder


# --- MLflow ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_runs(tmp_path_factory):
    need("mlflow")
    from mlflow.tracking import MlflowClient

    folder = exported_twice(tmp_path_factory, "mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("unit")
    runs = client.search_runs([experiment.experiment_id])
    return folder, client, {r.info.run_name: r for r in runs}, len(runs)


def test_mlflow_has_one_run_per_job_after_two_exports(mlflow_runs):
    _, _, by_name, count = mlflow_runs
    assert count == 4 and set(by_name) == JOBS


def test_mlflow_params_and_tags(mlflow_runs):
    _, _, by_name, _ = mlflow_runs
    lora = by_name["lora/seed-42"].data
    assert {k: lora.params[k] for k in ("model.kind", "strategy.name", "protocol.learning_rate", "seed", "data.name")} \
        == {"model.kind": "random", "strategy.name": "lora", "protocol.learning_rate": "0.0005", "seed": "42",
            "data.name": "unit"}
    assert lora.tags["tuneoff.player"] == "lora" and lora.tags["tuneoff.job"] == "hash-lora-42"
    tags = {name: (r.data.tags["status"], r.data.tags["collapsed"], r.data.tags["stale"]) for name, r in by_name.items()}
    assert tags == {"full/seed-42": ("completed", "false", "false"), "lora/seed-42": ("completed", "false", "false"),
                    "collapsed/seed-42": ("completed", "true", "false"), "broken/seed-42": ("failed", "false", "false")}


def test_mlflow_metric_history_has_steps_and_epochs(mlflow_runs):
    _, client, by_name, _ = mlflow_runs
    run_id = by_name["full/seed-42"].info.run_id
    loss = client.get_metric_history(run_id, "train/loss")
    assert [(m.step, round(m.value, 6)) for m in loss] == [(s, round(1.6 - 0.01 * s / 10, 6)) for s in STEPS]
    dev = client.get_metric_history(run_id, "epoch/dev_accuracy")
    assert [(m.step, m.value) for m in dev] == DEV_ACCURACY


def test_mlflow_final_metrics_carry_the_boards_ci(mlflow_runs):
    folder, _, by_name, _ = mlflow_runs
    row = next(r for r in read_run(folder).board["ranked"] if r["player"] == "full")
    metrics = by_name["full/seed-42"].data.metrics
    assert metrics["test/accuracy"] == pytest.approx(0.65)
    assert (metrics["player/test_accuracy_ci95_low"], metrics["player/test_accuracy_ci95_high"]) \
        == pytest.approx(tuple(row["test_accuracy_ci95"]))
    assert "test/accuracy" not in by_name["broken/seed-42"].data.metrics


def test_mlflow_keeps_the_confusion_matrix(mlflow_runs):
    _, client, by_name, _ = mlflow_runs
    assert [f.path for f in client.list_artifacts(by_name["full/seed-42"].info.run_id, "figures")] \
        == ["figures/confusion.png"]
    assert client.list_artifacts(by_name["broken/seed-42"].info.run_id, "figures") == []


# --- TensorBoard -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory):
    need("tensorboard")
    return exported_twice(tmp_path_factory, "tensorboard")


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0}).Reload()


def test_tensorboard_has_one_log_folder_per_job_after_two_exports(tensorboard_run):
    logs = tensorboard_run / "tensorboard"
    assert {f"{p.parent.name}/{p.name}" for p in logs.glob("*/*")} == JOBS
    assert all(len(list(p.glob("events.out.tfevents.*"))) == 1 for p in logs.glob("*/*"))


def test_tensorboard_scalars_have_their_steps(tensorboard_run):
    events = _events(tensorboard_run / "tensorboard" / "full" / "seed-42")
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("train/loss")] \
        == [(s, round(1.6 - 0.01 * s / 10, 6)) for s in STEPS]
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("epoch/dev_accuracy")] == DEV_ACCURACY
    assert events.Scalars("test/accuracy")[0].value == pytest.approx(0.65)
    assert events.Images("confusion")[0].encoded_image_string.startswith(b"\x89PNG")


# --- Trackio -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trackio_store(tmp_path_factory):
    os.environ.setdefault("TRACKIO_DIR", str(tmp_path_factory.mktemp("trackio-store")))  # read when trackio imports
    need("trackio")
    from trackio.sqlite_storage import SQLiteStorage

    exported_twice(tmp_path_factory, "trackio")
    return SQLiteStorage


def test_trackio_has_one_run_per_job_after_two_exports(trackio_store):
    assert sorted(trackio_store.get_runs("unit")) == sorted(JOBS)


def test_trackio_logs_steps_epochs_and_config(trackio_store):
    logs = trackio_store.get_logs("unit", "full/seed-42")
    assert [(r["step"], round(r["train/loss"], 6)) for r in logs if "train/loss" in r] \
        == [(s, round(1.6 - 0.01 * s / 10, 6)) for s in STEPS]
    assert [(r["step"], r["epoch/dev_accuracy"]) for r in logs if "epoch/dev_accuracy" in r] == DEV_ACCURACY
    config = trackio_store.get_run_config("unit", "lora/seed-42")
    assert (config["strategy.name"], config["status"], config["collapsed"]) == ("lora", "completed", "false")


# --- choosing a tracker ------------------------------------------------------------------------


def test_a_missing_tracker_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setattr(TRACKERS["mlflow"], "module", "no_such_package_for_tuneoff")
    with pytest.raises(TrackerMissing, match=r"pip install 'tuneoff\[mlflow\]'"):
        trackers(["mlflow"])


def test_an_unknown_tracker_lists_the_choices(tmp_path, capsys):
    assert main(["track", str(make_run(tmp_path / "run")), "--to", "wandb"]) == 2
    assert "unknown tracker 'wandb'; choices: ['mlflow', 'tensorboard', 'trackio']" in capsys.readouterr().out


# --- tuneoff run --track -----------------------------------------------------------------------


def test_run_exports_each_job_as_it_ends_and_a_failure_is_a_warning(tiny_config, tree_dir, tmp_path, monkeypatch,
                                                                    capsys):
    need("tensorboard")
    import tuneoff.report.track as track

    calls, real = [], track.export

    def export(run, to, only=None):
        calls.append(only)
        if only == ("lora", "seed-7"):
            raise RuntimeError("tracker server down")
        return real(run, to, only)

    monkeypatch.setattr(track, "export", export)
    out = tmp_path / "run"
    assert main(["run", str(tiny_config), "--data-dir", str(tree_dir), "--out", str(out), "--no-report",
                 "--track", "tensorboard"]) == 0
    assert calls == [("full", "seed-7"), ("lora", "seed-7"), None]  # each job as it ends, then all with the board
    text = " ".join(capsys.readouterr().out.split())
    assert "warning: lora seed-7: not exported to tensorboard (RuntimeError: tracker server down)" in text
    assert {p.parent.name for p in (out / "tensorboard").glob("*/seed-7")} == {"full", "lora"}
