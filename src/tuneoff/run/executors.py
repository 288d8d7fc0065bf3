"""Running jobs: one in this process with live progress bars, or several at once in a process pool.

An executor only schedules: it runs a list of independent tasks (``lifecycle.Task``: one final
job or tuning trial with what it needs, picklable; the tournament hands it one wave at a time,
teachers before students, trials before finals) and returns when every one has ended. How a
job is played and how its end is recorded is ``lifecycle``'s.

``LocalExecutor(1)`` is the plain loop. ``LocalExecutor(n)`` runs n tasks at once in spawned
processes; on CPU the cores are split among them (each job's torch thread count, unless the
protocol fixes one); with GPUs each worker process is given one card (``CUDA_VISIBLE_DEVICES``),
round robin, so n jobs on g cards put about n/g jobs on each. Each result records how many
jobs ran at once.
"""

from __future__ import annotations

import os
from dataclasses import replace

from rich.console import Console

from tuneoff.console import make_console
from tuneoff.run import interrupts
from tuneoff.run.lifecycle import run_task, stopped
from tuneoff.run.progress import make_progress
from tuneoff.run.task import Task


def gpu_slots(jobs: int, gpus: int, visible: str | None = None) -> list[str | None]:
    """The card each of ``jobs`` worker processes sees: round robin over ``gpus`` (None: leave as is).

    ``visible`` is this process's ``CUDA_VISIBLE_DEVICES``, so "2,3" hands out cards 2 and 3."""
    if gpus <= 0:
        return [None] * jobs
    cards = [c.strip() for c in visible.split(",")][:gpus] if visible else [str(i) for i in range(gpus)]
    return [cards[i % len(cards)] for i in range(jobs)]


def _init_worker(slots) -> None:
    """A pool worker takes its card before torch initialises CUDA in this process, and watches its parent."""
    card = slots.get()
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


class LocalExecutor:
    """Runs tasks on this machine, ``jobs`` at a time (1: in this process, as the plain loop)."""

    def __init__(self, jobs: int = 1, console: Console | None = None):
        self.jobs = max(1, jobs)
        self.console = console or make_console()

    def start(self) -> None:
        """Nothing to join before the run folder is touched (Ray's executor connects here)."""

    def threads(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0

    def run(self, tasks: list[Task]) -> list:
        tasks = [replace(t, threads=self.threads(), concurrency=self.jobs) for t in tasks]
        if self.jobs == 1 or len(tasks) <= 1:
            return [run_task(t, self.console) for t in tasks]
        return self._pool(tasks)

    def _pool(self, tasks: list[Task]) -> list:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context, workers = multiprocessing.get_context("spawn"), min(self.jobs, len(tasks))
        slots = context.Queue()
        for card in gpu_slots(workers, _visible_gpus(tasks), os.environ.get("CUDA_VISIBLE_DEVICES")):
            slots.put(card)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                   initargs=(slots,))
        futures = {pool.submit(_worker, t): t for t in tasks}
        out = []
        try:
            with make_progress(self.console) as progress:
                bar = progress.add_task(f"  {len(tasks)} jobs, {self.jobs} at a time", total=len(tasks))
                for future in as_completed(futures):
                    out.append(future.result())
                    progress.advance(bar)
        except BaseException:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            with interrupts.deferred():
                for t in tasks:
                    stopped(t, "stopped with the run (its worker was ended) before it finished")
            raise
        pool.shutdown(wait=True)
        return out
