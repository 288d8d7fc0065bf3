"""A job's life, in one place: what it starts from, how it is played, and how it ended.

A final job writes a result that says 'running' before it trains, so a killed job is never
'completed'; it ends completed, failed (a crash, or a loss that became non-finite: the
tournament goes on) or interrupted (Ctrl-C, SIGTERM, a stopped pool or Ray run: the error says
which). A result left 'running' by a process that died is recorded interrupted by the next run;
one whose pool worker died is recorded interrupted while it is retried, then failed with the cause.
A tuning trial keeps a record the same way. The executors only schedule: every record of how a
job ended is written here.
"""

from __future__ import annotations

import traceback
from dataclasses import replace

from rich.console import Console

from tuneoff.console import esc, make_console, warning_panel
from tuneoff.plan.jobs import Job
from tuneoff.run import interrupts
from tuneoff.run.task import Task
from tuneoff.store.liveness import describe, now, process_alive, process_record
from tuneoff.store.results import SCHEMA_VERSION, TRIAL_SCHEMA, ResultsError, differences
from tuneoff.store.runfolder import JobFolder, RunFolder
from tuneoff.verdict.rules import collapse_reason

# --- what a job starts from ---------------------------------------------------------------------


def base_result(job: Job, labels: tuple[str, ...]) -> dict:
    return {
        "schema": SCHEMA_VERSION, "status": "running", "error": None, "tournament": job.tournament,
        "player": job.player.model_dump(mode="json"), "seed": job.seed, "data_seed": job.data_seed,
        "job": job.identity, "job_hash": job.job_hash, "protocol": job.protocol.model_dump(mode="json"),
        "overrides": job.overrides, "labels": list(labels), "warnings": [], "process": process_record(),
        **({"tuning": job.tuning} if job.tuning else {}), "started_at": now(), "finished_at": None,
    }


def base_trial(job: Job) -> dict:
    """A trial's record as it starts: its point (rate, and its knob's and second rate's option and value) and seed."""
    return {"schema": TRIAL_SCHEMA, "status": "running", "error": None, "player": job.name,
            "learning_rate": job.protocol.learning_rate, "seed": job.seed,
            **{kind: {"field": field, "value": value} for kind, field, value in job.axes}, "job": job.identity,
            "job_hash": job.job_hash, "protocol": job.protocol.model_dump(mode="json"), "warnings": [],
            "started_at": now()}


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
    if previous["status"] == "running" and process_alive(previous.get("process")):
        return True, f"still being trained by {describe(previous.get('process'))}; left alone"
    if previous["status"] != "completed":
        return False, None
    if previous["job_hash"] != job.job_hash:
        diff = differences(previous.get("job"), job.identity)
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
    if record and record["status"] == "completed" and record["job_hash"] == job.job_hash:
        return record
    return None


# --- how it ended -------------------------------------------------------------------------------


def end_unfinished(folder: JobFolder, result: dict, status: str, error: str) -> None:
    """Record a job that did not finish; it is never marked completed and keeps no checkpoint.

    The checkpoint goes first: after a disk-full error that frees the space the record needs.
    """
    folder.remove_checkpoint()
    result.update(status=status, error=error, finished_at=now())
    folder.write_result(result)


def stopped(task: Task, why: str, unrecorded: bool = False) -> None:
    """A final job a stopped pool or Ray run left 'running' is recorded interrupted (trials simply rerun).

    ``unrecorded``: also record one that has no result here yet (a Ray task whose worker writes nothing
    into the run folder until it returns)."""
    if task.job.kind == "tuning":
        return
    result = task.folder.result_or_none()
    if result is None and unrecorded:
        result = base_result(task.job, task.data[0].labels)
    if result is not None and result["status"] == "running":
        end_unfinished(task.folder, result, "interrupted", why)


def worker_died(task: Task, cause: str, final: bool) -> None:
    """A job whose pool worker died: the record it left 'running' says so, interrupted while it is tried
    again, failed (``final``) once the retries are spent; a job that died before writing one gets one."""
    status = "failed" if final else "interrupted"
    why = cause if final else f"{cause}; tried again"
    if task.job.kind == "tuning":
        try:
            record = task.folder.trial()
        except ResultsError:
            record = None
        if record is None or record["status"] == "running":
            task.folder.write_trial({**(record or base_trial(task.job)), "status": status, "error": why,
                                     "finished_at": now()})
        return
    target = task.folder
    for folder in (target.staged(), target):
        result = folder.result_or_none()
        if result is not None and result["status"] == "running":
            end_unfinished(folder, result, status, why)
    result = target.result_or_none()
    if final and (result is None or result["status"] != "completed"):  # never left to say 'interrupted'
        end_unfinished(target, result or base_result(task.job, task.data[0].labels), "failed", why)


def settle(task: Task, payload: dict) -> dict | None:
    """A job trained elsewhere (Ray) comes back packed: it replaces the job's files whole when it completed,
    or when there was nothing to replace; otherwise the earlier result stays. Returns its result."""
    attempt = task.folder.attempt()
    attempt.unpack(payload)
    result = attempt.result_or_none()
    if (result is not None and result["status"] == "completed") or not task.folder.has_result():
        task.folder.adopt(attempt)
    return result


def recover_dead(run: RunFolder, console: Console) -> None:
    """Results left 'running' by a process that died (SIGKILL, power loss) become 'interrupted'.

    Only called while holding the run folder's lock: nobody else can be training here.
    """
    run.recover()
    for folder in run.jobs():
        result = folder.result_or_none()
        if result and result["status"] == "running" and not process_alive(result.get("process")):
            who = describe(result.get("process"))
            end_unfinished(folder, result, "interrupted",
                           f"the process that was training it, {who}, ended without recording why (killed?)")
            console.print(f"[yellow]{esc(folder.player)} {esc(folder.label)}: was left 'running' by {esc(who)}, "
                          "which is gone; marked interrupted and trained again if selected[/]")


# --- playing it ---------------------------------------------------------------------------------


def run_task(task: Task, console: Console | None = None, live: bool = True):
    """Run one task in this process (a pool or Ray worker's entry point too)."""
    import torch

    if task.threads and not task.job.protocol.threads:
        torch.set_num_threads(task.threads)
    console = console or make_console()
    if task.job.kind == "tuning":
        return play_trial(task, console, live)
    result = play(task, console, live)
    track(task, console)  # completed or failed; an interrupted job is exported when it is played again
    return result


def track(task: Task, console: Console) -> None:
    """Export this one job to the trackers of ``tuneoff run --track``; a failure is one yellow warning,
    never the run's."""
    if not task.track or task.job.kind == "tuning":
        return
    from tuneoff.report.track import export

    try:
        export(task.run, task.track, (task.folder.player, task.folder.label))
    except Exception as err:  # noqa: BLE001 - exporting is a copy of the results; the run goes on without it
        names = ", ".join(t.name for t in task.track)
        first = str(err).splitlines()[0] if str(err) else ""
        console.print(f"[yellow]warning: {esc(task.job.name)} {task.job.label}: not exported to {esc(names)} "
                      f"({type(err).__name__}: {esc(first)}); `tuneoff track` exports it later[/]")


def _warn(console: Console):
    return lambda message: console.print(warning_panel(message), soft_wrap=False)


def play(task: Task, console: Console, live: bool = True) -> dict | None:
    """Train one final job and record how it ended; an interruption is recorded, then raised."""
    from tuneoff.run.final import run_job  # imports torch: only where a job is played
    from tuneoff.run.progress import make_progress
    from tuneoff.training.loop import NonFiniteLoss

    job, target, dataset = task.job, task.folder, task.data[0]
    heading = f" · {task.heading}" if task.heading else ""
    console.rule(f"{esc(job.name)} {job.label}: {esc(job.player.model.kind)} model, {esc(job.player.strategy.name)}"
                 f"{esc(heading)}")
    # A retrain writes beside the result it replaces, which is swapped out only when this one completes.
    folder = target.attempt() if target.has_result() else target
    kept = "" if folder is target else "; its earlier result is kept"
    result = base_result(job, dataset.labels)
    folder.write_result(result)  # 'running' until it ends: a killed job is never 'completed'
    try:
        with make_progress(console, live) as progress:
            run_job(replace(task, folder=folder), result, progress if live else None, _warn(console))
    except KeyboardInterrupt as stop:
        with interrupts.deferred():
            end_unfinished(folder, result, "interrupted", f"{interrupts.why(stop)} before it finished")
        console.print(f"[red]{esc(job.name)} {job.label}: interrupted{kept}; rerun the same command to resume[/]")
        raise
    except NonFiniteLoss as err:  # learned nothing: the board counts it with its player's collapsed seeds
        result["diverged"] = True
        end_unfinished(folder, result, "failed", str(err))
        console.print(f"[red]{esc(job.name)} {job.label} failed: {esc(err)}{kept}; the tournament goes on[/]")
        return None
    except Exception as err:  # a crash is recorded as a failure, not a user stop
        end_unfinished(folder, result, "failed", f"{type(err).__name__}: {err}")
        why = (f": {esc(_one_line(err))}[/]" if isinstance(err, OSError)  # disk full, permissions: not a bug
               else f":[/]\n{esc(traceback.format_exc())}")
        console.print(f"[red]{esc(job.name)} {job.label} failed{kept}{why}")
        return None
    target.adopt(folder)
    console.print(f"{esc(job.name)} {job.label}: test accuracy {result['test']['accuracy']:.2%}, "
                  f"trained in {result['timing']['train_seconds']:.0f} s (best epoch {result['best_epoch']})")
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
    record = base_trial(job)
    folder.write_trial(record)
    try:
        with make_progress(console, live) as progress:
            run_trial(task, record, progress if live else None, _warn(console))
    except KeyboardInterrupt as stop:
        with interrupts.deferred():
            folder.write_trial({**record, "status": "interrupted", "error": interrupts.why(stop), "finished_at": now()})
        raise
    except Exception as err:  # noqa: BLE001 - recorded, and the player is left without a chosen rate
        folder.write_trial({**record, "status": "failed", "error": f"{type(err).__name__}: {err}", "finished_at": now()})
        console.print(f"[red]{esc(job.name)} {job.label} failed: {esc(err)}[/]")
        return None
    record["finished_at"] = now()
    folder.write_trial(record)
    console.print(f"{esc(job.name)} {job.label}: best dev accuracy {record['best_dev_accuracy']:.2%}")
    return record
