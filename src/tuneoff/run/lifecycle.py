"""A job's life, in one place: how it is played, whether it needs to, and how it ended.

A final job writes a result that says 'running' before it trains, so a killed job is never
'completed'; it ends completed, failed (a crash, or a loss that became non-finite: the
tournament goes on) or interrupted (Ctrl-C, SIGTERM, a stopped pool or Ray run: the error says
which). A result left 'running' by a process that died is recorded interrupted by the next run;
one whose pool worker died is recorded interrupted while it is retried, then failed with the cause.
A tuning trial keeps a record the same way. The executors only schedule: every record of how a
job ended is written here, through ``store.record.Record`` (the one writer of a status), whatever
the job's kind (``Job.kind``: ``Final`` or ``Trial``).
"""

from __future__ import annotations

import traceback
from dataclasses import replace

from rich.console import Console

from tuneoff.console import esc, make_console, warning_panel
from tuneoff.plan.jobs import Job
from tuneoff.run import interrupts
from tuneoff.run.task import Task
from tuneoff.store.liveness import describe, process_alive
from tuneoff.store.record import Final, Record, Trial
from tuneoff.store.results import ResultsError, differences
from tuneoff.store.runfolder import JobFolder, RunFolder
from tuneoff.store.status import Status
from tuneoff.verdict.rules import collapse_reason

# --- whether it needs to run --------------------------------------------------------------------


def done_already(folder: JobFolder, job: Job) -> tuple[bool, str | None]:
    """(True, why) when this exact job completed there and its checkpoint is whole, or a live process
    is training it now; else (False, why not)."""
    if not folder.has_result():
        return False, None
    try:
        previous = folder.result()
    except ResultsError as err:
        return False, f"its results file is unreadable ({err}); training again"
    if previous["status"] == Status.RUNNING and process_alive(previous.get("process")):
        return True, f"still being trained by {describe(previous.get('process'))}; left alone"
    if previous["status"] != Status.COMPLETED:
        return False, None
    if previous["job_hash"] != job.job_hash:
        diff = differences(previous["job"], job.identity)
        return False, f"stale ({'; '.join(diff[:3]) or 'a different job'}); training again"
    if missing := folder.checkpoint_missing(previous):
        return False, f"completed, but its checkpoint is missing ({missing}); training again"
    return True, "already completed with this config, skipped"


def trial_done(folder: JobFolder, job: Job, console: Console | None = None) -> dict | None:
    """A trial's completed record for this exact job, or None (it runs again); a damaged record is reported."""
    try:
        record = folder.trial()
    except ResultsError as err:
        if console is not None:
            console.print(f"[yellow]{esc(job.name)} {job.label}: {esc(err)}; the trial runs again[/]")
        return None
    if record and record["status"] == Status.COMPLETED and record["job_hash"] == job.job_hash:
        return record
    return None


# --- how it ended -------------------------------------------------------------------------------


def stopped(task: Task, why: str, unrecorded: bool = False) -> None:
    """A job a stopped pool or Ray run left 'running' is recorded interrupted.

    ``unrecorded``: also record one that has no record here yet (a Ray task whose worker writes nothing
    into the run folder until it returns)."""
    record = Record.found(task.job.kind, task.folder)
    if record is None and unrecorded:
        record = Record.new(task.job, task.folder, task.data[0].labels)
    if record is not None and record.status is Status.RUNNING:
        record.interrupt(why)


def worker_died(task: Task, cause: str, final: bool) -> None:
    """A job whose pool worker died: the record it left 'running' says so, interrupted while it is tried
    again, failed (``final``) once the retries are spent; a job that died before writing one gets one."""
    status, why = (Status.FAILED, cause) if final else (Status.INTERRUPTED, f"{cause}; tried again")
    for folder in (task.folder.staged(), task.folder):
        record = Record.found(task.job.kind, folder)
        if record is not None and record.status is Status.RUNNING:
            record.end(status, why)
    record = Record.found(task.job.kind, task.folder)
    if final and (record is None or record.status is not Status.COMPLETED):  # never left to say 'interrupted'
        (record or Record.new(task.job, task.folder, task.data[0].labels)).fail(why)


def not_returned(task: Task, why: str) -> dict:
    """A job whose worker sent back no record (a Ray task that died on every try, a worker that refused to
    train): recorded failed, beside the earlier result where there is one (which stays). Returns the record."""
    folder = task.folder.attempt() if task.folder.has_result() else task.folder
    record = Record.new(task.job, folder, task.data[0].labels)
    record.fail(why)
    return record.doc


def settle(task: Task, payload: dict) -> dict | None:
    """A job trained elsewhere (Ray) comes back packed: it replaces the job's files whole when it completed,
    or when there was no result to replace; otherwise the earlier result stays. Returns its record."""
    attempt = task.folder.attempt()
    attempt.unpack(payload)
    record = Record.found(task.job.kind, attempt)
    if (record is not None and record.status is Status.COMPLETED) or not task.folder.has_result():
        task.folder.adopt(attempt)
    return None if record is None else record.doc


def recover_dead(run: RunFolder, console: Console) -> None:
    """Results left 'running' by a process that died (SIGKILL, power loss) become 'interrupted'.

    Only called while holding the run folder's lock: nobody else can be training here.
    """
    run.recover()
    for folder in run.jobs():
        record = Record.found(Final, folder)
        if record and record.status is Status.RUNNING and not process_alive(record.doc.get("process")):
            who = describe(record.doc.get("process"))
            record.interrupt(f"the process that was training it, {who}, ended without recording why (killed?)")
            console.print(
                f"[yellow]{esc(folder.player)} {esc(folder.label)}: was left 'running' by {esc(who)}, "
                "which is gone; marked interrupted and trained again if selected[/]"
            )


# --- playing it ---------------------------------------------------------------------------------


def run_task(task: Task, console: Console | None = None, live: bool = True):
    """Run one task in this process (a pool or Ray worker's entry point too)."""
    import torch

    if task.threads and not task.job.protocol.threads:
        torch.set_num_threads(task.threads)
    console = console or make_console()
    result = PLAYS[task.job.kind](task, console, live)
    track(task, console)  # completed or failed; an interrupted job is exported when it is played again
    return result


def track(task: Task, console: Console) -> None:
    """Export this one job to the trackers of ``tuneoff run --track``; a failure is one yellow warning,
    never the run's."""
    if not task.track or not task.job.kind.tested:  # a trial has no result to export
        return
    from tuneoff.report.track import export

    try:
        export(task.run, task.track, (task.folder.player, task.folder.label))
    except Exception as err:  # noqa: BLE001 - exporting is a copy of the results; the run goes on without it
        names = ", ".join(t.name for t in task.track)
        first = str(err).splitlines()[0] if str(err) else ""
        console.print(
            f"[yellow]warning: {esc(task.job.name)} {task.job.label}: not exported to {esc(names)} "
            f"({type(err).__name__}: {esc(first)}); `tuneoff track` exports it later[/]"
        )


def _warn(console: Console):
    return lambda message: console.print(warning_panel(message), soft_wrap=False)


def play(task: Task, console: Console, live: bool = True) -> dict | None:
    """Train one final job and record how it ended; an interruption is recorded, then raised."""
    from tuneoff.run.final import run_job  # imports torch: only where a job is played
    from tuneoff.run.progress import make_progress
    from tuneoff.training.loop import NonFiniteLoss

    job, target, dataset = task.job, task.folder, task.data[0]
    heading = f" · {task.heading}" if task.heading else ""
    console.rule(
        f"{esc(job.name)} {job.label}: {esc(job.player.model.kind)} model, {esc(job.player.strategy.name)}"
        f"{esc(heading)}"
    )
    # A retrain writes beside the result it replaces, which is swapped out only when this one completes.
    folder = target.attempt() if target.has_result() else target
    kept = "" if folder is target else "; its earlier result is kept"
    record = Record.start(job, folder, dataset.labels)  # 'running' until it ends: a killed job is never completed
    result = record.doc
    try:
        with make_progress(console, live) as progress:
            run_job(replace(task, folder=folder), result, progress if live else None, _warn(console))
            record.complete()
    except KeyboardInterrupt as stop:
        with interrupts.deferred():
            record.interrupt(f"{interrupts.why(stop)} before it finished")
        console.print(f"[red]{esc(job.name)} {job.label}: interrupted{kept}; rerun the same command to resume[/]")
        raise
    except NonFiniteLoss as err:  # learned nothing: the board counts it with its player's collapsed seeds
        record.fail(str(err), diverged=True)
        console.print(f"[red]{esc(job.name)} {job.label} failed: {esc(err)}{kept}; the tournament goes on[/]")
        return None
    except Exception as err:  # noqa: BLE001 - a crash is recorded as a failure, not a user stop
        record.fail(f"{type(err).__name__}: {err}")
        why = (
            f": {esc(_one_line(err))}[/]"
            if isinstance(err, OSError)  # disk full, permissions: not a bug
            else f":[/]\n{esc(traceback.format_exc())}"
        )
        console.print(f"[red]{esc(job.name)} {job.label} failed{kept}{why}")
        return None
    target.adopt(folder)
    console.print(
        f"{esc(job.name)} {job.label}: test accuracy {result['test']['accuracy']:.2%}, "
        f"trained in {result['timing']['train_seconds']:.0f} s (best epoch {result['best_epoch']})"
    )
    if reason := collapse_reason(result):
        console.print(f"[bold red]{esc(job.name)} {job.label} COLLAPSED: {esc(reason)}[/]")
    return result


def _one_line(err: OSError) -> str:
    """A system error in one line, naming its file: 'No space left on device: .../model.safetensors'."""
    return f"{err.strerror}: {err.filename}" if err.strerror and err.filename else f"{type(err).__name__}: {err}"


def play_trial(task: Task, console: Console, live: bool = True) -> dict | None:
    """One tuning trial (train and dev only); its record says how it ended."""
    from tuneoff.run.progress import make_progress
    from tuneoff.run.tuning import run_trial

    job, folder = task.job, task.folder
    heading = f" · {task.heading}" if task.heading else ""
    console.rule(f"{esc(job.name)} {job.label}: tuning trial, {esc(job.player.strategy.name)}{esc(heading)}")
    record = Record.start(job, folder)
    try:
        with make_progress(console, live) as progress:
            run_trial(task, record.doc, progress if live else None, _warn(console))
            record.complete()
    except KeyboardInterrupt as stop:
        with interrupts.deferred():
            record.interrupt(interrupts.why(stop))
        raise
    except Exception as err:  # noqa: BLE001 - recorded, and the player is left without a chosen rate
        record.fail(f"{type(err).__name__}: {err}")
        console.print(f"[red]{esc(job.name)} {job.label} failed: {esc(err)}[/]")
        return None
    console.print(f"{esc(job.name)} {job.label}: best dev accuracy {record.doc['best_dev_accuracy']:.2%}")
    return record.doc


PLAYS = {Final: play, Trial: play_trial}  # how each kind of job is played (``run_task``)
