"""Running jobs: one in this process with live progress bars, or several at once in a process pool.

A *task* is one job (a final (player, seed) job or a tuning trial) with what it needs,
all picklable. ``play`` runs a final job and records how it ended (completed, failed,
interrupted), ``play_trial`` a tuning trial. An executor runs a list of independent tasks
(the tournament hands it one wave at a time: teachers before students, trials before
finals) and returns when every one has ended.

``LocalExecutor(1)`` is the plain loop. ``LocalExecutor(n)`` runs n tasks at once in spawned
processes; on CPU the cores are split among them (each job's torch thread count, unless the
protocol fixes one); with GPUs each worker process is given one card (``CUDA_VISIBLE_DEVICES``),
round robin, so n jobs on g cards put about n/g jobs on each. Each result records how many
jobs ran at once.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tuneoff.run import interrupts
from tuneoff.verdict import rules as leaderboard
from tuneoff.console import esc, make_console, warning_panel
from tuneoff.plan.jobs import Job
from tuneoff.run.final import base_result, end_unfinished, now, run_job
from tuneoff.store.results import RESULT_FILE, ResultsError, read_result, write_result
from tuneoff.training.loop import NonFiniteLoss


class LossColumn(ProgressColumn):
    def render(self, task) -> Text:
        loss = task.fields.get("loss")
        return Text(f"loss {loss:.3f}" if loss is not None else "")


def make_progress(console: Console, live: bool = True) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), LossColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                    transient=False, disable=not live)


@dataclass(frozen=True)
class Task:
    job: Job
    data: tuple  # (Dataset, [Extra])
    folder: Path
    threads: int = 0  # torch threads for this job when the protocol leaves it at 0
    concurrency: int = 1  # how many jobs run at once beside it


def play(task: Task, console: Console, live: bool = True) -> dict | None:
    """Train one final job and record how it ended; an interruption is recorded, then raised."""
    job, folder, (dataset, extras) = task.job, task.folder, task.data
    console.rule(f"{esc(job.name)} {job.label}: {esc(job.player.model.kind)} model, {esc(job.player.strategy.name)}")
    result = base_result(job, dataset.labels)
    write_result(folder, result)  # 'running' until it ends: a killed job is never 'completed'
    try:
        with make_progress(console, live) as progress:
            run_job(job, dataset, folder, result, progress if live else None,
                    lambda message: console.print(warning_panel(message), soft_wrap=False), extras,
                    concurrency=task.concurrency)
    except KeyboardInterrupt as stop:
        with interrupts.deferred():
            end_unfinished(folder, result, "interrupted", f"{interrupts.why(stop)} before it finished")
        console.print(f"[red]{esc(job.name)} {job.label}: interrupted; rerun the same command to resume[/]")
        raise
    except NonFiniteLoss as err:
        end_unfinished(folder, result, "failed", str(err))
        console.print(f"[red]{esc(job.name)} {job.label} failed: {esc(err)}; the tournament goes on[/]")
        return None
    except Exception as err:  # a crash is recorded as a failure, not a user stop
        end_unfinished(folder, result, "failed", f"{type(err).__name__}: {err}")
        console.print(f"[red]{esc(job.name)} {job.label} failed:[/]\n{esc(traceback.format_exc())}")
        return None
    console.print(f"{esc(job.name)} {job.label}: test accuracy {result['test']['accuracy']:.2%}, "
                  f"trained in {result['timing']['train_seconds']:.0f} s (best epoch {result['best_epoch']})")
    if reason := leaderboard.collapse_reason(result):
        console.print(f"[bold red]{esc(job.name)} {job.label} COLLAPSED: {esc(reason)}[/]")
    return result


def play_trial(task: Task, console: Console, live: bool = True) -> dict | None:
    """One tuning trial (train and dev only); its record says how it ended."""
    from tuneoff.run import tuning

    job, folder = task.job, task.folder
    console.rule(f"{esc(job.name)} {job.label}: tuning trial, {esc(job.player.strategy.name)}")
    record = tuning.base_record(job)
    tuning.write_record(folder, record)
    try:
        with make_progress(console, live) as progress:
            tuning.run_trial(job, task.data[0], folder, record, progress if live else None,
                             lambda message: console.print(warning_panel(message), soft_wrap=False))
    except KeyboardInterrupt as stop:
        with interrupts.deferred():
            tuning.write_record(folder, {**record, "status": "interrupted", "error": interrupts.why(stop)})
        raise
    except Exception as err:  # noqa: BLE001 - recorded, and the player is left without a chosen rate
        tuning.write_record(folder, {**record, "status": "failed", "error": f"{type(err).__name__}: {err}"})
        console.print(f"[red]{esc(job.name)} {job.label} failed: {esc(err)}[/]")
        return None
    record["finished_at"] = now()
    tuning.write_record(folder, record)
    console.print(f"{esc(job.name)} {job.label}: best dev accuracy {record['best_dev_accuracy']:.2%}")
    return record


def run_task(task: Task, console: Console | None = None, live: bool = True):
    """Run one task in this process (a worker's entry point too)."""
    import torch

    if task.threads and not task.job.protocol.threads:
        torch.set_num_threads(task.threads)
    console = console or make_console()
    return (play_trial if task.job.kind == "tuning" else play)(task, console, live)


def gpu_slots(jobs: int, gpus: int, visible: str | None = None) -> list[str | None]:
    """The card each of ``jobs`` worker processes sees: round robin over ``gpus`` (None: leave as is).

    ``visible`` is this process's ``CUDA_VISIBLE_DEVICES``, so "2,3" hands out cards 2 and 3."""
    if gpus <= 0:
        return [None] * jobs
    cards = [c.strip() for c in visible.split(",")][:gpus] if visible else [str(i) for i in range(gpus)]
    return [cards[i % len(cards)] for i in range(jobs)]


def _init_worker(slots) -> None:
    """A pool worker takes its card before torch initialises CUDA in this process."""
    card = slots.get()
    if card is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = card


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

    def threads(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0

    def run(self, tasks: list[Task]) -> list:
        tasks = [Task(t.job, t.data, t.folder, self.threads(), self.jobs) for t in tasks]
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
                    _mark_interrupted(t)
            raise
        pool.shutdown(wait=True)
        return out


def _mark_interrupted(task: Task) -> None:
    """A final job a stopped pool left 'running' is recorded as interrupted (trials are simply rerun)."""
    path = task.folder / RESULT_FILE
    try:
        result = read_result(path)
    except (ResultsError, OSError):
        return
    if result["status"] == "running":
        end_unfinished(task.folder, result, "interrupted", "stopped with the run (its worker was ended) before it "
                                                           "finished")
