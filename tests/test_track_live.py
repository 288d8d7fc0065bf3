"""Live logging: the training loop's records reach the trackers while a job trains (as report_to does), the
config's ``track`` key equals --track, and a job's live run is the one its export then updates."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_CONFIG
from test_report import make_run
from test_track import need

from tuneoff.cli import main
from tuneoff.report.track import TRACKERS, Live, Tracker

LIVE: dict[str, list] = {}  # job name -> the records its live log got, then ("closed", status)
EXPORTED: list[list[str]] = []


class Memo(Tracker):
    """A tracker that keeps what it is given (registered by the tests that use it)."""

    name: str = "memo"
    module = "json"

    def export(self, run, jobs, tournament) -> None:
        EXPORTED.append([j.name for j in jobs])

    def live(self, run, job) -> Live:
        return MemoLive(LIVE.setdefault(job.name, []))


class MemoLive(Live):
    def __init__(self, records: list):
        self.records = records

    def log(self, record: dict) -> None:
        self.records.append(dict(record))

    def close(self, status: str) -> None:
        self.records.append(("closed", status))


@pytest.fixture
def memo(monkeypatch):
    monkeypatch.setitem(TRACKERS, "memo", Memo)
    LIVE.clear()
    EXPORTED.clear()


def test_the_config_track_key_logs_every_recorded_step_live(memo, tree_dir, tmp_path, capsys):
    config = tmp_path / "live.toml"
    config.write_text('track = ["memo"]\n' + TINY_CONFIG)
    out = tmp_path / "run"
    assert main(["run", str(config), "--data-dir", str(tree_dir), "--out", str(out), "--no-report"]) == 0
    assert set(LIVE) == {"full/seed-7", "lora/seed-7"}
    text = " ".join(capsys.readouterr().out.split())
    assert "job 1 of 2" in text and "job 2 of 2, tournament ETA about" in text  # played one after another
    records = LIVE["full/seed-7"]
    assert records[-1] == ("closed", "completed")
    steps = [r for r in records[:-1] if "epoch" not in r]
    epochs = [r for r in records[:-1] if "epoch" in r]
    assert all(set(r) == {"step", "train/loss", "train/learning_rate", "train/grad_norm"} for r in steps)
    result = json.loads((out / "players" / "full" / "seed-7" / "result.json").read_text())
    history = result["history"]
    # live, the same numbers at the same steps as the result records (so an export adds nothing to them)
    assert [[r["step"], r["train/loss"]] for r in steps] == history["steps"]
    assert [[r["step"], r["train/grad_norm"]] for r in steps] == history["step_stats"]["grad_norm"]
    assert [[r["step"], r["train/learning_rate"]] for r in steps] == history["step_stats"]["learning_rate"]
    per_epoch = -(-result["data"]["sizes"]["train"] // result["protocol"]["batch_size"])
    assert [(r["step"], r["epoch"]) for r in epochs] == [(per_epoch, 1.0), (2 * per_epoch, 2.0)]
    assert epochs[0]["epoch/dev_accuracy"] == history["epochs"][0]["dev_accuracy"]
    assert EXPORTED == [["full/seed-7"], ["lora/seed-7"], ["full/seed-7", "lora/seed-7"]]  # as each ends, then all


def test_a_config_naming_no_tracker_is_refused_with_the_file_and_the_choices(tree_dir, tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('track = ["wandb"]\n' + TINY_CONFIG)
    assert main(["run", str(config), "--data-dir", str(tree_dir), "--out", str(tmp_path / "run")]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"{config}: track = ['wandb']: unknown tracker 'wandb'; choices: [" in out
    assert not (tmp_path / "run").exists()


class Broken(Memo):
    name: str = "broken"

    def live(self, run, job) -> Live:
        raise RuntimeError("server gone")


def test_a_live_log_that_fails_is_a_warning_and_the_job_completes(monkeypatch, tree_dir, tmp_path, capsys):
    monkeypatch.setitem(TRACKERS, "broken", Broken)
    config = tmp_path / "live.toml"
    config.write_text(TINY_CONFIG)
    assert (
        main(
            [
                "run",
                str(config),
                "--data-dir",
                str(tree_dir),
                "--out",
                str(tmp_path / "run"),
                "--no-report",
                "--only",
                "full",
                "--track",
                "broken",
            ]
        )
        == 0
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "not logged live to broken (RuntimeError: server gone)" in out


def test_mlflow_live_run_is_the_one_the_export_updates(tmp_path):
    need("mlflow")
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    import tuneoff.report.track as track

    folder = make_run(tmp_path / "run")
    result = json.loads((folder / "players" / "full" / "seed-42" / "result.json").read_text())
    running = {**result, "status": "running", "finished_at": None}
    running = {k: v for k, v in running.items() if k not in ("test", "history")}
    log = track.live(folder, TRACKERS["mlflow"](), running)
    for step, loss in result["history"]["steps"][:3]:  # the first records, as the loop sends them
        log.log({"step": step, "loss": loss, "learning_rate": 1e-4, "grad_norm": 0.5})
    log.close("completed")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("unit").experiment_id
    live_id = client.search_runs([experiment], "tags.`tuneoff.player` = 'full'")[0].info.run_id
    assert [m.step for m in client.get_metric_history(live_id, "train/loss")] == [10, 20, 30]
    assert main(["track", str(folder), "--to", "mlflow"]) == 0
    runs = client.search_runs([experiment], "tags.`tuneoff.player` = 'full'", ViewType.ALL)
    assert [r.info.run_id for r in runs] == [live_id]  # updated, not replaced
    assert [m.step for m in client.get_metric_history(live_id, "train/loss")] == [s * 10 for s in range(1, 16)]
    assert [m.step for m in client.get_metric_history(live_id, "train/grad_norm")] == [10, 20, 30]


def test_trackio_live_log_writes_each_record_at_its_step_quietly(tmp_path_factory, capfd):
    import os

    os.environ.setdefault("TRACKIO_DIR", str(tmp_path_factory.mktemp("trackio-live")))  # read when trackio imports
    need("trackio")
    from trackio.sqlite_storage import SQLiteStorage

    import tuneoff.report.track as track

    folder = make_run(tmp_path_factory.mktemp("live") / "run")
    result = json.loads((folder / "players" / "lora" / "seed-42" / "result.json").read_text())
    running = {k: v for k, v in result.items() if k not in ("test", "history")}
    running.update(status="running", finished_at=None, tournament="unit-live")  # a project of its own
    log = track.live(folder, TRACKERS["trackio"](), running)
    log.log({"step": 10, "loss": 1.5, "learning_rate": 1e-4, "grad_norm": 0.5})
    log.log({"step": 50, "epoch": 1, "dev_accuracy": 0.4, "train_loss": 1.4})
    log.close("completed")
    logs = SQLiteStorage.get_logs("unit-live", "lora/seed-42")
    assert [(r["step"], r["train/loss"]) for r in logs if "train/loss" in r] == [(10, 1.5)]
    assert [(r["step"], r["epoch/dev_accuracy"]) for r in logs if "epoch/dev_accuracy" in r] == [(50, 0.4)]
    assert "Trackio" not in capfd.readouterr().out
