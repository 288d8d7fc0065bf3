"""No command writes into a run folder except through its owner: the one check every output path passes.

A run folder is written only by the commands that own it (run, leaderboard, report, track with its default
store, score), each holding its lock. Every other place a command writes (``export --to``, ``compare --json``,
``track --uri``, ``run --out`` inside another run) is an *output path*, refused when it lies inside a run
folder, symlinks followed, and a folder a ``--force`` would replace is refused when it holds one. No torch here.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuneoff.store.runfolder import RunFolder, RunFolderError

WHO_WRITES = "only tuneoff's own commands write into a run folder (run, leaderboard, report, track, score)"


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder ``path`` lies in or is (the nearest folder at or above it, symlinks followed, that
    holds tournament.json); None when there is none."""
    resolved = Path(os.path.abspath(Path(path).expanduser())).resolve()  # links of the parts that exist
    for folder in (resolved, *resolved.parents):
        if (folder / RunFolder.TOURNAMENT).is_file():
            return folder
    return None


def check_output(path: str | Path, option: str) -> None:
    """Refuse an output path that lies inside a run folder, naming the path as given and the run folder."""
    run = run_folder_of(path)
    if run is None:
        return
    through = "" if Path(os.path.abspath(Path(path).expanduser())).is_relative_to(run) else " (through a symlink)"
    raise RunFolderError(
        f"{option} {path}: inside the run folder {run}{through}; {WHO_WRITES}; choose a path outside it"
    )


def check_replaceable(path: str | Path, option: str, given: str | None = None) -> None:
    """Refuse replacing (``--force``) a folder that holds a run folder: replacing it would delete the run.
    ``given``: the path as the user wrote it, for the message."""
    folder = Path(path)
    if not folder.is_dir() or folder.is_symlink():
        return
    held = next((p.parent for p in folder.rglob(RunFolder.TOURNAMENT) if p.is_file()), None)  # links not followed
    if held is not None:
        raise RunFolderError(
            f"{option} {given or path}: holds the run folder {held}, which --force would delete; choose another folder"
        )


def check_new_run(path: str | Path) -> None:
    """Refuse a run's --out inside another run folder (its players/ would read the new run as a job)."""
    outer = run_folder_of(Path(path).parent)
    if outer is not None:
        raise RunFolderError(
            f"--out {path}: inside the run folder {outer}; a run folder cannot hold another; choose a path outside it"
        )
