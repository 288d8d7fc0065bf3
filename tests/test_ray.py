"""The Ray executor on an in-process local instance: the same results as the plain loop, and a worker
killed mid-job is retried without losing or duplicating a result. Needs the 'ray' extra (CI installs it)."""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from test_executors import SEEDS, outcome
from test_faults import PAUSE_AT, SAFETY_NET, wait_for_pauses

from tuneoff.cli import main
from tuneoff.console import make_console
from tuneoff.store.runfolder import RunFolder

if not os.environ.get("CI"):
    pytest.importorskip("ray")
import ray  # in CI a missing extra is a failure, not a skip


@pytest.fixture
def local_ray(monkeypatch):
    """A local Ray instance for one test; ``start(env, setup)`` gives its workers these environment variables
    and runs ``setup`` in each worker as it starts (a worker's environment is fixed when Ray starts).

    Its workers run at the driver's priority: Ray starts them at nice 15, so that CI's busy loops (nice 0, one
    per core) would leave them a few per cent of a core, which makes a test 30 times slower and tests nothing
    more (the waits are for known points, never for time)."""
    monkeypatch.setenv("RAY_worker_niceness", "0")  # read by the raylet each instance starts

    def start(env: dict | None = None, setup=None) -> None:
        runtime_env = {**({"env_vars": env} if env else {}), **({"worker_process_setup_hook": setup} if setup else {})}
        # never a cluster running here
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env or None
        )

    yield start
    ray.shutdown()


def run_with_ray(tiny_config, tree_dir, out, *extra) -> int:
    from tuneoff.plan.loading import load_config
    from tuneoff.run import tournament
    from tuneoff.run.ray_executor import RayExecutor

    config = load_config(tiny_config, [s for s in (*SEEDS, *extra) if s != "--set"])
    board = tournament.run(
        config, out, str(tree_dir), console=make_console(), executor=RayExecutor(num_cpus=1, max_retries=2)
    )
    return 0 if not board["unranked"] else 1


def test_ray_gives_the_same_results_as_the_plain_loop(local_ray, tiny_config, tree_dir, tmp_path, capsys):
    local_ray()
    assert (
        main(
            [
                "run",
                str(tiny_config),
                "--data-dir",
                str(tree_dir),
                "--no-report",
                "--out",
                str(tmp_path / "plain"),
                *SEEDS,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert run_with_ray(tiny_config, tree_dir, tmp_path / "ray") == 0
    shown = capsys.readouterr().out
    for job in ("full seed-1", "full seed-2", "lora seed-1", "lora seed-2"):  # the view says where each job ran
        assert f"{job}: running on " in shown and f"{job}: ran on " in shown
    assert outcome(tmp_path / "ray") == outcome(tmp_path / "plain")
    for r in RunFolder(tmp_path / "ray").results():  # checkpoints came back with the results
        folder = tmp_path / "ray" / "players" / r["player"]["name"] / f"seed-{r['seed']}"
        assert (folder / r["checkpoint"]["path"] / "model.safetensors").is_file()


def no_shared_filesystem(run_folder: Path, log: Path):
    """A Ray worker setup hook: opening or listing anything under the driver's run folder fails, as on a node
    that does not mount it, and each try is logged in ``log`` (outside it) for the test to see."""

    def setup() -> None:
        import os
        import sys

        def refuse(event: str, args: tuple) -> None:
            if event not in ("open", "os.listdir", "os.scandir") or not args or isinstance(args[0], (int, type(None))):
                return
            path = os.path.abspath(os.fsdecode(args[0]))
            if path == str(run_folder) or path.startswith(f"{run_folder}{os.sep}"):
                with open(log, "a") as f:
                    f.write(f"{event} {path}\n")
                raise PermissionError(f"no shared filesystem: a worker tried to read {path}")

        sys.addaudithook(refuse)

    return setup


def test_distillation_on_ray_needs_no_shared_filesystem(
    local_ray, tiny_config, tree_dir, tmp_path, capsys, monkeypatch
):
    """Students train on workers that cannot read the run folder: their teacher's job travels with the task (put in
    the object store once per teacher job), as does the data (once per run, for both waves), and they end as they
    do one job at a time in this process."""
    distill = tiny_config.parent / "distill.toml"
    distill.write_text(
        tiny_config.read_text().split('[[players]]\nname = "lora"')[0]
        + '[[players]]\nname = "student"\nmodel = { kind = "random", size = "tiny" }\n'
        'strategy = { name = "distill", teacher = "full" }\nprotocol = { learning_rate = 5e-3 }\n'
    )
    assert (
        main(
            ["run", str(distill), "--data-dir", str(tree_dir), "--no-report", "--out", str(tmp_path / "plain"), *SEEDS]
        )
        == 0
    )
    capsys.readouterr()
    out, log = (tmp_path / "ray").resolve(), tmp_path / "worker-reads"
    local_ray(setup=no_shared_filesystem(out, log))
    puts, put = [], ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(value) or put(value, **kw))
    assert run_with_ray(distill, tree_dir, out) == 0, capsys.readouterr().out
    assert not log.exists(), log.read_text()
    shipped = sorted(v[:2] if isinstance(v[0], str) else ("data",) for v in puts)
    assert shipped == [("data",), ("full", "seed-1"), ("full", "seed-2")]
    plain, ray_run = (
        {(r["player"]["name"], r["seed"]): (r["status"], r["test"]["predictions"]) for r in RunFolder(folder).results()}
        for folder in (tmp_path / "plain", out)
    )
    assert len(plain) == 4 and {s for s, _ in plain.values()} == {"completed"}
    assert ray_run == plain and outcome(out) == outcome(tmp_path / "plain")


def _kill_the_paused_task(folder, stop: threading.Event, killed: list, written: list) -> None:
    """SIGKILL the worker whose job paused (the training loop's test-only pause), once it has and once another
    job's result is on disk (``written``: which ones were, while the paused job still ran)."""
    try:
        # Ray's workers start slowly on busy cores: 406 s to the pause at a load of 10 on 2 cores.
        [pid] = wait_for_pauses(folder, 1, running=lambda: not stop.is_set(), timeout=2 * SAFETY_NET)
        written += _completed_on_disk(folder / "run", stop)
    except AssertionError as err:
        killed.append(err)
        if not stop.is_set():  # no pause in time while the run goes on: end the run (see the test)
            _thread.interrupt_main()
        return
    if pid == os.getpid():  # never this test's own process
        killed.append(AssertionError(f"the paused job ran in the driver (pid {pid}), not on a Ray worker"))
        return
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def _completed_on_disk(run: Path, stop: threading.Event) -> list:
    """The jobs with a completed result in the run folder, once there is one (waits for the file)."""
    deadline = time.monotonic() + SAFETY_NET
    while not stop.is_set() and time.monotonic() < deadline:
        if done := [(r["player"]["name"], r["seed"]) for r in RunFolder(run).results() if r["status"] == "completed"]:
            return done
        time.sleep(0.05)
    raise AssertionError(f"no result was written in {run} while a job was paused")


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_doubled(local_ray, tiny_config, tree_dir, tmp_path):
    # The first job to finish its step 3 pauses; once another job's result is on disk (the driver writes each as
    # its task returns, not at the end of the wave) it is killed there; its retry finds the file and runs on.
    local_ray({PAUSE_AT: f"3:{tmp_path / 'paused'}"})
    stop, killed, written = threading.Event(), [], []
    killer = threading.Thread(target=_kill_the_paused_task, args=(tmp_path, stop, killed, written), daemon=True)
    killer.start()
    try:
        code = run_with_ray(tiny_config, tree_dir, tmp_path / "run")
    except KeyboardInterrupt:
        if not killed or isinstance(killed[0], int):
            raise  # a real Ctrl-C
        pytest.fail(f"no paused Ray task was killed: {killed[0]}")
    finally:
        stop.set()
        killer.join(10)
    assert killed and isinstance(killed[0], int), f"no paused Ray task was killed: {killed}"
    assert code == 0
    assert 1 <= len(written) <= 3  # written while the paused job was held, in the same wave
    results = RunFolder(tmp_path / "run").results()
    assert sorted((r["player"]["name"], r["seed"]) for r in results) == [
        (n, s) for n in ("full", "lora") for s in (1, 2)
    ]
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


def test_a_retrain_on_ray_replaces_the_checkpoint_whole(local_ray, tiny_config, tree_dir, tmp_path):
    """A player trained with LoRA, then changed to full fine-tuning and run again on Ray: its checkpoint folder
    holds the new model only, no adapter left from the old one (issue 23)."""
    local_ray()
    lora = tiny_config.parent / "lora.toml"
    lora.write_text(
        tiny_config.read_text()
        .replace('name = "full"\nmodel', 'name = "full-then"\nmodel')
        .replace('strategy = { name = "full" }', 'strategy = { name = "lora", r = 4, alpha = 8 }')
    )
    full = tiny_config.parent / "full.toml"
    full.write_text(tiny_config.read_text().replace('name = "full"\nmodel', 'name = "full-then"\nmodel'))
    out = tmp_path / "run"
    assert run_with_ray(lora, tree_dir, out, "--set", "tournament.seeds=[1]") == 0
    job = RunFolder(out).job("full-then", "seed-1")
    assert job.checkpoint.adapter.is_dir()
    assert run_with_ray(full, tree_dir, out, "--set", "tournament.seeds=[1]") == 0
    assert job.result()["player"]["strategy"]["name"] == "full"
    assert list(job.checkpoint.folder.iterdir()) == [job.checkpoint.model]  # the adapter went with the old model


def test_a_worker_with_other_versions_trains_nothing_and_the_job_is_failed(
    local_ray, tiny_config, tree_dir, tmp_path, capsys, monkeypatch
):
    """The driver hands each task its library versions; a worker that has others refuses before training and the
    job is recorded failed, naming the node by IP (as the progress view does) and what differs. The executor
    starts its own private instance ('local'), though RAY_ADDRESS names a cluster that does not answer."""
    from tuneoff.plan.loading import load_config
    from tuneoff.run import tournament
    from tuneoff.run.ray_executor import RayExecutor

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    executor = RayExecutor("local", num_cpus=1, max_retries=0, init_options={"num_cpus": 2})
    executor.start()  # (the fixture shuts this instance down)
    assert ray.is_initialized()
    executor.versions = {**executor.versions, "transformers": "0.0.1"}  # what the driver would have elsewhere
    config = load_config(tiny_config, ["tournament.seeds=[1]"])
    tournament.run(config, tmp_path / "run", str(tree_dir), console=make_console(), executor=executor)
    results = RunFolder(tmp_path / "run").results()
    ip = ray.util.get_node_ip_address()
    assert len(results) == 2 and {r["status"] for r in results} == {"failed"}
    for r in results:
        assert r["error"].startswith(f"refused to train on {ip}: it has transformers ")
        assert "(the driver has 0.0.1)" in r["error"] and "checkpoint" not in r
    shown = capsys.readouterr().out
    assert "full seed-1: refused to train on" in shown and "running on" not in shown
