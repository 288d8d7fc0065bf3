"""Run every (player, seed) job of a config, skip the ones already done, score the game.

Order of work, so that bad input never costs a trained player:
config (already loaded) -> run folder usable -> data and extra test sets -> lock the folder ->
recover jobs a dead process left 'running' -> what is left to train (stale results included) ->
check every player about to train (model resolves, strategy fits it, lengths fit) ->
tournament.json -> the executor trains wave by wave (teachers first; with [tuning], trials
then final seeds) -> leaderboard -> report.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from rich.console import Console

from tuneoff.console import esc, make_console
from tuneoff.plan.budget import sweep_for
from tuneoff.plan.config import Config, ConfigError, ingredients, teacher_order, tuning_seeds
from tuneoff.plan.jobs import Job, choose, plan, plan_tuning
from tuneoff.run.executors import LocalExecutor
from tuneoff.run.lifecycle import done_already, recover_dead, trial_done
from tuneoff.run.preflight import preflight
from tuneoff.run.progress import positions
from tuneoff.run.task import Task
from tuneoff.store.guard import check_new_run
from tuneoff.store.liveness import describe, now
from tuneoff.store.runfolder import RunFolder, RunFolderError, as_run
from tuneoff.store.status import Status
from tuneoff.suggest import did_you_mean
from tuneoff.training.evaluate import Extra, label_mapping
from tuneoff.verdict.board import publish
from tuneoff.verdict.rows import edge_sentences
from tuneoff.verdict.rules import device_of, overlapping_jobs


def run(
    config: Config,
    out_dir: RunFolder | Path,
    data_dir: str | None = None,
    only: tuple[str, ...] = (),
    console: Console | None = None,
    config_file: str | None = None,
    report: bool = False,
    executor=None,
    force: bool = False,
    track: tuple = (),
) -> dict:
    """Train what is not done yet, then write and return the leaderboard (and the report).

    ``force``: take over a run folder that holds another tournament (refused otherwise). ``track``:
    experiment trackers (report.track) each job is exported to as it ends, and every job again at the end."""
    console = console or make_console()
    executor = executor or LocalExecutor(1, console)
    unknown = sorted(set(only) - {p.name for p in config.players})
    if unknown:
        names = [p.name for p in config.players]
        raise ValueError(f"--only {unknown}: no such player; players: {names}{did_you_mean(unknown[0], names)}")
    out = RunFolder(as_run(out_dir).path.resolve())
    out.check_target()
    check_new_run(out.path)
    out.check_owner(config.tournament.name, force)
    dataset, extras = load_data(config, data_dir, config_file)
    created = next((p for p in reversed([out.path, *out.path.parents]) if not p.exists()), None)
    try:
        with out.lock() as lock:
            if lock.took_over:
                console.print(
                    f"[yellow]took over {esc(out)} from {esc(describe(lock.took_over))}, "
                    "which ended without letting go of it[/]"
                )
            return _play_all(config, (dataset, extras), out, only, console, config_file, report, executor, track)
    except (ConfigError, RunFolderError, KeyboardInterrupt):
        # A refused or stopped run leaves no folder behind: remove what it created if that holds nothing but the lock.
        if created and created.is_dir() and RunFolder(created).only_lock_inside():
            shutil.rmtree(created)
        raise


def _todo(jobs: list[Job], only, out: RunFolder, console: Console) -> list[Job]:
    """The selected jobs that are not done yet, saying why for each one skipped or trained again."""
    todo = []
    for job in (j for j in jobs if not only or j.name in only):
        skip, why = done_already(out.job(job.name, job.label), job)
        if why:
            console.print(
                f"[green]✓[/] {esc(job.name)} {job.label}: {why}"
                if skip
                else f"[yellow]{esc(job.name)} {job.label}: {esc(why)}[/]"
            )
        if not skip:
            todo.append(job)
    return todo


def _write_tournament(
    out: RunFolder, config: Config, planned: list[Job], config_file, console: Console, trials=()
) -> None:
    """tournament.json, then every result here recorded for another tournament becomes this one's (a renamed
    config, or --force taking a folder over): judged by identity like any other, never left off the board."""
    out.write_tournament(
        {
            "config": config.model_dump(mode="json"),
            "jobs": [
                {"player": j.name, "seed": j.seed, "data_seed": j.data_seed, "job_hash": j.job_hash, "job": j.identity}
                for j in planned
            ],
            "trials": [{"player": j.name, "label": j.label, "job_hash": j.job_hash} for j in trials],
            "config_file": config_file,
            "written_at": now(),
        },
    )
    if adopted := out.adopt_results(config.tournament.name):
        console.print(
            f"[yellow]{len(adopted)} results recorded for another tournament are now "
            f"{config.tournament.name!r}'s (the name is not part of a job): {esc(', '.join(adopted[:3]))}"
            f"{' …' if len(adopted) > 3 else ''}; each is kept if its job is current, trained again if "
            "stale[/]"
        )


def _tasks(jobs: list[Job], data, out: RunFolder, track: tuple = (), start: int = 1, total: int = 0) -> list[Task]:
    """The jobs as tasks, numbered from ``start`` of ``total`` (default: these jobs alone) for "job 3 of 8"."""
    where = positions(len(jobs), start, total or len(jobs))
    return [Task(j, data, out.job(j.name, j.label), out, track=track, position=at) for j, at in zip(jobs, where)]


def waves(config: Config) -> list[list[str]]:
    """Players grouped so that every teacher is in an earlier group than its students."""
    depth: dict[str, int] = {}
    players = {p.name: p for p in config.players}
    for name in teacher_order(config.players):
        teacher = players[name].strategy.teacher_name()
        depth[name] = 0 if teacher is None else depth[teacher] + 1
    return [[n for n in depth if depth[n] == d] for d in range(max(depth.values()) + 1)]


def _play_all(
    config: Config, data, out: RunFolder, only, console: Console, config_file, report: bool, executor, track: tuple = ()
) -> dict:
    recover_dead(out, console)
    (dataset, extras), failed = data, 0
    sha = fingerprints(dataset, extras)
    if config.tuning:
        failed = _play_tuned(config, sha, data, out, only, console, config_file, executor, track)
    else:
        planned = plan(config, sha)
        todo = _todo(planned, only, out, console)
        preflight(todo, out, len(dataset.labels))
        _write_tournament(out, config, planned, config_file, console)
        console.print(f"{len(todo)} jobs to train")
        started = 1
        for wave in waves(config):
            batch = [j for j in todo if j.name in wave]
            failed += _failures(executor.run(_tasks(batch, data, out, track, started, len(todo))))
            started += len(batch)
    record_overlaps(out)
    board = {**publish(out, console).board, "failed_this_run": failed}
    if report:
        from tuneoff.report.build import build_report

        paths = build_report(out)
        console.print(f"report: {esc(paths['html'])}  {esc(paths['md'])}")
    if track:  # after the report: MLflow's tournament run holds it
        export_all(out, track, console)
    return board


def _play_tuned(
    config: Config, sha: dict, data, out: RunFolder, only, console: Console, config_file, executor, track: tuple = ()
) -> int:
    """Wave by wave (teachers first): every player's trials on dev, then its final seeds at the rate they chose.
    Returns how many jobs failed."""
    selected = [n for wave in waves(config) for n in wave if not only or n in only]
    for warning in schedule_warnings(config, selected):
        console.print(f"[yellow]warning: {esc(warning)}[/]")
    for player in (p for p in config.players if p.name in selected):
        console.print(esc(sweep_sentence(config, player)))
    preflight([j for name in selected for j in plan_tuning(config, sha, name, {})], out, len(data[0].labels))
    chosen: dict[str, dict] = {}
    trials, failed = [], 0
    for wave in waves(config):
        teachers = {(j.name, j.seed, j.data_seed): j.job_hash for j in plan(config, sha, chosen)}
        mine = {name: plan_tuning(config, sha, name, teachers) for name in wave}
        trials += [j for jobs in mine.values() for j in jobs]
        failed += _failures(
            executor.run(
                _tasks(
                    [
                        j
                        for name in wave
                        if name in selected
                        for j in mine[name]
                        if not trial_done(out.job(j.name, j.label), j, console)
                    ],
                    data,
                    out,
                )
            )
        )
        for name in (n for n in wave if mine[n]):  # a soup trains its sweep in its final jobs
            records = [trial_done(out.job(j.name, j.label), j) for j in mine[name]]
            done = [r for r in records if r]
            if len(done) == len(records):
                chosen[name] = choose(done)
                console.print(chosen_sentence(name, chosen[name]))
                for sentence in edge_sentences(name, chosen[name]):
                    console.print(f"[yellow]warning: {esc(sentence)}[/]")
        planned = plan(config, sha, chosen)
        _write_tournament(out, config, planned, config_file, console, trials)
        failed += _failures(
            executor.run(_tasks(_todo([j for j in planned if j.name in wave], only, out, console), data, out, track))
        )
    return failed


def sweep_sentence(config: Config, player) -> str:
    """What a player's sweep tries, axis by axis (a knob's value in its strategy table is replaced by the sweep's)."""
    if type(player.strategy).in_job_sweep:
        rates = ingredients(config, player)
        return (
            f"{player.name}: each final seed trains {len(rates)} models at learning rates "
            f"{', '.join(f'{r:g}' for r in rates)} and soups them on dev"
        )
    grid = sweep_for(config.tuned(), player)
    axes = "; ".join(f"{a.field} {', '.join(f'{v:g}' for v in a.values)} ({a.source})" for a in grid.axes)
    return f"{player.name}: {len(grid.points)} points per tuning seed x {len(tuning_seeds(config))} seeds: {axes}"


def chosen_sentence(name: str, sweep: dict) -> str:
    """What a sweep kept, and the mean dev accuracy at each rate (the best over the other axes)."""
    kept = [f"learning rate {sweep['learning_rate']:g}"] + [
        f"{sweep[k]['field']} {sweep[k]['value']:g}" for k in ("second_rate", "knob") if sweep.get(k)
    ]
    rates = ", ".join(f"{r:g}: {a:.2%}" for r, a in zip(sweep["learning_rates"], sweep["dev_accuracy"]))
    return f"{esc(name)}: {esc(', '.join(kept))} chosen on dev, mean of {len(sweep.get('seeds', []))} seeds ({rates})"


def schedule_warnings(config: Config, players: list[str]) -> list[str]:
    """Players whose trials would not run the finals' epochs, so not their schedule (warm-up and decay are
    spread over the trial's steps): the rate a shorter trial prefers need not be the finals' best."""
    epochs = config.tuned().epochs
    out = []
    for p in (p for p in config.players if p.name in players and not type(p.strategy).in_job_sweep):
        final = config.protocol_for(p).epochs
        if epochs is not None and epochs != final:
            out.append(
                f"{p.name}: tuning trials run {epochs} epochs, its finals {final}: the trials follow another "
                "schedule than the finals, so the rate they choose may not be the finals' best; unset "
                "tuning.epochs for trials with the finals' epochs and schedule"
            )
    return out


def record_overlaps(out: RunFolder) -> None:
    """Each completed result gets ``timing.overlapping_jobs``: how many jobs of this run folder ran at once on its
    device while it ran, measured from every result's start and end (to the second), not the executor's slots."""
    ended = [(f, r) for f in out.jobs() if (r := f.result_or_none()) and r.get("finished_at") and "environment" in r]
    spans = [
        (device_of(r), datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"]))
        for _, r in ended
    ]
    for (folder, result), count in zip(ended, overlapping_jobs(spans)):
        if result["status"] == Status.COMPLETED and result["timing"].get("overlapping_jobs") != count:
            result["timing"]["overlapping_jobs"] = count
            folder.write_result(result)


def export_all(out: RunFolder, track: tuple, console: Console) -> None:
    """Every job once more, now with the final leaderboard's rows; a failure is a yellow warning, not the run's."""
    from tuneoff.report.track import export

    for tracker in track:
        try:
            count = export(out, (tracker,))
            console.print(f"{tracker.name}: {count} jobs exported")
        except Exception as err:  # noqa: BLE001 - exporting copies the results; the run stands without it
            first = str(err).splitlines()[0] if str(err) else ""
            console.print(
                f"[yellow]warning: not exported to {tracker.name} ({type(err).__name__}: {esc(first)}); "
                f"`tuneoff track {esc(out)} --to {tracker.name}` tries again[/]"
            )


def _failures(outcomes: list) -> int:
    """Jobs of a wave that did not complete (an executor returns None for each; a retrain that failed beside
    the result it replaces leaves that result on the board, stale, so the board alone would not tell)."""
    return sum(outcome is None for outcome in outcomes)


def load_data(config: Config, data_dir: str | None, config_file: str | None):
    """The data set, and the extra test sets with each one's label mapping, checked before training."""
    origin = "--data-dir" if data_dir else (f"data.dir of {config_file}" if getattr(config.data, "dir", None) else None)
    dataset = config.data.load(data_dir, origin)
    extras = []
    for spec in config.eval:
        other = spec.dataset.load(data_dir, origin)
        if spec.max_test:  # a fixed random sample of its test split (seed 0); a job's identity hashes what it holds
            other = replace(other, test=other.test.sample(spec.max_test))
        table = spec.label_map or {n: n for n in dataset.labels if n in other.labels}
        extras.append(Extra(spec.name, other, label_mapping(dataset.labels, other, table, f"[[eval]] {spec.name}")))
    return dataset, extras


def fingerprints(dataset, extras) -> dict:
    """What the job identities hash about the data: every split's content, every extra test set's, and the class
    names where the data set does not fix them (``classes``: plan.jobs.identity records them by name)."""
    classes = {"classes": list(dataset.classes)} if dataset.classes is not None else {}
    return {
        **dataset.fingerprint,
        **classes,
        **{f"eval:{x.name}": f"{x.dataset.test.sha256}:{x.mapping}" for x in extras},
    }
