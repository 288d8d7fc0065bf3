"""Running jobs: one in this process with live progress bars, or several at once in a process pool.

An executor only schedules: it runs a list of independent tasks (``lifecycle.Task``: one final
job or tuning trial with what it needs, picklable; the tournament hands it one wave at a time,
teachers before students, trials before finals) and returns when every one has ended. How a
job is played and how its end is recorded is ``lifecycle``'s.

``LocalExecutor(1)`` is the plain loop. ``LocalExecutor(n)`` runs n tasks at once in spawned
processes; on CPU the cores are split among them (each job's torch thread count, unless the
protocol fixes one); with GPUs each worker process is given one card (``CUDA_VISIBLE_DEVICES``),
round robin, so n jobs on g cards put about n/g jobs on each. A worker is fed one task at a time
through a pipe; one that dies (kill -9, the OOM killer) is replaced in its slot and its job tried
again up to ``max_retries`` times, then recorded failed with the cause, while the other workers
keep running (no process pool's "broken pool" that would end them all). Each result records the
executor's slots (``timing.concurrent_jobs``); the driver measures the real overlap afterwards.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from dataclasses import replace

from rich.console import Console

from tuneoff.console import esc, make_console
from tuneoff.run import interrupts
from tuneoff.run.lifecycle import run_task, stopped, worker_died
from tuneoff.run.progress import Tally, make_progress
from tuneoff.run.task import Task


def gpu_slots(jobs: int, gpus: int, visible: str | None = None) -> list[str | None]:
    """The card each of ``jobs`` worker processes sees: round robin over ``gpus`` (None: leave as is).

    ``visible`` is this process's ``CUDA_VISIBLE_DEVICES``, so "2,3" hands out cards 2 and 3."""
    if gpus <= 0:
        return [None] * jobs
    cards = [c.strip() for c in visible.split(",")][:gpus] if visible else [str(i) for i in range(gpus)]
    return [cards[i % len(cards)] for i in range(jobs)]


def _init_worker(card: str | None) -> None:
    """A pool worker takes its card before torch initialises CUDA in this process, and watches its parent."""
    if card is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = card
    import threading

    threading.Thread(target=_orphan_watch, args=(os.getppid(),), daemon=True, name="tuneoff-orphan-watch").start()


ORPHAN_CHECK_SECONDS = 1.0


def _orphan_watch(parent: int) -> None:
    """When the driver dies (kill -9), stop within seconds: the job in hand is recorded interrupted (a
    KeyboardInterrupt in the main thread, as Ctrl-C would), then the process ends even if it was idle."""
    import _thread
    import time

    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    interrupts.orphaned()
    _thread.interrupt_main()
    time.sleep(30)  # time to record the job in hand; then leave even if the pool's queue holds us
    os._exit(1)


def _visible_gpus(tasks: list[Task]) -> int:
    if all(t.job.protocol.device == "cpu" for t in tasks):
        return 0
    import torch

    return torch.cuda.device_count()


def _worker(task: Task):
    """A pool worker: no live bars (several jobs share the terminal), one line per event."""
    from tuneoff.run.quiet import quiet_libraries

    quiet_libraries()
    interrupts.install()
    return run_task(task, make_console(), live=False)


def _serve(conn, card: str | None) -> None:
    """A worker process: takes tasks from the pipe one at a time and sends back how each ended."""
    _init_worker(card)
    while (task := conn.recv()) is not None:
        try:
            conn.send(("done", _worker(task)))
        except BaseException as err:  # noqa: BLE001 - the driver raises it, as a pool's future would
            conn.send(("raised", err))
            return


def death(exitcode: int | None) -> str:
    """Why a worker process ended, in words: "its worker process died (signal 9, SIGKILL)"."""
    if exitcode is not None and exitcode < 0:
        try:
            name = f", {signal.Signals(-exitcode).name}"
        except ValueError:
            name = ""
        return f"its worker process died (signal {-exitcode}{name})"
    return f"its worker process ended with exit code {exitcode} before it finished"


STOP_SECONDS = 60.0  # how long a stopped worker gets to record its job before it is killed


class _Worker:
    """One worker process on one card (or none), fed one task at a time through a pipe."""

    def __init__(self, context, card: str | None):
        self.card = card
        self.index: int | None = None  # the task in hand
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, card), name="tuneoff-worker")
        self.process.start()
        child.close()

    def give(self, index: int, task: Task) -> None:
        self.index = index
        try:
            self.conn.send(task)
        except OSError:  # it died while idle: ``outcome`` reports it, and the job is tried again
            pass

    def outcome(self):
        """("done", result), ("raised", error), ("died", exitcode), or None while the task is in hand."""
        alive = self.process.is_alive()  # first: a message sent before it ended is read below
        if self.conn.poll():
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
        if alive:
            return None
        self.process.join()
        return ("died", self.process.exitcode)

    def close(self, force: bool = False) -> None:
        if force and self.process.is_alive():
            self.process.terminate()
        elif self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(STOP_SECONDS if force else None)
        if self.process.is_alive():  # still recording its job after a minute: a 'running' record, recovered later
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalExecutor:
    """Runs tasks on this machine, ``jobs`` at a time (1: in this process, as the plain loop).

    A worker process that dies (kill -9, the kernel's OOM killer) is replaced; its job is tried again up
    to ``max_retries`` times, then recorded failed with the cause. The other workers keep running."""

    def __init__(self, jobs: int = 1, console: Console | None = None, max_retries: int = 2):
        self.jobs, self.max_retries = max(1, jobs), max_retries
        self.console = console or make_console()
        self.tally = Tally()  # the jobs this executor played one after another, for the tournament's ETA

    def start(self) -> None:
        """Nothing to join before the run folder is touched (Ray's executor connects here)."""

    def threads(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0

    def run(self, tasks: list[Task]) -> list:
        tasks = [replace(t, threads=self.threads(), concurrency=self.jobs) for t in tasks]
        if self.jobs == 1 or len(tasks) <= 1:
            return [self._one(t) for t in tasks]
        return self._pool(tasks)

    def _one(self, task: Task):
        """One task in this process, its heading saying which job of the run it is and the tournament's ETA."""
        started = time.monotonic()
        try:
            return run_task(replace(task, heading=self.tally.heading(task.position)), self.console)
        finally:
            self.tally.done(time.monotonic() - started)

    def _pool(self, tasks: list[Task]) -> list:
        import multiprocessing

        context, count = multiprocessing.get_context("spawn"), min(self.jobs, len(tasks))
        cards = gpu_slots(count, _visible_gpus(tasks), os.environ.get("CUDA_VISIBLE_DEVICES"))
        workers = [_Worker(context, card) for card in cards]
        try:
            with make_progress(self.console) as progress:
                bar = progress.add_task(f"  {len(tasks)} jobs, {self.jobs} at a time", total=len(tasks))
                out = self._schedule(tasks, workers, context, lambda: progress.advance(bar))
        except BaseException:
            for w in workers:
                w.close(force=True)
            with interrupts.deferred():
                for t in tasks:
                    stopped(t, "stopped with the run (its worker was ended) before it finished")
            raise
        for w in workers:
            w.close()
        return out

    def _schedule(self, tasks: list[Task], workers: list, context, advance) -> list:
        """Hand tasks to idle workers until every one has ended; a dead worker is replaced in its slot."""
        from multiprocessing.connection import wait

        queue, tries, out = deque(range(len(tasks))), [0] * len(tasks), []
        while queue or any(w.index is not None for w in workers):
            for w in workers:
                if w.index is None and queue:
                    index = queue.popleft()
                    w.give(index, tasks[index])
            busy = [w for w in workers if w.index is not None]
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for slot, w in enumerate(workers):
                if w.index is None or (outcome := w.outcome()) is None:
                    continue
                index, w.index = w.index, None
                if outcome[0] == "raised":
                    raise outcome[1]
                if outcome[0] == "done":
                    out.append(outcome[1])
                    advance()
                    continue
                workers[slot] = _Worker(context, w.card)
                w.close()
                if self._retry(tasks[index], death(outcome[1]), tries, index):
                    queue.appendleft(index)
                else:
                    out.append(None)
                    advance()
        return out

    def _retry(self, task: Task, cause: str, tries: list[int], index: int) -> bool:
        """A job whose worker died: recorded interrupted and tried again, or failed once its retries are spent."""
        tries[index] += 1
        job, again = task.job, tries[index] <= self.max_retries
        with interrupts.deferred():
            worker_died(task, cause, final=not again)
        if again:
            self.console.print(
                f"[yellow]{esc(job.name)} {job.label}: {esc(cause)}; trying it again "
                f"(retry {tries[index]} of {self.max_retries})[/]"
            )
        else:
            self.console.print(
                f"[red]{esc(job.name)} {job.label} failed: {esc(cause)}, "
                f"{self.max_retries} retries spent; the tournament goes on[/]"
            )
        return again
