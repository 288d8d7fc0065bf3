"""Executors: the local pool gives the same results as one job at a time; a stopped driver leaves nothing
'completed' that was not, and a rerun finishes the work."""

from __future__ import annotations

import json
import os
import signal

from conftest import TINY_CONFIG
from test_faults import SAFETY_NET, Tuneoff

from tuneoff.cli import main
from tuneoff.store.runfolder import RunFolder

SEEDS = ("--set", "tournament.seeds=[1, 2]")


def outcome(out):
    return {
        (r["player"]["name"], r["seed"]): (r["test"]["confusion_matrix"], r["history"]["steps"])
        for r in RunFolder(out).results()
    }


def test_two_workers_give_the_same_results_as_one(tiny_config, tree_dir, tmp_path):
    args = ["run", str(tiny_config), "--data-dir", str(tree_dir), "--no-report", *SEEDS]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    one, two = outcome(tmp_path / "one"), outcome(tmp_path / "two")
    assert len(one) == 4 and one == two
    concurrency = {r["timing"]["concurrent_jobs"] for r in RunFolder(tmp_path / "two").results()}
    assert concurrency == {2} and {r["timing"]["concurrent_jobs"] for r in RunFolder(tmp_path / "one").results()} == {1}
    # measured: one at a time never overlaps; two workers never put more than two jobs on the CPU at once
    assert {r["timing"]["overlapping_jobs"] for r in RunFolder(tmp_path / "one").results()} == {1}
    assert {r["timing"]["overlapping_jobs"] for r in RunFolder(tmp_path / "two").results()} <= {1, 2}
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
    from tuneoff.run.executors import _init_worker

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    _init_worker("1")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    _init_worker(None)  # no card to give: left as it was
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"


def _killed_worker_run(tmp_path, tree_dir, *extra):
    """A --jobs 2 run of one player's two seeds; the first job to reach step 3 pauses there (its sibling runs on,
    finding the pause file taken) and its worker is killed with SIGKILL. Returns (exit code, output, run folder)."""
    config = tmp_path / "one.toml"
    config.write_text(TINY_CONFIG.split('[[players]]\nname = "lora"')[0])
    out = tmp_path / "run"
    args = [
        "run",
        str(config),
        "--data-dir",
        str(tree_dir),
        "--out",
        str(out),
        "--no-report",
        "--jobs",
        "2",
        *SEEDS,
        *extra,
    ]
    driver = Tuneoff(args, tmp_path, pause_at=f"3:{tmp_path / 'paused'}")  # one file: a retry runs on past it
    [worker] = driver.wait_for_pauses(tmp_path, count=1)
    assert worker != driver.proc.pid
    os.kill(worker, signal.SIGKILL)
    code, text = driver.finish(SAFETY_NET)  # a safety net only: the run ends by itself
    return code, text, out


def test_a_killed_worker_is_replaced_and_its_job_retried(tmp_path, tree_dir):
    code, text, out = _killed_worker_run(tmp_path, tree_dir)
    assert code == 0, text
    assert "Traceback" not in text and "signal 9" in text, text
    results = RunFolder(out).results()
    assert sorted(r["seed"] for r in results) == [1, 2]  # one result per job
    assert {r["status"] for r in results} == {"completed"}
    board = json.loads((out / "leaderboard.json").read_text())
    assert [len(r["seeds"]) for r in board["ranked"]] == [2] and not board["unranked"]


def test_a_killed_worker_with_no_retries_fails_its_job_naming_the_cause(tmp_path, tree_dir):
    code, text, out = _killed_worker_run(tmp_path, tree_dir, "--max-retries", "0")
    assert code == 1, text
    assert "Traceback" not in text, text
    statuses = sorted((r["status"], r["error"] or "") for r in RunFolder(out).results())
    assert [s for s, _ in statuses] == ["completed", "failed"], statuses  # the sibling ran on to the end
    assert "worker process died (signal 9, SIGKILL)" in statuses[1][1], statuses
    board = json.loads((out / "leaderboard.json").read_text())
    assert [u["status"] for u in board["unranked"]] == ["failed"] and board["ranked"]
