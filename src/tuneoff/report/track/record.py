"""One job's result as a tracker sees it: names, params, series, final metrics, tags and a figure.

Built from the run folder's files alone (results and the board computed from them), the same for
every tracker, so each tracker file only says how to write it. Every series is indexed by the
optimizer step, as Hugging Face's Trainer logs it: the training loss, learning rate and gradient
norm where they were recorded, each epoch's metrics at the step that ended the epoch.

A tracker run stands for one *attempt* of a job in one run folder (``attempt``: the job's hash and
when it started): exporting again updates that run, and a retrain (a new attempt) replaces it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tuneoff.report.figures import confusion
from tuneoff.store.runfolder import RunFolder, seed_label
from tuneoff.store.status import Status
from tuneoff.verdict.board import read_run
from tuneoff.verdict.rules import collapse_reason

SKIPPED_EPOCH_KEYS = {"epoch", "step", "learning_rates_end"}  # the axes, and a list
STEP_STATS = {"learning_rate": "train/learning_rate", "grad_norm": "train/grad_norm"}  # history.step_stats -> metric


@dataclass(frozen=True)
class JobLog:
    key: str  # the job's identity (its job_hash)
    tournament: str
    player: str
    label: str  # seed-42, or seed-42-data-3
    params: dict[str, object]  # flat and typed: str, int, float, bool or None (lists as JSON text)
    tags: dict[str, str]
    steps: dict[str, list[tuple[int, float]]]  # metric -> [(optimizer step, value)]: loss, learning rate, grad norm
    epochs: dict[str, list[tuple[int, float]]]  # metric -> [(optimizer step at the epoch's end, value)]
    final: dict[str, float]  # test metrics, and the player's leaderboard row (mean and 95 % CI over seeds)
    figures: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG
    started: float | None = None  # seconds since the epoch: when the job started and ended
    finished: float | None = None
    confusion: list[list[int]] | None = None  # the test confusion matrix, rows = true labels
    labels: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.player}/{self.label}"

    @property
    def attempt(self) -> str:
        """This attempt of the job: one tracker run each; a retrain is a new one."""
        return self.tags["tuneoff.attempt"]

    @property
    def status(self) -> str:
        return self.tags["status"]


@dataclass(frozen=True)
class TournamentLog:
    """The tournament as a whole (MLflow's parent run): its name, run folder and generated files."""

    name: str
    run_folder: str
    folder_id: str
    started: float | None
    finished: float | None
    files: tuple[Path, ...]  # leaderboard.json, leaderboard.csv, report.html: those that exist
    final: bool  # every job was exported with the board (not one job as it ended)
    tags: dict[str, str] = field(default_factory=dict)


def folder_id(run: RunFolder) -> str:
    """A short, stable id of a run folder (its resolved path): trackers tell run folders apart by it."""
    return hashlib.sha256(str(run.path.resolve()).encode()).hexdigest()[:16]


def seconds(stamp: str | None) -> float | None:
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


def flat(prefix: str, value) -> dict[str, object]:
    """Nested options as dotted keys, typed; lists as JSON text (trackers take flat scalar params)."""
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in flat(f"{prefix}.{key}", sub).items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return {prefix: value}
    return {prefix: json.dumps(value)}


def params(result: dict) -> dict[str, object]:
    player, data = result["player"], result.get("data") or {}
    out = {
        **flat("model", player["model"]),
        **flat("strategy", player["strategy"]),
        **flat("protocol", result["protocol"]),
        "seed": result["seed"],
        "data_seed": result["data_seed"],
    }
    out.update(flat("data.options", result["job"].get("data", {})))
    if data:
        out["data.name"] = data.get("name") or data["source"]  # the data set's name, not where it was read from
        out.update(flat("data.sha256", data["sha256"]))
        out.update(flat("data.size", data.get("sizes", {})))
    return out


def _final(result: dict, row: dict | None) -> dict[str, float]:
    out = {}
    if test := result.get("test"):
        out.update({f"test/{k}": float(test[k]) for k in ("accuracy", "macro_f1", "loss")})
    for name, extra in (result.get("extra_eval") or {}).items():
        out.update({f"extra/{name}/{k}": float(extra[k]) for k in ("accuracy", "macro_f1")})
    if row is not None:  # the player's, over its seeds, as leaderboard.json has it
        lo, hi = row["test_accuracy_ci95"]
        out.update(
            {
                "player/test_accuracy_mean": row["test_accuracy"],
                "player/test_accuracy_ci95_low": lo,
                "player/test_accuracy_ci95_high": hi,
            }
        )
        if row["rank"] is not None:  # a collapsed player is not ranked
            out["player/rank"] = float(row["rank"])
    return out


def steps_per_epoch(result: dict) -> int | None:
    """Optimizer steps in one epoch, from the training sample's size and the batch size (None: not known)."""
    size = ((result.get("data") or {}).get("sizes") or {}).get("train")
    batch = (result.get("protocol") or {}).get("batch_size")
    return math.ceil(size / batch) if size and batch else None


def epoch_step(result: dict, record: dict) -> int:
    """The optimizer step that ended this epoch: recorded with it, else epochs × steps per epoch."""
    if "step" in record:
        return int(record["step"])
    per_epoch = steps_per_epoch(result)
    return record["epoch"] * per_epoch if per_epoch else record["epoch"]


def _epochs(result: dict) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for record in (result.get("history") or {}).get("epochs", []):
        step = epoch_step(result, record)
        out.setdefault("epoch", []).append((step, float(record["epoch"])))
        for key, value in record.items():
            if key not in SKIPPED_EPOCH_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(f"epoch/{key}", []).append((step, float(value)))
    return out


def _steps(result: dict) -> dict[str, list[tuple[int, float]]]:
    history = result.get("history") or {}
    out = {"train/loss": [(int(s), float(v)) for s, v in history.get("steps", [])]}
    for key, metric in STEP_STATS.items():
        out[metric] = [(int(s), float(v)) for s, v in (history.get("step_stats") or {}).get(key, [])]
    return {k: v for k, v in out.items() if v}


def job_log(result: dict, row: dict | None = None, stale: bool = False, run: RunFolder | None = None) -> JobLog:
    """One result (any status, a running one too: live logging starts from it) as a tracker sees it."""
    label = seed_label(result["seed"], result["data_seed"])
    collapsed = result["status"] == Status.COMPLETED and collapse_reason(result) is not None
    tags = {
        "tuneoff.job": result["job_hash"],
        "tuneoff.tournament": result["tournament"],
        "tuneoff.player": result["player"]["name"],
        "tuneoff.seed": label,
        "status": result["status"],
        "collapsed": str(collapsed).lower(),
        "stale": str(stale).lower(),
        "tuneoff.attempt": f"{result['job_hash']}@{result.get('started_at')}",
    }
    if run is not None:
        tags.update({"tuneoff.run_folder": str(run.path), "tuneoff.run_folder_id": folder_id(run)})
    if result.get("error"):
        tags["error"] = result["error"][:500]
    test = result.get("test")
    figures = {"confusion.png": confusion(result, "job").png} if test else {}
    return JobLog(
        result["job_hash"],
        result["tournament"],
        result["player"]["name"],
        label,
        params(result),
        tags,
        _steps(result),
        _epochs(result),
        _final(result, row),
        figures,
        seconds(result.get("started_at")),
        seconds(result.get("finished_at")),
        test["confusion_matrix"] if test else None,
        tuple(result.get("labels", ())),
    )


def job_logs(run_dir: RunFolder, only: tuple[str, str] | None = None) -> tuple[list[JobLog], TournamentLog]:
    """Every final job of the run's config with a result (stale ones tagged so), or just ``only`` (player, label);
    and the tournament they belong to."""
    run = read_run(run_dir)
    rows = {r["player"]: r for r in run.board["ranked"]}
    current = [(r, False) for name in run.names for r in run.jobs.get(name, [])]
    stale = [(run.folder.job(s["player"], seed_label(s["seed"], s["data_seed"])).result(), True) for s in run.stale]
    jobs = [
        job_log(r, rows.get(r["player"]["name"]), is_stale, run.folder)
        for r, is_stale in current + stale
        if only is None or only == (r["player"]["name"], seed_label(r["seed"], r["data_seed"]))
    ]
    return jobs, tournament_log(run, [r for r, _ in current], only is None)


def tournament_log(run, results: list[dict], final: bool) -> TournamentLog:
    folder = run.folder
    ended = [s for r in results if (s := seconds(r.get("finished_at"))) is not None]
    board = run.board
    files = tuple(p for p in (*folder.board_paths(), folder.report_paths()[0]) if p.is_file())
    tags = {
        "tuneoff.kind": "tournament",
        "tuneoff.tournament": run.tournament.get("name", ""),
        "tuneoff.run_folder": str(folder.path),
        "tuneoff.run_folder_id": folder_id(folder),
        "may_be_best": ", ".join(board["may_be_best"]) or "none",
    }
    return TournamentLog(
        run.tournament.get("name") or folder.path.name,
        str(folder.path),
        folder_id(folder),
        seconds(run.meta.get("written_at")),
        max(ended) if ended else None,
        files,
        final,
        tags,
    )


def tournament_of(job: JobLog) -> TournamentLog:
    """The tournament a job belongs to, known from the job alone (a live log's parent run)."""
    folder = job.tags.get("tuneoff.run_folder", "")
    tags = {
        "tuneoff.kind": "tournament",
        "tuneoff.tournament": job.tournament,
        "tuneoff.run_folder": folder,
        "tuneoff.run_folder_id": job.tags.get("tuneoff.run_folder_id", ""),
    }
    return TournamentLog(job.tournament, folder, tags["tuneoff.run_folder_id"], job.started, None, (), False, tags)


def live_metrics(record: dict) -> dict[str, float]:
    """The training loop's live record ({"step", "loss", "learning_rate", "grad_norm"}, or an epoch's record with
    "epoch") named as the export names it, so a tracker holds one series whether it was logged live or exported."""
    if "epoch" in record:
        return {
            "epoch": float(record["epoch"]),
            **{
                f"epoch/{k}": float(v)
                for k, v in record.items()
                if k not in SKIPPED_EPOCH_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
            },
        }
    names = {"loss": "train/loss", **STEP_STATS}
    return {names[k]: float(v) for k, v in record.items() if k in names and v is not None}
