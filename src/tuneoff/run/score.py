"""Score a finished run's kept checkpoints on an extra test set, after the fact, into the run.

``tuneoff score RUN --dataset NAME`` (a registered data set or a Hub data set id; or ``--config FILE``, whose
``[data]`` table names any data set: CSV, JSONL, Hub) does for every completed job what a configured ``[[eval]]``
entry does at the end of training (:func:`tuneoff.training.evaluate.score_extra`, with the job's
recorded max_seq_len, eval batch size, padding and precision) and writes the score into the
job's result.json, under ``extra_eval.<NAME>`` (``--name``, else the set's own name), where the report and the
leaderboard read configured ones. Scoring again replaces the entry. The job's identity (its hash) is untouched:
the score describes the kept weights, which do not change, so no result turns stale.

The player's labels map onto the data set's by name when both have the same names; SST-5's five
onto SST-2's two as the shipped configs do (0-1 negative, 3-4 positive, neutral counted wrong);
anything else needs ``--label-map``.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console

from tuneoff.console import esc
from tuneoff.data import SST_LABELS
from tuneoff.options import NAME_PATTERN
from tuneoff.plan.config import Protocol
from tuneoff.run.progress import make_progress
from tuneoff.store.liveness import now
from tuneoff.store.runfolder import JobFolder, RunFolder, RunFolderError, seed_label
from tuneoff.store.status import Status

SST5_TO_SST2 = {
    "very negative": "negative",
    "negative": "negative",
    "positive": "positive",
    "very positive": "positive",
}
SCORING = ("max_seq_len", "eval_batch_size", "static_shapes", "precision")  # what scoring reads of a protocol


def parse_label_map(text: str) -> dict[str, str]:
    """'very negative=negative,negative=negative' -> {'very negative': 'negative', 'negative': 'negative'}."""
    table: dict[str, str] = {}
    for item in (i for i in text.split(",") if i.strip()):
        player, sep, target = item.partition("=")
        if not sep or not player.strip() or not target.strip():
            raise ValueError(f"--label-map {text!r}: {item.strip()!r} is not PLAYER_LABEL=DATASET_LABEL")
        if table.get(player.strip(), target.strip()) != target.strip():
            raise ValueError(
                f"--label-map {text!r}: {player.strip()!r} goes to both {table[player.strip()]!r} and "
                f"{target.strip()!r}; a label goes to one class"
            )
        table[player.strip()] = target.strip()
    if not table:
        raise ValueError(f"--label-map {text!r}: no PLAYER_LABEL=DATASET_LABEL pair")
    return table


def label_table(labels: tuple[str, ...], target, given: dict[str, str] | None) -> dict[str, str]:
    """The player's label -> the data set's: given, SST-5 onto SST-2, or by name when the names are the same."""
    if given:
        return given
    if tuple(labels) == tuple(SST_LABELS) and target.name == "sst2":
        return SST5_TO_SST2
    if set(labels) == set(target.labels):
        return {n: n for n in labels}
    example = ",".join(f"{n}={target.labels[0]}" for n in labels[:2])
    raise ValueError(
        f"the run's labels {list(labels)} are not {target.name}'s {list(target.labels)}: say where each "
        f'goes with --label-map, e.g. --label-map "{example},..." (a label left out counts as wrong)'
    )


def _completed(run: RunFolder, console: Console) -> list[tuple[JobFolder, dict]]:
    problems: dict[str, str] = {}
    done = [
        (run.job(r["player"]["name"], seed_label(r["seed"], r["data_seed"])), r)
        for r in run.results(problems)
        if r["status"] == Status.COMPLETED
    ]
    for where, why in problems.items():
        console.print(f"[red]{esc(where)}: not scored: {esc(why)}[/]")
    if not done:
        raise RunFolderError(f"{run.path}: no completed job to score")
    return done


def entry_name(spec) -> str:
    """The name a score is written under when none is given: a registered set's own (sst2), a Hub id's last part,
    a test file's stem."""
    if spec.name == "hf":
        raw = Path(spec.id).name
    elif spec.name in ("csv", "jsonl"):
        raw = Path(spec.test).stem
    else:
        return spec.name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-._")
    return name if name and re.match(NAME_PATTERN, name) else spec.name


def score_run(
    run: RunFolder, spec, data_dir: str | None, label_map: str | None, console: Console, name: str | None = None
) -> list[dict]:
    """Score every completed job's kept checkpoint on ``spec``'s test split and write it into its result, under
    ``name`` (default :func:`entry_name`), with the data set's options (so that an exported card can name it).

    ``spec``: a data set's options (its files' checksums are not required: the scored split's fingerprint is
    recorded with the score). Returns one row per job: player, seed, the scores, or the error that kept it
    unscored."""
    from tuneoff.training.evaluate import Extra, label_mapping
    from tuneoff.training.system import pick_device

    run.tournament()  # a folder that is not a run is refused before anything is loaded
    given = parse_label_map(label_map) if label_map else None
    if "verify" in type(spec).model_fields:
        spec = spec.model_copy(update={"verify": False})
    name = name or entry_name(spec)
    if not re.match(NAME_PATTERN, name):
        raise ValueError(f"--name {name!r}: letters, digits, '_', '.', '-' (a name of the run's extra test sets)")
    target = spec.load(data_dir)
    if target.checksums_ok is False:
        console.print(
            f"[yellow]{esc(target.name)}: not the published files; the score records the test split's "
            f"fingerprint {target.test.sha256[:16]}…[/]"
        )
    device, rows = pick_device("auto"), []
    with run.lock(), make_progress(console) as progress:
        jobs = _completed(run, console)
        mappings = {}
        for labels in {tuple(r["labels"]) for _, r in jobs}:
            table = label_table(labels, target, given)
            mappings[labels] = (table, label_mapping(labels, target, table, "--label-map"))
        overall = progress.add_task(f"{name}: scoring jobs", total=len(jobs))
        for job, result in jobs:
            table, mapping = mappings[tuple(result["labels"])]
            rows.append(_score_job(job, result, Extra(name, target, mapping), table, spec, device, progress, console))
            progress.advance(overall)
    return rows


def _score_job(job: JobFolder, result: dict, extra, table: dict, spec, device, progress, console: Console) -> dict:
    """Score one job's kept weights on ``extra`` and write it into its result; its row (or why it was not)."""
    name = extra.name
    row = {"player": job.player, "job": job.label, "seed": result["seed"], "name": name}
    if missing := job.checkpoint_missing(result):
        row["error"] = f"its checkpoint lacks {missing}"
        console.print(f"[red]{esc(job.player)} {esc(job.label)}: not scored, {esc(row['error'])}[/]")
        return row
    entry = _score(job, result, extra, device, progress)
    result.setdefault("extra_eval", {})[name] = {
        **entry,
        "label_map": table,
        "spec": spec.model_dump(mode="json"),
        "scored_by": "tuneoff score",
        "scored_at": now(),
    }
    job.write_result(result)
    row.update(
        {k: entry[k] for k in ("dataset", "examples", "accuracy", "macro_f1", "unmapped_predictions")}, error=None
    )
    console.print(
        f"{esc(job.player)} {esc(job.label)}: {esc(name)} test accuracy "
        f"{entry['accuracy']:.2%} ({entry['unmapped_predictions']} predictions of unmapped "
        "labels counted wrong)"
    )
    return row


def _score(job: JobFolder, result: dict, extra, device, progress) -> dict:
    """The configured [[eval]] scoring of one job's kept weights, with its recorded protocol."""
    from tuneoff.strategies import load_checkpoint
    from tuneoff.training.evaluate import score_extra

    recorded = {k: result["protocol"][k] for k in SCORING if k in result["protocol"]}
    protocol = Protocol(**recorded, device=device.type).on(device.type)
    tokenizer, model = load_checkpoint(job.checkpoint_of(result))
    return score_extra(model.to(device), tokenizer, extra, protocol, device, progress)
