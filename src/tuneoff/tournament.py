"""Run every player of a config as its own job, skip the ones already done, score the game.

Order of work, so that bad input never costs a trained player:
config (already loaded) -> run folder usable -> data -> lock the folder ->
recover players a dead process left 'running' -> what is left to train ->
check every one of those players (model resolves, strategy fits it, lengths fit) ->
tournament.json -> train, one job at a time -> leaderboard -> report.
"""

from __future__ import annotations

import shutil
import traceback
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

from . import interrupts, leaderboard, runfolder
from .board import publish
from .config import Config, ConfigError
from .console import esc, make_console, warning_panel
from .data import DataError
from .evaluate import Extra
from .jobs import Job, choose, differences, plan, plan_tuning
from .preflight import preflight
from .player import base_result, checkpoint_missing, end_unfinished, now, run_job
from .results import RESULT_FILE, ResultsError, job_dirs, read_result, write_json, write_result
from .train import NonFiniteLoss


class LossColumn(ProgressColumn):
    def render(self, task) -> Text:
        loss = task.fields.get("loss")
        return Text(f"loss {loss:.3f}" if loss is not None else "")


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        LossColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def done_already(folder: Path, job: Job) -> tuple[bool, str | None]:
    """(True, why) when this exact job completed there and its checkpoint is whole; else (False, why not)."""
    path = folder / RESULT_FILE
    if not path.is_file():
        return False, None
    try:
        previous = read_result(path)
    except ResultsError as err:
        return False, f"its results file is unreadable ({err}); training again"
    if previous["status"] != "completed":
        return False, None
    if previous["job_hash"] != job.job_hash:
        diff = differences(previous.get("job"), job.identity)
        return False, f"stale ({'; '.join(diff[:3]) or 'a different job'}); training again"
    if missing := checkpoint_missing(folder, previous):
        return False, f"completed, but its checkpoint is missing ({missing}); training again"
    return True, "already completed with this config, skipped"


def recover_dead(out_dir: Path, console: Console) -> None:
    """Results left 'running' by a process that died (SIGKILL, power loss) become 'interrupted'.

    Only called while holding the run folder's lock: nobody else can be training here.
    """
    for folder in job_dirs(out_dir):
        try:
            result = read_result(folder / RESULT_FILE)
        except (ResultsError, OSError):
            continue
        if result["status"] == "running":
            who = runfolder.describe(result.get("process"))
            end_unfinished(folder, result, "interrupted",
                           f"the process that was training it, {who}, ended without recording why (killed?)")
            console.print(f"[yellow]{esc(folder.parent.name)} {esc(folder.name)}: was left 'running' by {esc(who)}, "
                          "which is gone; "
                          "marked interrupted and trained again if selected[/]")


def play(job: Job, data, folder: Path, console: Console) -> dict | None:
    """Train one job and record how it ended; an interruption is recorded, then raised."""
    dataset, extras = data
    console.rule(f"{esc(job.name)} {job.label}: {esc(job.player.model.kind)} model, {esc(job.player.strategy.name)}")
    result = base_result(job, dataset.labels)
    write_result(folder, result)  # 'running' until it ends: a killed job is never 'completed'
    try:
        with make_progress(console) as progress:
            run_job(job, dataset, folder, result, progress,
                    lambda message: console.print(warning_panel(message), soft_wrap=False), extras)
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
    console.print(
        f"{esc(job.name)} {job.label}: test accuracy {result['test']['accuracy']:.2%}, "
        f"trained in {result['timing']['train_seconds']:.0f} s (best epoch {result['best_epoch']})"
    )
    if reason := leaderboard.collapse_reason(result):
        console.print(f"[bold red]{esc(job.name)} {job.label} COLLAPSED: {esc(reason)}[/]")
    return result


def run(
    config: Config,
    out_dir: Path,
    data_dir: str | None = None,
    only: tuple[str, ...] = (),
    console: Console | None = None,
    config_file: str | None = None,
    report: bool = False,
) -> dict:
    """Train what is not done yet, then write and return the leaderboard (and the report)."""
    console = console or make_console()
    unknown = sorted(set(only) - {p.name for p in config.players})
    if unknown:
        raise ValueError(f"--only {unknown}: no such player; players: {[p.name for p in config.players]}")
    out_dir = Path(out_dir).resolve()
    runfolder.check_target(out_dir)
    dataset, extras = load_data(config, data_dir, config_file)
    created = next((p for p in reversed([out_dir, *out_dir.parents]) if not p.exists()), None)
    try:
        with runfolder.RunLock(out_dir) as lock:
            if lock.took_over:
                console.print(f"[yellow]took over {esc(out_dir)} from {esc(runfolder.describe(lock.took_over))}, "
                              "which ended without letting go of it[/]")
            return _play_all(config, (dataset, extras), out_dir, only, console, config_file, report)
    except (ConfigError, runfolder.RunFolderError):
        # A refused run leaves no folder behind: remove what it created if that holds nothing but the lock.
        if created and created.is_dir() and all(p.is_dir() or p.name == runfolder.LOCK_FILE for p in created.rglob("*")):
            shutil.rmtree(created)
        raise


def _todo(jobs: list[Job], only, out_dir: Path, console: Console) -> list[Job]:
    """The selected jobs that are not done yet, saying why for each one skipped or trained again."""
    todo = []
    for job in (j for j in jobs if not only or j.name in only):
        skip, why = done_already(job.folder(out_dir), job)
        if why:
            console.print(f"[green]✓[/] {esc(job.name)} {job.label}: {why}" if skip else
                          f"[yellow]{esc(job.name)} {job.label}: {esc(why)}[/]")
        if not skip:
            todo.append(job)
    return todo


def _write_tournament(out_dir: Path, config: Config, planned: list[Job], config_file, trials=()) -> None:
    write_json(
        out_dir / runfolder.TOURNAMENT_FILE,
        {"schema": runfolder.TOURNAMENT_SCHEMA, "config": config.model_dump(mode="json"),
         "jobs": [{"player": j.name, "seed": j.seed, "data_seed": j.data_seed, "job_hash": j.job_hash,
                   "job": j.identity} for j in planned],
         "trials": [{"player": j.name, "label": j.label, "job_hash": j.job_hash} for j in trials],
         "config_file": config_file, "written_at": now()},
    )


def _play_all(config: Config, data, out_dir: Path, only, console: Console, config_file, report: bool) -> dict:
    recover_dead(out_dir, console)
    dataset, extras = data
    sha = fingerprints(dataset, extras)
    if config.tuning:
        _play_tuned(config, sha, data, out_dir, only, console, config_file)
    else:
        planned = plan(config, sha)
        todo = _todo(planned, only, out_dir, console)
        preflight(todo, out_dir, len(dataset.labels))
        _write_tournament(out_dir, config, planned, config_file)
        for number, job in enumerate(todo, start=1):
            console.print(f"job {number}/{len(todo)}")
            play(job, data, job.folder(out_dir), console)
    board = publish(out_dir, console).board
    if report:
        from .report import build_report

        paths = build_report(out_dir)
        console.print(f"report: {esc(paths['html'])}  {esc(paths['md'])}")
    return board


def _play_tuned(config: Config, sha: dict, data, out_dir: Path, only, console: Console, config_file) -> None:
    """Per player, teachers first: its trials on dev, then its final seeds at the rate they chose."""
    from .config import teacher_order
    from . import tuning

    chosen, trials = {}, []
    preflight([j for name in teacher_order(config.players) if not only or name in only
               for j in plan_tuning(config, sha, name, {})], out_dir, len(data[0].labels))
    for name in teacher_order(config.players):
        teachers = {(j.name, j.seed, j.data_seed): j.job_hash for j in plan(config, sha, chosen)}
        mine = plan_tuning(config, sha, name, teachers)
        trials += mine
        records = [tuning.done(j.folder(out_dir), j) for j in mine]
        if not only or name in only:
            records = [r or play_trial(j, data[0], j.folder(out_dir), console) for j, r in zip(mine, records)]
        if all(records):
            chosen[name] = choose(records)
            console.print(f"{esc(name)}: learning rate {chosen[name]['learning_rate']:g} chosen on dev accuracy "
                          f"({', '.join(f'{r:g}: {a:.2%}' for r, a in zip(chosen[name]['learning_rates'], chosen[name]['dev_accuracy']))})")
        planned = plan(config, sha, chosen)
        _write_tournament(out_dir, config, planned, config_file, trials)
        for job in _todo([j for j in planned if j.name == name], only, out_dir, console):
            play(job, data, job.folder(out_dir), console)


def play_trial(job: Job, dataset, folder: Path, console: Console) -> dict | None:
    """One tuning trial (train and dev only); its record says how it ended."""
    from . import tuning

    console.rule(f"{esc(job.name)} {job.label}: tuning trial, {esc(job.player.strategy.name)}")
    record = tuning.base_record(job)
    tuning.write_record(folder, record)
    try:
        with make_progress(console) as progress:
            tuning.run_trial(job, dataset, folder, record, progress,
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


def load_data(config: Config, data_dir: str | None, config_file: str | None):
    """The data set, and the extra test sets with each one's label mapping, checked before training."""
    origin = "--data-dir" if data_dir else (f"data.dir of {config_file}" if getattr(config.data, "dir", None) else None)
    dataset = config.data.load(data_dir, origin)
    extras = []
    for spec in config.eval:
        other = spec.dataset.load(data_dir, origin)
        table = spec.label_map or {n: n for n in dataset.labels if n in other.labels}
        unknown = [k for k in table if k not in dataset.labels] + [v for v in table.values() if v not in other.labels]
        if unknown or not table:
            raise DataError(f"[[eval]] {spec.name}: label_map names {unknown or 'nothing'}; the player's labels: "
                            f"{list(dataset.labels)}, {spec.name}'s: {list(other.labels)}")
        mapping = tuple(other.labels.index(table[n]) if n in table else -1 for n in dataset.labels)
        extras.append(Extra(spec.name, other, mapping))
    return dataset, extras


def fingerprints(dataset, extras) -> dict:
    """What the job identities hash about the data: every split's content, and every extra test set's."""
    return {**dataset.fingerprint, **{f"eval:{x.name}": f"{x.dataset.test.sha256}:{x.mapping}" for x in extras}}
