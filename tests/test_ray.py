"""The Ray executor on an in-process local instance: the same results as the plain loop, and a worker
killed mid-job is retried without losing or duplicating a result. Needs the 'ray' extra (CI installs it)."""

from __future__ import annotations

import os
import threading
import time

import pytest
from test_executors import SEEDS, outcome

from tuneoff.cli import main
from tuneoff.console import make_console
from tuneoff.store.runfolder import RunFolder

if not os.environ.get("CI"):
    pytest.importorskip("ray")
import ray  # noqa: E402  (in CI a missing extra is a failure, not a skip)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def run_with_ray(tiny_config, tree_dir, out, *extra) -> int:
    from tuneoff.plan.loading import load_config
    from tuneoff.run import tournament
    from tuneoff.run.ray_executor import RayExecutor

    config = load_config(tiny_config, [s for s in (*SEEDS, *extra) if s != "--set"])
    board = tournament.run(config, out, str(tree_dir), console=make_console(),
                           executor=RayExecutor(num_cpus=1, max_retries=2))
    return 0 if not board["unranked"] else 1


def test_ray_gives_the_same_results_as_the_plain_loop(local_ray, tiny_config, tree_dir, tmp_path, capsys):
    assert main(["run", str(tiny_config), "--data-dir", str(tree_dir), "--no-report", "--out",
                 str(tmp_path / "plain"), *SEEDS]) == 0
    capsys.readouterr()
    assert run_with_ray(tiny_config, tree_dir, tmp_path / "ray") == 0
    shown = capsys.readouterr().out
    for job in ("full seed-1", "full seed-2", "lora seed-1", "lora seed-2"):  # the view says where each job ran
        assert f"{job}: running on " in shown and f"{job}: ran on " in shown
    assert outcome(tmp_path / "ray") == outcome(tmp_path / "plain")
    for r in RunFolder(tmp_path / "ray").results():  # checkpoints came back with the results
        folder = tmp_path / "ray" / "players" / r["player"]["name"] / f"seed-{r['seed']}"
        assert (folder / r["checkpoint"]["path"] / "model.safetensors").is_file()


def _kill_one_task(stop: threading.Event, killed: list) -> None:
    import psutil

    while not stop.is_set() and not killed:
        for process in psutil.process_iter(["cmdline"]):
            if any("_remote_body" in part for part in (process.info["cmdline"] or [])):
                time.sleep(1.0)  # mid-job, not at its start
                process.kill()
                killed.append(process.pid)
                return
        time.sleep(0.1)


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_doubled(local_ray, tiny_config, tree_dir, tmp_path):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_task, args=(stop, killed), daemon=True)
    killer.start()
    try:
        code = run_with_ray(tiny_config, tree_dir, tmp_path / "run", "protocol.epochs=30")
    finally:
        stop.set()
        killer.join(10)
    assert killed, "no Ray task process was found to kill"
    assert code == 0
    results = RunFolder(tmp_path / "run").results()
    assert sorted((r["player"]["name"], r["seed"]) for r in results) == [(n, s) for n in ("full", "lora") for s in (1, 2)]
    assert {r["status"] for r in results} == {"completed"}


def test_the_job_view_counts_each_state_and_names_the_nodes():
    from types import SimpleNamespace

    from tuneoff.run.ray_executor import JobView

    jobs = [SimpleNamespace(job=SimpleNamespace(name=n, label=f"seed-{s}")) for n in ("a", "b") for s in (1, 2)]
    view = JobView(jobs)
    assert view.line() == "  Ray: 4 queued, 0 running, 0 done, 0 failed"
    view.running(("a", "seed-1"), "node-1")
    view.running(("b", "seed-2"), "node-2")
    assert view.line() == "  Ray: 2 queued, 2 running on node-1, node-2, 0 done, 0 failed"
    view.finished(("a", "seed-1"), True)
    view.finished(("b", "seed-2"), False)
    view.running(("a", "seed-1"), "node-3")  # a late start message never revives a finished job
    assert view.line() == "  Ray: 2 queued, 0 running, 1 done, 1 failed"
