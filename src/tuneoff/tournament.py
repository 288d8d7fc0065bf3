"""Run every player of a config as its own job, skip the ones already done, score the game."""

from __future__ import annotations

import traceback
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
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

from . import leaderboard
from .config import Config, job_hash
from .data import load_sst5
from .player import Job, base_result, end_unfinished, now, run_job
from .results import RESULT_FILE, ResultsError, read_result, write_json, write_result
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


def jobs(config: Config) -> list[Job]:
    out = []
    for player in config.players:
        out.append(
            Job(
                tournament=config.tournament.name,
                player=player,
                protocol=config.protocol_for(player),
                data=config.data,
                job_hash=job_hash(config, player),
                overrides=dict(player.protocol),
            )
        )
    return out


def finished(folder: Path, job: Job) -> bool:
    """True when this exact job already completed there (same player, protocol and data)."""
    path = folder / RESULT_FILE
    if not path.is_file():
        return False
    try:
        previous = read_result(path)
    except ResultsError:
        return False
    return previous["status"] == "completed" and previous["job_hash"] == job.job_hash


def run(
    config: Config,
    out_dir: Path,
    data_dir: str | None = None,
    only: tuple[str, ...] = (),
    console: Console | None = None,
    config_file: str | None = None,
) -> dict:
    """Train what is stale, then write and return the leaderboard."""
    console = console or Console()
    unknown = sorted(set(only) - {p.name for p in config.players})
    if unknown:
        raise ValueError(f"--only {unknown}: no such player; players: {[p.name for p in config.players]}")
    dataset = load_sst5(data_dir or config.data.dir, verify=config.data.verify)
    out_dir = Path(out_dir)
    write_json(
        out_dir / "tournament.json",
        {"config": config.model_dump(mode="json"), "config_file": config_file, "written_at": now()},
    )

    todo = [j for j in jobs(config) if not only or j.player.name in only]
    for job in todo:
        folder = out_dir / "players" / job.player.name
        if finished(folder, job):
            console.print(f"[green]✓[/] {job.player.name}: already completed with this config, skipped")
            continue
        console.rule(f"{job.player.name}: {job.player.model.kind} model, {job.player.strategy.name}")
        result = base_result(job)
        write_result(folder, result)  # 'running' until it ends: a killed job is never 'completed'

        def warn(message: str) -> None:
            console.print(Panel(message, title="WARNING", style="bold red"), soft_wrap=False)

        try:
            with make_progress(console) as progress:
                run_job(job, dataset, folder, result, progress, warn)
        except KeyboardInterrupt:
            end_unfinished(folder, result, "interrupted", "stopped by the user (Ctrl-C) before it finished")
            console.print(f"[red]{job.player.name}: interrupted; rerun the same command to resume[/]")
            raise
        except NonFiniteLoss as err:
            end_unfinished(folder, result, "failed", str(err))
            console.print(f"[red]{job.player.name} failed: {err}; the tournament goes on[/]")
            continue
        except Exception as err:  # a crash is recorded as a failure, not a user stop
            end_unfinished(folder, result, "failed", f"{type(err).__name__}: {err}")
            console.print(f"[red]{job.player.name} failed:[/]\n{traceback.format_exc()}")
            continue
        console.print(
            f"{job.player.name}: test accuracy {result['test']['accuracy']:.2%}, "
            f"trained in {result['timing']['train_seconds']:.0f} s (best epoch {result['best_epoch']})"
        )
        if reason := leaderboard.collapse_reason(result):
            console.print(f"[bold red]{job.player.name} COLLAPSED: {reason}[/]")

    return leaderboard.publish(out_dir, console).board
