"""Running jobs as Ray tasks, on a local Ray instance or a cluster (``pip install 'tuneoff[ray]'``).

Each job is a Ray task with its resources declared (``num_cpus``, and ``num_gpus``, which
may be fractional to pack small jobs onto one card). The task trains in a scratch folder
on its worker and returns the result and the checkpoint to the driver, which writes them
into the run folder as each task finishes (``ray.wait``), so it holds one payload at a time.
Workers need no shared filesystem and never read the run folder: the data set goes into Ray's
object store once per run, and a distillation student's task takes its teacher's job (result,
checkpoint, cached predictions) along, put there once per teacher job. A task whose worker dies
is retried by Ray up to ``max_retries`` times; the driver writes a result only when a task
returns, so nothing is recorded twice. Ctrl-C cancels what is outstanding and records it
as interrupted.

``start()`` joins Ray before the run folder is touched (``ray_connect``: an address that does not
answer, a token the cluster refuses, or a job no node can hold is one line, exit 2). Each task is
named player/seed-s, so the worker log lines Ray forwards to the driver name their job; the
progress view names nodes by IP; a worker whose tuneoff, torch, transformers or peft differ from
the driver's trains nothing and the job is recorded failed, saying which.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from typing import Any

from rich.console import Console

from tuneoff.console import esc, make_console
from tuneoff.run.interrupts import deferred
from tuneoff.run.lifecycle import not_returned, run_task, settle, stopped, track
from tuneoff.run.progress import make_progress
from tuneoff.run.ray_connect import (
    CONNECT_SECONDS,
    RayConnectError,
    check_resources,
    init,
    library_versions,
    load_runtime_env,
    version_mismatch,
)
from tuneoff.run.task import Task
from tuneoff.run.teachers import teacher_job
from tuneoff.store.runfolder import JobFolder, RunFolder
from tuneoff.store.status import Status


def _remote_body(task: Task, data: tuple, teacher: tuple | None, started=None, expected: dict | None = None) -> dict:
    """On the worker: refuse other library versions than the driver's, say where it runs, train in a
    scratch folder, return what the driver writes. ``data`` and ``teacher`` (a student's teacher job, packed)
    come from the object store: nothing is read from the driver's run folder."""
    from tuneoff.run.quiet import quiet_libraries

    quiet_libraries()
    where = node_identity()
    if expected and (wrong := version_mismatch(expected, library_versions())):
        return {
            **where,
            "refused": f"refused to train on {where['node']}: it has {wrong}; install the driver's "
            "versions there, or ship them with --ray-runtime-env",
        }
    if started is not None:  # a ray.util.queue.Queue: the driver's view of which job runs where
        _report_start(started, (job_key(task.job), where["node"], where["pid"]))
    with tempfile.TemporaryDirectory() as scratch:
        # The run folder's layout in scratch, so a job's folder name is unchanged and a student finds its
        # teacher where it would in the run folder. Trackers are the driver's (after the result is written).
        run = RunFolder(scratch)
        if teacher is not None:
            player, label, packed = teacher
            run.job(player, label).unpack(packed)
        local = replace(task, data=data, folder=run.job(task.folder.player, task.folder.label), run=run, track=())
        run_task(local, make_console(), live=False)
        return {**where, **local.folder.pack()}


def _report_start(started, message: tuple) -> None:
    """Tell the driver's view where a job started; a view that cannot be reached never stops the job."""
    from ray.exceptions import RayError

    try:
        started.put(message)
    except RayError:
        pass


def start_queue(ray):
    """The queue workers report their starts to, kept on the driver's node: a worker node that dies takes its
    jobs with it, never the queue every other job reports to."""
    from ray.util.queue import Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    return Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})


def node_identity() -> dict:
    """Where this worker runs, as Ray names it: the node's IP and id (not the hostname, which nodes may share)."""
    import os

    import ray

    return {
        "node": ray.util.get_node_ip_address(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "pid": os.getpid(),
    }


class RayExecutor:
    """Runs tasks on Ray: ``address`` "local" starts a private instance here, "auto" or "HOST:PORT" joins a
    cluster. ``start()`` connects and checks before the run folder is touched; ``run`` starts if need be."""

    def __init__(
        self,
        address: str = "local",
        num_cpus: float = 1,
        num_gpus: float = 0.0,
        max_retries: int = 2,
        console: Console | None = None,
        init_options: dict | None = None,
        runtime_env: str | None = None,
        connect_timeout: float = CONNECT_SECONDS,
    ):
        self.address, self.num_cpus, self.num_gpus, self.max_retries = address, num_cpus, num_gpus, max_retries
        self.console = console or make_console()
        self.init_options = init_options or {}
        self.runtime_env, self.connect_timeout = runtime_env, connect_timeout
        self.versions = library_versions()  # each worker refuses to train with other versions than these
        self.ray: Any = None  # the ray module, once connected
        self._data: tuple | None = None  # (the run's data, its object ref): put in the object store once per run

    def start(self) -> None:
        """Join Ray (a private instance for "local"), then refuse a job no node could ever run."""
        if self.ray is not None:
            return
        try:
            import ray
        except ImportError:
            raise RayConnectError(
                "--executor ray needs Ray, which is not installed: pip install 'tuneoff[ray]'"
            ) from None
        if not ray.is_initialized():  # (a test or a library user may have started Ray itself)
            self._init(ray)
        check_resources(ray, self.num_cpus, self.num_gpus)
        self.ray = ray

    def _init(self, ray) -> None:
        options = {"include_dashboard": False, "log_to_driver": True, **self.init_options}  # worker logs, job-named
        if self.runtime_env:
            options["runtime_env"] = load_runtime_env(self.runtime_env)
        try:
            init(ray, self.address, options, self.connect_timeout)
        except RayConnectError:
            raise
        except (TypeError, ValueError) as err:
            if not self.runtime_env:
                raise
            raise RayConnectError(
                f"--ray-runtime-env {self.runtime_env}: Ray refused it ({str(err).strip().splitlines()[0]})"
            ) from None

    def _remote(self):
        self.start()
        return self.ray, self.ray.remote(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries, retry_exceptions=False
        )(_remote_body)

    def run(self, tasks: list[Task]) -> list:
        if not tasks:
            return []
        ray, remote = self._remote()
        started = start_queue(ray)
        tasks = [replace(t, threads=max(1, int(self.num_cpus)), concurrency=len(tasks)) for t in tasks]
        teachers = self._teachers(ray, tasks)
        pending = {
            remote.options(name=task_name(t.job)).remote(
                replace(t, data=()),
                self._data_ref(ray, t.data),
                teachers[teacher_job(t.job, t.run)],
                started,
                self.versions,
            ): t
            for t in tasks
        }
        view, out = JobView(tasks), []
        try:
            with make_progress(self.console) as progress:
                bar = progress.add_task(view.line(), total=len(tasks))
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1, timeout=2.0)
                    for key, node, pid in started.get_nowait_batch(started.qsize()):
                        view.running(key, node)
                        self.console.print(f"{esc(' '.join(key))}: running on {esc(node)} (pid {pid})")
                    for ref in done:
                        task = pending.pop(ref)
                        payload = self._collect(ray, ref, task)
                        view.finished(job_key(task.job), payload is not None)
                        out.append(payload)
                        progress.advance(bar)
                    progress.update(bar, description=view.line())
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            with deferred():
                for task in pending.values():
                    stopped(
                        task, "stopped with the run (its Ray task was cancelled) before it finished", unrecorded=True
                    )
            raise
        return out

    def _data_ref(self, ray, data: tuple):
        """The run's data set and extra test sets in the object store, put there once (every wave reuses it)."""
        if self._data is None or self._data[0] is not data:
            self._data = (data, ray.put(data))
        return self._data[1]

    @staticmethod
    def _teachers(ray, tasks: list[Task]) -> dict:
        """Each student's teacher job, packed (result, checkpoint, cached predictions) and put in the object store
        once per teacher job; None for a task without a teacher, or whose teacher has no result (the student then
        fails as it would locally, saying so)."""
        refs: dict[JobFolder | None, Any] = {None: None}
        for folder in {f for t in tasks if (f := teacher_job(t.job, t.run)) is not None}:
            refs[folder] = ray.put((folder.player, folder.label, folder.pack())) if folder.has_result() else None
        return refs

    def _collect(self, ray, ref, task: Task):
        """Write a returned task's files into the run folder; a task that died every try, or whose worker refused
        to train, is recorded failed. Returns the job's completed record, None when it did not complete."""
        job = task.job
        try:
            payload = ray.get(ref)
        except Exception as err:  # noqa: BLE001 - a worker that died on every retry
            return self._failed(
                task,
                f"Ray task failed after {self.max_retries} retries: {type(err).__name__}: {str(err).splitlines()[0]}",
            )
        if "refused" in payload:  # the worker's libraries differ from the driver's: it trained nothing
            return self._failed(task, payload["refused"])
        result = settle(task, payload)
        track(task, self.console)  # here, where the run folder is: the worker trained in a scratch folder
        self.console.print(f"{esc(job.name)} {job.label}: ran on {esc(payload['node'])} (pid {payload['pid']})")
        return result if result is not None and result["status"] == Status.COMPLETED else None

    def _failed(self, task: Task, why: str) -> None:
        """A task that brought back nothing: recorded failed (``lifecycle.not_returned``), said in red."""
        not_returned(task, why)
        self.console.print(f"[red]{esc(task.job.name)} {task.job.label}: {esc(why)}[/]")


def job_key(job) -> tuple[str, str]:
    """A job's name on the cluster: (player, seed label), unique within a wave."""
    return job.name, job.label


def task_name(job) -> str:
    """The Ray task's name, which Ray shows in its dashboard and before each worker log line: player/seed-s."""
    return "/".join(job_key(job))


class JobView:
    """Each job's state on the cluster (queued, running on a node, done, failed), summed up in one line."""

    def __init__(self, tasks: list[Task]):
        self.state: dict = dict.fromkeys(job_key(t.job) for t in tasks)  # None: queued; else its Status
        self.node: dict = {}  # where a running job runs

    def running(self, key, node: str) -> None:
        if key in self.state and self.state[key] in (None, Status.RUNNING):  # a retry may start it again elsewhere
            self.state[key], self.node[key] = Status.RUNNING, node

    def finished(self, key, ok: bool) -> None:
        self.state[key] = Status.COMPLETED if ok else Status.FAILED

    def line(self) -> str:
        states = list(self.state.values())
        nodes = sorted({self.node[k] for k, s in self.state.items() if s is Status.RUNNING})
        where = f" on {', '.join(nodes)}" if nodes else ""
        return (
            f"  Ray: {states.count(None)} queued, {states.count(Status.RUNNING)} running{where}, "
            f"{states.count(Status.COMPLETED)} done, {states.count(Status.FAILED)} failed"
        )
