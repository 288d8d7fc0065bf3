"""The run folder: the one owner of its layout. Nobody else spells a path inside it.

    <run>/tournament.json            the config and every planned job (what makes it a run folder)
    <run>/players/<player>/<job>/    one folder per job: seed-<s>[-data-<d>], or tune-lr-<r>[-<option>-<v>]-seed-<s>
        result.json                  a final job's self-describing result
        tuning.json                  a tuning trial's record (train and dev only)
        checkpoint/                  the kept weights of a completed final job: model/, adapter/, base/
                                     (their layout and the result's record of them: store.checkpoint)
        <key>-train_logits.npy       a teacher's cached predictions for its students
    <run>/leaderboard.json, .md, .csv the board (verdict)
    <run>/report.html, .md, figures/ the report
    <run>/manifest.json              the files report and leaderboard generated (only those are replaced)
    <run>/tuneoff.lock, .lock.json   who is writing here
    <run>/.staging/<player>/<job>/   a retrain of a job that has a result: it is written here and swapped
                                     in when it completes, so the earlier result survives until then

The folder is read by identity, not by name: a result whose recorded player and seed are not its
folder's (a backup copy, say) is left out, symlinks are not followed, and a seed counts once.

Every command that writes into a run folder holds its lock (``filelock``, an OS lock released by the
kernel when the holder dies), so two runs never mix results and a report is never built from a
half-written run. No torch here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from tuneoff.store.files import FileError, read_json, write_json
from tuneoff.store.jobfolder import JobFolder
from tuneoff.store.liveness import describe, now, process_record
from tuneoff.store.results import ResultsError, differences

__all__ = ["JobFolder", "RunFolder", "RunFolderError", "RunLock", "as_run", "seed_label", "trial_label"]

TOURNAMENT_SCHEMA = "tuneoff.tournament/1"


class RunFolderError(ValueError):
    """A run folder that cannot be used; the message names the path."""


def seed_label(seed: int, data_seed: int | None = None) -> str:
    """A final job's folder name: seed-42, or seed-42-data-7."""
    return f"seed-{seed}" + ("" if data_seed is None else f"-data-{data_seed}")


def trial_label(learning_rate: float, seed: int, axes: tuple = ()) -> str:
    """A tuning trial's folder name: tune-lr-3e-05-seed-42, or with its other axes (strategy option, value),
    tune-lr-3e-05-p-0.8-seed-42 (a knob), tune-lr-0.1-head_lr-0.001-virtual_tokens-20-seed-42 (both)."""
    return f"tune-lr-{learning_rate:g}" + "".join(f"-{field}-{value:g}" for field, value in axes) + f"-seed-{seed}"


class RunFolder:
    """A tournament's run folder: where each file of it lies, and reading and writing them."""

    PLAYERS = "players"
    TOURNAMENT = "tournament.json"
    MANIFEST = "manifest.json"
    LOCK = "tuneoff.lock"
    HOLDER = "tuneoff.lock.json"
    BOARD = ("leaderboard.json", "leaderboard.md", "leaderboard.csv")
    REPORT = ("report.html", "report.md")
    FIGURES = "figures"
    TRACKERS: ClassVar[dict[str, str]] = {
        "mlflow": "mlflow.db",
        "mlartifacts": "mlartifacts",
        "tensorboard": "tensorboard",
        "trackio": "trackio",
    }

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def for_tournament(cls, out: str | Path | None, tournament_name: str) -> RunFolder:
        """--out, or runs/<tournament name> under the working directory, as an absolute path."""
        return cls(Path(out if out else Path("runs") / tournament_name).expanduser().resolve())

    # --- layout ---------------------------------------------------------------------------------

    def job(self, player: str, label: str) -> JobFolder:
        return JobFolder(self.path / self.PLAYERS / player / label)

    def jobs(self) -> list[JobFolder]:
        """Every job folder: players/<player>/<label>/ (symlinks are not followed)."""
        return [
            JobFolder(p)
            for p in sorted((self.path / self.PLAYERS).glob("*/*"))
            if p.is_dir() and not p.is_symlink() and not p.parent.is_symlink()
        ]

    def player_dir(self, player: str) -> Path:
        return self.path / self.PLAYERS / player

    def seeds_of(self, player: str) -> list[JobFolder]:
        """A player's final jobs (seed-*), not its tuning trials (symlinks are not followed)."""
        return [
            JobFolder(p) for p in sorted(self.player_dir(player).glob("seed-*")) if p.is_dir() and not p.is_symlink()
        ]

    def players(self) -> list[str]:
        return sorted(p.name for p in (self.path / self.PLAYERS).glob("*") if p.is_dir())

    def board_paths(self) -> tuple[Path, Path, Path]:
        """leaderboard.json, leaderboard.md and leaderboard.csv."""
        json_name, md_name, csv_name = self.BOARD
        return self.path / json_name, self.path / md_name, self.path / csv_name

    def report_paths(self) -> tuple[Path, Path]:
        return self.path / self.REPORT[0], self.path / self.REPORT[1]

    @property
    def figures(self) -> Path:
        return self.path / self.FIGURES

    def tracker_store(self, part: str) -> Path:
        """Where an experiment tracker keeps its files inside the run (``tuneoff track``): part is one of
        TRACKERS (mlflow: its sqlite database, mlartifacts, tensorboard: its log folders, trackio)."""
        return self.path / self.TRACKERS[part]

    def tensorboard_dir(self, player: str, label: str) -> Path:
        """One job's TensorBoard log folder: tensorboard/<player>/<label>."""
        return self.tracker_store("tensorboard") / player / label

    # --- results --------------------------------------------------------------------------------

    def results(self, problems: dict[str, str] | None = None) -> list[dict]:
        """Every final job's result, sorted by player then seed.

        An unreadable or invalid file, or one whose recorded player and seed are not its folder's
        (a copy), raises, unless ``problems`` is given: then it is recorded there ("player/label"
        -> why) and the other results still load."""
        out = []
        for folder in self.jobs():
            if not folder.has_result():
                continue
            try:
                result = folder.result()
                if (result["player"]["name"], seed_label(result["seed"], result["data_seed"])) != (
                    folder.player,
                    folder.label,
                ):
                    raise ResultsError(
                        f"{folder.result_path}: records player {result['player']['name']!r} "
                        f"{seed_label(result['seed'], result['data_seed'])}, not this folder's "
                        "(a copy?); not counted"
                    )
                out.append(result)
            except ResultsError as err:
                if problems is None:
                    raise
                problems[f"{folder.player}/{folder.label}"] = str(err)
        return sorted(out, key=lambda r: (r["player"]["name"], r["seed"], r["data_seed"] or -1))

    def recover(self) -> None:
        """Put back a job folder whose swap a crash cut between its two renames (see JobFolder.adopt), or
        carry a user's files over from one cut after them."""
        for old in sorted((self.path / JobFolder.STAGING).glob("*/*.old")):
            target = self.job(old.parent.name, old.name.removesuffix(".old"))
            if not target.path.exists():
                target.path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(old, target.path)
            else:
                target.carry_over(JobFolder(old))
                shutil.rmtree(old, ignore_errors=True)

    # --- the tournament file: what makes a folder a run -----------------------------------------

    def check_target(self) -> None:
        """Refuse, before anything is written, a --out that `run` cannot or must not write into."""
        folder = self.path
        if folder.exists() and not folder.is_dir():
            raise RunFolderError(f"{folder}: exists and is not a folder; choose another --out")
        if folder.is_dir() and not self.only_lock_inside() and not (folder / self.TOURNAMENT).exists():
            raise RunFolderError(
                f"{folder}: this folder has files and is not a tuneoff run folder (no {self.TOURNAMENT}); "
                "tuneoff will not write into it. Choose a new or empty --out."
            )
        base = folder
        while not base.exists():
            base = base.parent
        if not base.is_dir():
            raise RunFolderError(f"{folder}: cannot be created, {base} is not a folder")
        if not os.access(base, os.W_OK | os.X_OK):
            raise RunFolderError(f"{folder}: not writable (no write permission on {base})")

    def check_owner(self, tournament: str, force: bool = False) -> None:
        """Refuse a folder that holds another tournament (its tournament.json names it), unless forced."""
        if force or not (self.path / self.TOURNAMENT).is_file():
            return
        try:
            held, where = self.tournament()["config"]["tournament"].get("name"), f"its {self.TOURNAMENT}"
        except RunFolderError:  # damaged: `run` rewrites it, as it always has, unless its results name another
            held = next((r["tournament"] for r in self.results({}) if r["tournament"] != tournament), tournament)
            where = f"its results; its {self.TOURNAMENT} is damaged"
        if held != tournament:
            raise RunFolderError(
                f"{self.path}: holds tournament {held!r} ({where}), not {tournament!r}; use another --out, or "
                f"--force to let {tournament!r} take the folder over (its results become {tournament!r}'s: those "
                "of the same jobs are kept, the others are stale or left off the board)"
            )

    def foreign(self, results: list[dict]) -> list[str]:
        """Results in this folder written for another tournament than its tournament.json names."""
        held = self.tournament()["config"]["tournament"].get("name")
        return sorted(
            {
                f"{r['player']['name']} {seed_label(r['seed'], r['data_seed'])} (tournament {r['tournament']!r})"
                for r in results
                if held is not None and r["tournament"] != held
            }
        )

    def adopt_results(self, tournament: str) -> list[str]:
        """Make every result here that records another tournament this one's (``run`` does it once its
        tournament.json names ``tournament``): a job's identity does not hold the tournament's name, so a
        renamed config's jobs are still these, judged current or stale by identity. Returns them."""
        adopted = []
        for folder in self.jobs():
            result = folder.result_or_none()
            if result is not None and result["tournament"] != tournament:
                folder.write_result({**result, "tournament": tournament})
                adopted.append(f"{folder.player} {folder.label} (tournament {result['tournament']!r})")
        return adopted

    def stale_reason(self, result: dict) -> str | None:
        """Why a result is not its job's under this run's tournament.json (stale: the config changed, or written
        for another tournament), or None: it is current (or tournament.json cannot tell)."""
        try:
            meta = self.tournament()
        except RunFolderError:
            return None
        held = meta["config"]["tournament"].get("name")
        if held is not None and result["tournament"] != held:
            return f"written for tournament {result['tournament']!r}, not this folder's {held!r}"
        jobs = meta.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            return None  # an older tournament.json that lists no jobs
        planned = next(
            (
                j
                for j in jobs
                if isinstance(j, dict)
                and j.get("player") == result["player"]["name"]
                and (j.get("seed"), j.get("data_seed")) == (result["seed"], result["data_seed"])
            ),
            None,
        )
        if planned is None:
            return "not a job of this run's config (tournament.json)"
        if planned.get("job_hash") != result["job_hash"]:
            return "; ".join(differences(result["job"], planned.get("job") or {})[:3]) or "a different job"
        return None

    def write_tournament(self, document: dict) -> None:
        write_json(self.path / self.TOURNAMENT, {"schema": TOURNAMENT_SCHEMA, **document})

    def tournament(self) -> dict:
        """The run's tournament.json; a folder without a valid one is not a run."""
        path = self.path / self.TOURNAMENT
        if not self.path.is_dir():
            raise RunFolderError(f"{self.path}: no such run folder")
        if not path.is_file():
            raise RunFolderError(f"{self.path}: not a tuneoff run folder (no {self.TOURNAMENT}); nothing was written")
        try:
            meta = read_json(path)
        except FileError as err:
            raise RunFolderError(
                f"{err}; `tuneoff run` with this run's config rewrites it".replace(
                    "not valid JSON", "damaged, not valid JSON"
                )
            ) from None
        config = meta.get("config") if isinstance(meta, dict) else None
        players = config.get("players") if isinstance(config, dict) else None
        if not (
            isinstance(meta, dict)
            and isinstance(config, dict)
            and isinstance(players, list)
            and all(isinstance(p, dict) and "name" in p for p in players)
            and isinstance(config.get("tournament"), dict)
        ):
            raise RunFolderError(f"{path}: not a tuneoff tournament file (no config with tournament and players)")
        return meta

    # --- files tuneoff generated (report, leaderboard) -------------------------------------------

    def generated(self) -> set[str]:
        """Paths (relative, POSIX) that report and leaderboard wrote into this run folder."""
        try:
            data = read_json(self.path / self.MANIFEST)
        except FileError:
            return set()
        return {p for p in (data.get("generated", []) if isinstance(data, dict) else []) if isinstance(p, str)}

    def record_generated(self, paths: list[Path], forget: Sequence[Path] = ()) -> None:
        names = self.generated() | {p.relative_to(self.path).as_posix() for p in paths}
        names -= {p.relative_to(self.path).as_posix() for p in forget}
        write_json(self.path / self.MANIFEST, {"schema": "tuneoff.manifest/1", "generated": sorted(names)})

    def only_lock_inside(self) -> bool:
        """True when the folder holds nothing but (empty folders and) the lock and its holder record: what a
        run refused, stopped or killed before it wrote tournament.json leaves."""
        return all(
            (p.is_dir() and not p.is_symlink()) or p.name in (self.LOCK, self.HOLDER) for p in self.path.rglob("*")
        )

    # --- who is writing here ----------------------------------------------------------------------

    def lock(self) -> RunLock:
        return RunLock(self)


def as_run(folder: RunFolder | str | Path) -> RunFolder:
    """A RunFolder from one, or from a path (the library's entry points take either)."""
    return folder if isinstance(folder, RunFolder) else RunFolder(Path(folder))


class RunLock:
    """Exclusive use of a run folder; refused at once (RunFolderError) if someone else holds it."""

    def __init__(self, run: RunFolder):
        self.run = run
        self.took_over: dict | None = None  # the holder record of a process that died holding it

    def __enter__(self) -> RunLock:
        from filelock import FileLock, Timeout

        folder = self.run.path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(folder / RunFolder.LOCK), timeout=0)
            self._lock.acquire()
        except Timeout:
            raise RunFolderError(
                f"{folder}: in use by {describe(self._holder())}; wait for it to finish, or use another --out"
            ) from None
        except OSError as err:
            raise RunFolderError(f"{folder}: cannot be written ({err.strerror or err})") from None
        self.took_over = self._holder()  # a record left behind: its process ended without letting go
        try:
            write_json(folder / RunFolder.HOLDER, {**process_record(), "since": now()})
        except OSError as err:
            self._lock.release()
            raise RunFolderError(f"{folder}: cannot be written ({err.strerror or err})") from None
        return self

    def _holder(self) -> dict | None:
        try:
            holder = read_json(self.run.path / RunFolder.HOLDER)
            return holder if isinstance(holder, dict) else None
        except FileError:
            return None

    def __exit__(self, *exc) -> None:
        (self.run.path / RunFolder.HOLDER).unlink(missing_ok=True)
        self._lock.release()
