"""Exporting a run to experiment trackers: what each tracker holds afterwards, read back through its own API.

A tracker that is not installed is skipped here, and fails under CI=true (CI installs them all).
"""

from __future__ import annotations

import json
import os

import pytest
from test_report import make_run  # tests/ is on sys.path: 4 players with results, one of them failed

from tuneoff.cli import main
from tuneoff.report.track import TRACKERS, TrackerMissing, trackers
from tuneoff.verdict.board import read_run

JOBS = {"full/seed-42", "lora/seed-42", "collapsed/seed-42", "broken/seed-42"}
STEPS = [s * 10 for s in range(1, 16)]  # factories.completed: the loss every 10 steps
DEV_ACCURACY = [(50, 0.4), (100, 0.5), (150, 0.45)]  # at each epoch's last step: 800 sentences, batches of 16


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


def _named(folder):
    """make_run's results as a real run writes them: the data set's name, read from --data-dir."""
    for path in folder.glob("players/*/*/result.json"):
        result = json.loads(path.read_text())
        if "data" in result:
            result["data"].update(name="sst5", source="--data-dir")
            path.write_text(json.dumps(result))
    return folder


def _mlflow(uri):
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("unit")
    active = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY)
    deleted = client.search_runs([experiment.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    return client, active, deleted


def _store(folder) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def mlflow_runs(tmp_path_factory):
    need("mlflow")
    folder = _named(make_run(tmp_path_factory.mktemp("mlflow") / "run"))
    main(["leaderboard", str(folder)])  # the board and the report the parent run holds
    assert main(["report", str(folder)]) == 0
    for _ in range(2):  # the second export updates the first one's runs
        assert main(["track", str(folder), "--to", "mlflow"]) == 0
    client, active, deleted = _mlflow(_store(folder))
    return folder, client, {r.info.run_name: r for r in active}, len(active), deleted


def test_mlflow_has_one_run_per_job_and_the_parent_after_two_exports_and_deletes_none(mlflow_runs):
    _, _, by_name, count, deleted = mlflow_runs
    assert count == 5 and set(by_name) == JOBS | {"unit"}
    assert deleted == []  # updated in place, not deleted and written again


def test_mlflow_params_and_tags(mlflow_runs):
    _, _, by_name, _, _ = mlflow_runs
    lora = by_name["lora/seed-42"].data
    assert {
        k: lora.params[k] for k in ("model.kind", "strategy.name", "protocol.learning_rate", "seed", "data.name")
    } == {
        "model.kind": "random",
        "strategy.name": "lora",
        "protocol.learning_rate": "0.0005",
        "seed": "42",
        "data.name": "sst5",
    }  # the data set, not --data-dir
    assert lora.tags["tuneoff.player"] == "lora" and lora.tags["tuneoff.job"] == "hash-lora-42"
    tags = {
        name: (r.data.tags["status"], r.data.tags["collapsed"], r.data.tags["stale"])
        for name, r in by_name.items()
        if name != "unit"
    }
    assert tags == {
        "full/seed-42": ("completed", "false", "false"),
        "lora/seed-42": ("completed", "false", "false"),
        "collapsed/seed-42": ("completed", "true", "false"),
        "broken/seed-42": ("failed", "false", "false"),
    }


def test_mlflow_runs_start_and_end_when_their_jobs_did(mlflow_runs):
    _, _, by_name, _, _ = mlflow_runs
    info = by_name["full/seed-42"].info
    assert (info.start_time, info.end_time) == (1767225600000, 1767229200000)  # 2026-01-01 00:00 and 01:00 UTC
    assert (info.status, by_name["broken/seed-42"].info.status) == ("FINISHED", "FAILED")


def test_mlflow_metric_history_has_optimizer_steps(mlflow_runs):
    _, client, by_name, _, _ = mlflow_runs
    run_id = by_name["full/seed-42"].info.run_id
    loss = client.get_metric_history(run_id, "train/loss")
    assert [(m.step, round(m.value, 6)) for m in loss] == [(s, round(1.6 - 0.01 * s / 10, 6)) for s in STEPS]
    dev = client.get_metric_history(run_id, "epoch/dev_accuracy")
    assert [(m.step, m.value) for m in dev] == DEV_ACCURACY  # at the step that ended each epoch, once each


def test_mlflow_final_metrics_carry_the_boards_ci(mlflow_runs):
    folder, _, by_name, _, _ = mlflow_runs
    row = next(r for r in read_run(folder).board["ranked"] if r["player"] == "full")
    metrics = by_name["full/seed-42"].data.metrics
    assert metrics["test/accuracy"] == pytest.approx(0.65)
    assert (metrics["player/test_accuracy_ci95_low"], metrics["player/test_accuracy_ci95_high"]) == pytest.approx(
        tuple(row["test_accuracy_ci95"])
    )
    assert "test/accuracy" not in by_name["broken/seed-42"].data.metrics


def test_mlflow_keeps_the_confusion_matrix(mlflow_runs):
    _, client, by_name, _, _ = mlflow_runs
    assert [f.path for f in client.list_artifacts(by_name["full/seed-42"].info.run_id, "figures")] == [
        "figures/confusion.png"
    ]
    assert client.list_artifacts(by_name["broken/seed-42"].info.run_id, "figures") == []


def test_mlflow_parent_run_holds_the_board_and_the_report(mlflow_runs):
    _, client, by_name, _, _ = mlflow_runs
    parent = by_name["unit"]
    assert {f.path for f in client.list_artifacts(parent.info.run_id)} >= {
        "leaderboard.json",
        "leaderboard.csv",
        "report.html",
    }
    assert parent.data.tags["tuneoff.kind"] == "tournament"
    assert {r.data.tags["mlflow.parentRunId"] for name, r in by_name.items() if name != "unit"} == {parent.info.run_id}


def _retrained(folder, player="full"):
    """The job trained again: a new attempt (another start), as a retrain writes it."""
    path = folder / "players" / player / "seed-42" / "result.json"
    result = json.loads(path.read_text())
    result["started_at"] = "2026-01-02T00:00:00+00:00"
    path.write_text(json.dumps(result))


def test_mlflow_a_retrain_replaces_its_run_and_no_other(tmp_path):
    need("mlflow")
    folder = make_run(tmp_path / "run")
    assert main(["track", str(folder), "--to", "mlflow"]) == 0
    _, before, _ = _mlflow(_store(folder))
    _retrained(folder)
    assert main(["track", str(folder), "--to", "mlflow"]) == 0
    _, after, deleted = _mlflow(_store(folder))
    assert len(after) == 5 and [r.info.run_name for r in deleted] == ["full/seed-42"]
    assert {r.info.run_id for r in after} - {r.info.run_id for r in before} == {
        r.info.run_id for r in after if r.info.run_name == "full/seed-42"
    }


def test_mlflow_honours_its_environment_and_leaves_other_run_folders_alone(tmp_path, monkeypatch, capfd):
    need("mlflow")
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow puts a sqlite store's artifacts in ./mlruns
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "unit")  # the experiment of both folders
    first, second = make_run(tmp_path / "a" / "run"), make_run(tmp_path / "b" / "run")
    for folder in (first, second, first):
        assert main(["track", str(folder), "--to", "mlflow"]) == 0
    _, active, deleted = _mlflow(store)
    assert len(active) == 10 and deleted == []
    assert not (first / "mlflow.db").exists()
    out = capfd.readouterr()
    assert "INFO" not in out.out + out.err  # MLflow's and alembic's INFO lines stay out of the console


def test_mlflow_store_stays_in_a_folder_named_with_a_question_mark(tmp_path):
    need("mlflow")
    folder = make_run(tmp_path / "run?v2")
    assert main(["track", str(folder), "--to", "mlflow"]) == 0
    assert (folder / "mlflow.db").is_file() and (folder / "mlartifacts").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run?v2"]


def test_an_address_that_does_not_answer_is_refused_quickly_without_the_lock(tmp_path, monkeypatch, capsys):
    need("mlflow")
    import socket

    import tuneoff.report.track.base as base
    from tuneoff.store.runfolder import RunFolder

    monkeypatch.setattr(base, "PROBE_SECONDS", 0.5)
    monkeypatch.setattr(RunFolder, "lock", lambda self: pytest.fail("the run folder was locked while probing"))
    folder = make_run(tmp_path / "run")
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert main(["track", str(folder), "--to", "mlflow", "--uri", address]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"mlflow: {address} does not answer" in out and "Traceback" not in out


# --- TensorBoard -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory):
    need("tensorboard")
    return exported_twice(tmp_path_factory, "tensorboard")


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0}).Reload()


def test_tensorboard_has_one_log_folder_per_job_after_two_exports(tensorboard_run):
    logs = tensorboard_run / "tensorboard"
    assert {f"{p.parent.name}/{p.name}" for p in logs.glob("*/*")} == JOBS
    assert all(len(list(p.glob("events.out.tfevents.*"))) == 1 for p in logs.glob("*/*"))


def test_tensorboard_scalars_have_their_steps(tensorboard_run):
    events = _events(tensorboard_run / "tensorboard" / "full" / "seed-42")
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("train/loss")] == [
        (s, round(1.6 - 0.01 * s / 10, 6)) for s in STEPS
    ]
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("epoch/dev_accuracy")] == DEV_ACCURACY
    assert events.Scalars("test/accuracy")[0].value == pytest.approx(0.65)
    assert events.Images("confusion")[0].encoded_image_string.startswith(b"\x89PNG")


def test_tensorboard_has_hparams_and_the_confusion_matrix_as_text(tensorboard_run):
    from tensorboard.plugins.hparams import metadata

    events = _events(tensorboard_run / "tensorboard" / "lora" / "seed-42")
    content = events.PluginTagToContent("hparams")
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["strategy.name"].string_value == "lora"
    assert start.hparams["protocol.learning_rate"].number_value == pytest.approx(5e-4)
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    assert "test/accuracy" in {m.name.tag for m in experiment.metric_infos}
    text = events.Tensors("confusion_matrix")[0].tensor_proto.string_val[0].decode()
    assert text.splitlines()[0].startswith("| true \\ predicted | very negative |")


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


def test_trackio_logs_steps_epochs_typed_config_and_the_confusion_matrix(trackio_store):
    logs = trackio_store.get_logs("unit", "full/seed-42")
    assert [(r["step"], round(r["train/loss"], 6)) for r in logs if "train/loss" in r] == [
        (s, round(1.6 - 0.01 * s / 10, 6)) for s in STEPS
    ]
    assert [(r["step"], r["epoch/dev_accuracy"]) for r in logs if "epoch/dev_accuracy" in r] == DEV_ACCURACY
    assert [r["step"] for r in logs if "figures/confusion" in r] == [150]
    config = trackio_store.get_run_config("unit", "lora/seed-42")
    assert (config["strategy.name"], config["status"], config["collapsed"]) == ("lora", "completed", "false")
    assert (config["protocol.learning_rate"], config["seed"], config["data_seed"]) == (0.0005, 42, None)  # typed


def test_trackio_is_quiet_and_leaves_another_run_folders_runs(trackio_store, tmp_path, capfd):
    first, second = make_run(tmp_path / "a" / "run"), make_run(tmp_path / "b" / "run")
    for folder in (first, second, first):
        assert main(["track", str(folder), "--to", "trackio"]) == 0
    assert "Trackio" not in capfd.readouterr().out
    runs = trackio_store.get_runs("unit")
    assert len(runs) == 12 and len(set(runs)) == 12  # the first fixture's 4, then 4 for each folder
    assert sum(name.startswith("full/seed-42 (") for name in runs) == 2


# --- choosing a tracker ------------------------------------------------------------------------


def test_a_missing_tracker_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setattr(TRACKERS["mlflow"], "module", "no_such_package_for_tuneoff")
    with pytest.raises(TrackerMissing, match=r"pip install 'tuneoff\[mlflow\]'"):
        trackers(["mlflow"])


def test_an_unknown_tracker_lists_the_choices(tmp_path, capsys):
    assert main(["track", str(make_run(tmp_path / "run")), "--to", "wandb"]) == 2
    assert "unknown tracker 'wandb'; choices: ['mlflow', 'tensorboard', 'trackio']" in capsys.readouterr().out


# --- tuneoff run --track -----------------------------------------------------------------------


def test_run_exports_each_job_as_it_ends_and_a_failure_is_a_warning(
    tiny_config, tree_dir, tmp_path, monkeypatch, capsys
):
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
    assert (
        main(
            [
                "run",
                str(tiny_config),
                "--data-dir",
                str(tree_dir),
                "--out",
                str(out),
                "--no-report",
                "--track",
                "tensorboard",
            ]
        )
        == 0
    )
    assert calls == [("full", "seed-7"), ("lora", "seed-7"), None]  # each job as it ends, then all with the board
    text = " ".join(capsys.readouterr().out.split())
    assert "warning: lora seed-7: not exported to tensorboard (RuntimeError: tracker server down)" in text
    assert {p.parent.name for p in (out / "tensorboard").glob("*/seed-7")} == {"full", "lora"}
    # logged live while training, then rewritten whole by the export: one event file each, with every step
    for job in (out / "tensorboard").glob("*/seed-7"):
        assert len(list(job.glob("events.out.tfevents.*"))) == 1
        assert [e.step for e in _events(job).Scalars("train/grad_norm")] == [
            s
            for s, _ in json.loads((out / "players" / job.parent.name / "seed-7" / "result.json").read_text())[
                "history"
            ]["step_stats"]["grad_norm"]
        ]
