"""Executors: the local pool gives the same results as one job at a time; a stopped driver leaves nothing
'completed' that was not, and a rerun finishes the work."""

from __future__ import annotations

import json
import os
import signal

from conftest import TINY_CONFIG
from test_faults import Tuneoff

from tuneoff.cli import main
from tuneoff.store.runfolder import RunFolder

SEEDS = ("--set", "tournament.seeds=[1, 2]")


def outcome(out):
    return {(r["player"]["name"], r["seed"]): (r["test"]["confusion_matrix"], r["history"]["steps"])
            for r in RunFolder(out).results()}


def test_two_workers_give_the_same_results_as_one(tiny_config, tree_dir, tmp_path):
    args = ["run", str(tiny_config), "--data-dir", str(tree_dir), "--no-report", *SEEDS]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    one, two = outcome(tmp_path / "one"), outcome(tmp_path / "two")
    assert len(one) == 4 and one == two
    concurrency = {r["timing"]["concurrent_jobs"] for r in RunFolder(tmp_path / "two").results()}
    assert concurrency == {2} and {r["timing"]["concurrent_jobs"] for r in RunFolder(tmp_path / "one").results()} == {1}
    assert json.loads((tmp_path / "two" / "leaderboard.json").read_text())["ranked"]


def test_a_stopped_pool_marks_its_jobs_interrupted_and_a_rerun_completes(tmp_path, tree_dir):
    (tmp_path / "tiny.toml").write_text(TINY_CONFIG)
    out = tmp_path / "run"
    args = ["run", str(tmp_path / "tiny.toml"), "--data-dir", str(tree_dir), "--out", str(out), "--no-report"]
    driver = Tuneoff([*args, "--jobs", "2"], tmp_path, pause_at=f"3:{tmp_path / 'paused-{pid}'}")
    workers = driver.wait_for_pauses(tmp_path, count=2)  # each job paused after its step 3, in its own worker
    assert driver.proc.pid not in workers and len(set(workers)) == 2
    driver.proc.send_signal(signal.SIGINT)  # the driver alone, as a scheduler would
    code, text = driver.finish()
    assert code == 130, text
    statuses = {r["player"]["name"]: r["status"] for r in RunFolder(out).results()}
    assert set(statuses.values()) <= {"interrupted", "completed"} and "interrupted" in statuses.values(), statuses
    assert main(args) == 0
    assert {r["status"] for r in RunFolder(out).results()} == {"completed"}


def test_jobs_must_be_a_positive_number(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["run", "offline", "--jobs", "0"])
    assert "expected a whole number >= 1" in capsys.readouterr().err


def test_worker_processes_share_the_cards_round_robin():
    from tuneoff.run.executors import gpu_slots

    assert gpu_slots(3, 0) == [None, None, None]  # CPU: nothing set
    assert gpu_slots(4, 2) == ["0", "1", "0", "1"]  # two jobs per card
    assert gpu_slots(2, 4) == ["0", "1"]
    assert gpu_slots(3, 2, visible="2, 3") == ["2", "3", "2"]  # within what the user made visible


def test_a_pool_worker_sees_only_its_card(monkeypatch):
    import multiprocessing

    from tuneoff.run.executors import _init_worker

    slots = multiprocessing.get_context("spawn").Queue()
    slots.put("1")
    slots.put(None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    _init_worker(slots)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    _init_worker(slots)  # no card to give: left as it was
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
