"""One job's result as a tracker sees it: names, params, series, final metrics, tags and a figure.

Built from the run folder's files alone (results and the board computed from them), the same for
every tracker, so each tracker file only says how to write it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tuneoff.report.figures import confusion
from tuneoff.store.runfolder import RunFolder, seed_label
from tuneoff.store.status import Status
from tuneoff.verdict.board import read_run
from tuneoff.verdict.rules import collapse_reason

SKIPPED_EPOCH_KEYS = {"epoch"}  # the x axis, not a metric


@dataclass(frozen=True)
class JobLog:
    key: str  # the job's identity (its job_hash): one tracker run per key, replaced on export
    tournament: str
    player: str
    label: str  # seed-42, or seed-42-data-3
    params: dict[str, str]
    tags: dict[str, str]
    steps: dict[str, list[tuple[int, float]]]  # metric -> [(step, value)]: the training loss
    epochs: dict[str, list[tuple[int, float]]]  # metric -> [(epoch, value)]: dev metrics and the epoch's means
    final: dict[str, float]  # test metrics, and the player's leaderboard row (mean and 95 % CI over seeds)
    figures: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG

    @property
    def name(self) -> str:
        return f"{self.player}/{self.label}"


def flat(prefix: str, value) -> dict[str, str]:
    """Nested options as dotted keys; lists as JSON (trackers take flat string params)."""
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in flat(f"{prefix}.{key}", sub).items()}
    return {prefix: value if isinstance(value, str) else json.dumps(value)}


def params(result: dict) -> dict[str, str]:
    player, data = result["player"], result.get("data") or {}
    out = {**flat("model", player["model"]), **flat("strategy", player["strategy"]),
           **flat("protocol", result["protocol"]), "seed": str(result["seed"]),
           "data_seed": json.dumps(result["data_seed"])}
    out.update(flat("data.options", result["job"].get("data", {})))
    if data:
        out["data.name"] = data["source"]
        out.update(flat("data.sha256", data["sha256"]))
    return out


def _final(result: dict, row: dict | None) -> dict[str, float]:
    out = {}
    if test := result.get("test"):
        out.update({f"test/{k}": float(test[k]) for k in ("accuracy", "macro_f1", "loss")})
    for name, extra in (result.get("extra_eval") or {}).items():
        out.update({f"extra/{name}/{k}": float(extra[k]) for k in ("accuracy", "macro_f1")})
    if row is not None:  # the player's, over its seeds, as leaderboard.json has it
        lo, hi = row["test_accuracy_ci95"]
        out.update({"player/test_accuracy_mean": row["test_accuracy"], "player/test_accuracy_ci95_low": lo,
                    "player/test_accuracy_ci95_high": hi})
        if row["rank"] is not None:  # a collapsed player is not ranked
            out["player/rank"] = float(row["rank"])
    return out


def _epochs(result: dict) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for record in (result.get("history") or {}).get("epochs", []):
        for key, value in record.items():
            if key not in SKIPPED_EPOCH_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(f"epoch/{key}", []).append((record["epoch"], float(value)))
    return out


def job_log(result: dict, row: dict | None = None, stale: bool = False) -> JobLog:
    label = seed_label(result["seed"], result["data_seed"])
    collapsed = result["status"] == Status.COMPLETED and collapse_reason(result) is not None
    tags = {"tuneoff.job": result["job_hash"], "tuneoff.tournament": result["tournament"],
            "tuneoff.player": result["player"]["name"], "tuneoff.seed": label, "status": result["status"],
            "collapsed": str(collapsed).lower(), "stale": str(stale).lower()}
    if result.get("error"):
        tags["error"] = result["error"][:500]
    steps = [(int(s), float(v)) for s, v in (result.get("history") or {}).get("steps", [])]
    figures = {"confusion.png": confusion(result, "job").png} if result.get("test") else {}
    return JobLog(result["job_hash"], result["tournament"], result["player"]["name"], label, params(result), tags,
                  {"train/loss": steps} if steps else {}, _epochs(result), _final(result, row), figures)


def job_logs(run_dir: RunFolder, only: tuple[str, str] | None = None) -> list[JobLog]:
    """Every final job of the run's config with a result (stale ones tagged so), or just ``only`` (player, label)."""
    run = read_run(run_dir)
    rows = {r["player"]: r for r in run.board["ranked"]}
    current = [(r, False) for name in run.names for r in run.jobs.get(name, [])]
    stale = [(run.folder.job(s["player"], seed_label(s["seed"], s["data_seed"])).result(), True) for s in run.stale]
    return [job_log(r, rows.get(r["player"]["name"]), is_stale) for r, is_stale in current + stale
            if only is None or only == (r["player"]["name"], seed_label(r["seed"], r["data_seed"]))]
