"""Command line: tuneoff run | data | leaderboard | report | track | predict | export | compare | score | list."""

from __future__ import annotations

import argparse
import math
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console

from tuneoff.console import error, esc, make_console


def cmd_run(args, console: Console) -> int:
    from tuneoff.plan.loading import load_config
    from tuneoff.run import tournament
    from tuneoff.run.live import chosen_trackers
    from tuneoff.store.runfolder import RunFolder

    executor = make_executor(args, console)  # refuses executor flags that do not apply before anything else
    config = load_config(args.config, args.set, tuning=not args.no_tuning)
    track = chosen_trackers(args.track, config, str(args.config))  # not installed, or not answering: refused here
    executor.start()  # Ray joins (or refuses) before the run folder is touched
    out = RunFolder.for_tournament(args.out, config.tournament.name)
    console.print(f"tournament [bold]{esc(config.tournament.name)}[/]: {len(config.players)} players -> {esc(out)}")
    board = tournament.run(
        config,
        out,
        args.data_dir,
        tuple(args.only),
        console,
        str(args.config),
        report=not args.no_report,
        executor=executor,
        force=args.force,
        track=track,
    )
    return 0 if not board["unranked"] and not board.get("failed_this_run") else 1


RAY_FLAGS = {"ray_address": "local", "cpus_per_job": 1.0, "gpus_per_job": 0.0, "ray_runtime_env": None}  # and defaults
SHARED_FLAGS = {"max_retries": 2}  # both executors: retries of a job whose worker died


def _ray_options(args) -> dict:
    """The Ray flags (and the shared ones) with their defaults; Ray's given without --executor ray, or any out
    of range, are refused."""
    given = [f"--{k.replace('_', '-')}" for k in RAY_FLAGS if getattr(args, k) is not None]
    if given and args.executor != "ray":
        raise ValueError(f"{', '.join(given)}: only for --executor ray (the executor is {args.executor})")
    flags = {**RAY_FLAGS, **SHARED_FLAGS}
    options: dict[str, Any] = {
        k: default if getattr(args, k) is None else getattr(args, k) for k, default in flags.items()
    }
    for key, zero_ok in (("cpus_per_job", False), ("gpus_per_job", True), ("max_retries", True)):
        value = options[key]
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            raise ValueError(
                f"--{key.replace('_', '-')} {value}: expected a finite number {'>=' if zero_ok else '>'} 0"
            )
    return options


def make_executor(args, console: Console):
    ray = _ray_options(args)
    if args.executor == "ray":
        from tuneoff.run.ray_executor import RayExecutor

        return RayExecutor(
            ray["ray_address"],
            ray["cpus_per_job"],
            ray["gpus_per_job"],
            ray["max_retries"],
            console,
            runtime_env=ray["ray_runtime_env"],
        )
    from tuneoff.run.executors import LocalExecutor

    return LocalExecutor(args.jobs, console, ray["max_retries"])


def cmd_data(args, console: Console) -> int:
    from tuneoff.plan.loading import load_config

    spec = load_config(args.config).data if args.config else _named_dataset(args.dataset)
    if "verify" in type(spec).model_fields:  # report on other files rather than refuse them
        spec = spec.model_copy(update={"verify": False})
    dataset = spec.load(args.data_dir)
    if args.json:
        from tuneoff.cli_io import dataset_document, emit_json

        emit_json(dataset_document(dataset))
        return 0 if dataset.checksums_ok is not False else 1
    console.print(
        f"{esc(dataset.name)} from {esc(dataset.root)} ({esc(dataset.source)}); labels: "
        f"{esc(', '.join(dataset.labels))}"
    )
    for split in dataset.splits():
        counts = split.class_counts(len(dataset.labels))
        dist = ", ".join(f"{esc(dataset.labels[i])} {c} ({c / len(split):.1%})" for i, c in enumerate(counts))
        sums = f"; file sha256 {dataset.files[split.name][:16]}…" if split.name in dataset.files else ""
        console.print(
            f"{split.name:>5}: {len(split):>6} examples; content fingerprint {split.sha256[:16]}…{sums}\n       {dist}"
        )
    if dataset.checksums_ok is not None:
        console.print(
            "checksums: "
            + ("[green]the published files[/]" if dataset.checksums_ok else "[red]NOT the published files[/]")
        )
    return 0 if dataset.checksums_ok is not False else 1


def _named_dataset(name: str, hub_ids: bool = False):
    """``tuneoff data --dataset NAME``: a data set that needs no options; one line names those it lacks.
    ``hub_ids``: a name that is not registered but looks like a Hub data set id (owner/name) is that Hub set."""
    from pydantic import ValidationError

    from tuneoff.data import DATASETS
    from tuneoff.plan.config import ConfigError, _dataset

    if hub_ids and "/" in name and name not in DATASETS.load_plugins():
        return _dataset({"name": "hf", "id": name})
    try:
        return _dataset({"name": name})
    except ValidationError as err:
        missing = [".".join(map(str, e["loc"])) for e in err.errors() if e["type"] == "missing"]
        why = f"needs the options {', '.join(missing)}" if missing else err.errors()[0]["msg"]
        raise ConfigError(
            f"--dataset {name}: {why}; write them in a config's [data] table and use tuneoff data --config FILE"
        ) from None


def _readable_run(args):
    """The run folder report and leaderboard write into: a run (tournament.json), holding one tournament's results."""
    from tuneoff.store.runfolder import RunFolder, RunFolderError

    folder = RunFolder(Path(args.run_dir).resolve())
    meta = folder.tournament()  # not a run: refused before anything is written
    if not args.force and (foreign := folder.foreign(folder.results({}))):
        name = meta["config"]["tournament"].get("name")
        raise RunFolderError(
            f"{folder}: holds results of another tournament than {name!r} (its tournament.json): "
            f"{', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}; --force writes the board "
            f"of {name!r} without them"
        )
    return folder


def cmd_leaderboard(args, console: Console) -> int:
    from tuneoff.verdict import board

    folder = _readable_run(args)
    with folder.lock():
        run = board.publish(folder, console)
    if args.json:
        from tuneoff.cli_io import emit_json

        emit_json(run.board)
    return 1 if run.problems else 0


def cmd_report(args, console: Console) -> int:
    from tuneoff.report.build import build_report

    folder = _readable_run(args)
    with folder.lock():
        paths = build_report(folder)
    console.print(f"report: {esc(paths['html'])}  {esc(paths['md'])}")
    return 0


def _trackers(names: list[str], uri: str | None = None) -> tuple:
    from tuneoff.report.track import trackers

    return trackers(names, uri)


def cmd_track(args, console: Console) -> int:
    from tuneoff.report.track import export
    from tuneoff.report.track.base import local_path
    from tuneoff.store.guard import check_output

    to = _trackers(args.to, args.uri)
    folder = _readable_run(args)
    if (where := local_path(args.uri)) is not None:
        check_output(where, "--uri")
    with folder.lock():
        for tracker in to:
            console.print(f"{tracker.name}: {export(folder, (tracker,))} jobs exported")
    return 0


def cmd_predict(args, console: Console) -> int:
    from tuneoff.cli_io import emit_json, predictions_document, read_texts
    from tuneoff.run.predict import ECHO_CHARS, predict
    from tuneoff.store.runfolder import RunFolder

    _warn_if_stale(RunFolder(Path(args.run_dir)), args.player, args.seed, console)
    predictions = predict(RunFolder(Path(args.run_dir)), args.player, read_texts(args.texts, args.file), args.seed)
    if predictions:
        console.print(
            f"player {esc(args.player)}, seed {predictions[0].seed}"
            + ("" if args.seed is not None else " (its seed with the best dev accuracy)")
        )
    if predictions and predictions[0].collapse:
        console.print(f"[yellow]warning: {esc(predictions[0].collapse)}[/]")
    if args.json:
        emit_json(predictions_document(predictions))
        return 0
    for p in predictions:
        best = max(p.probabilities.items(), key=lambda item: item[1])[0]
        shown = "  ".join(f"{label} {q:.2f}" for label, q in p.probabilities.items())
        echo = p.text if len(p.text) <= ECHO_CHARS else p.text[: ECHO_CHARS - 1] + "…"
        console.print(f"[bold]{esc(best)}[/]  <- {esc(repr(echo))}\n    {esc(shown)}")
        for note in p.notes:
            console.print(f"    [yellow]{esc(note)}[/]")
    return 0


def cmd_compare(args, console: Console) -> int:
    from tuneoff.verdict import compare

    if args.json and args.json != "-":
        from tuneoff.store.guard import check_output

        check_output(args.json, "--json")  # refused before anything is read
    document = compare.compare(compare.Side.parse(args.run_a), compare.Side.parse(args.run_b))
    console.print(compare.table(document))
    for note in compare.notes(document):
        console.print(esc(note))
    if args.json:
        from tuneoff.cli_io import emit_json

        emit_json(document, args.json)
        if args.json != "-":
            console.print(f"written: {esc(args.json)}")
    return 0


def cmd_score(args, console: Console) -> int:
    from tuneoff.run.score import score_run
    from tuneoff.store.runfolder import RunFolder

    if (args.dataset is None) == (args.config is None):
        raise ValueError(
            "score: name the test set with --dataset NAME_OR_HUB_ID or --config FILE (its [data] table), one of them"
        )
    if args.config:
        from tuneoff.plan.loading import load_config

        spec = load_config(args.config).data
    else:
        spec = _named_dataset(args.dataset, hub_ids=True)
    run = RunFolder(Path(args.run_dir).resolve())
    rows = score_run(run, spec, args.data_dir, args.label_map, console, args.name)
    if args.json:
        from tuneoff.cli_io import emit_json

        emit_json(rows)
    console.print(
        f"written into the run's results as extra_eval.{esc(rows[0]['name'])}; `tuneoff report "
        f"{esc(args.run_dir)}` shows it"
    )
    return 1 if any(r["error"] for r in rows) else 0


def cmd_list(args, console: Console) -> int:
    from tuneoff.plan.catalogue import KINDS, table

    if args.json:
        from dataclasses import asdict

        from tuneoff.cli_io import emit_json

        emit_json([asdict(entry) for entry in KINDS[args.what]()])
        return 0
    console.print(table(args.what))
    return 0


def cmd_completion(args, console: Console) -> int:
    from tuneoff.cli_io import completion_script

    sys.stdout.write(completion_script(parser(), args.shell))
    return 0


def cmd_export(args, console: Console) -> int:
    from tuneoff.run.export import export
    from tuneoff.store.runfolder import RunFolder

    if args.push_to_hub:
        from tuneoff.run.hub_push import check_repo_id

        check_repo_id(args.push_to_hub)  # refused before anything is written
    elif args.private:
        raise ValueError("--private: only with --push-to-hub REPO_ID")
    _warn_if_stale(RunFolder(Path(args.run_dir)), args.player, args.seed, console)
    done = export(
        RunFolder(Path(args.run_dir)),
        args.player,
        args.to,
        args.seed,
        not args.no_merge,
        args.force,
        allow_collapsed=args.allow_collapsed,
        license=args.license,
        repo_id=args.push_to_hub,
    )
    what = "an adapter folder" if done.adapter else "a transformers model"
    console.print(
        f"player {esc(done.player)}, seed {done.seed}"
        + ("" if args.seed is not None else " (its seed with the best dev accuracy)")
        + f": {what} in {esc(done.path)} (model card: README.md)"
    )
    if done.collapse:
        console.print(f"[yellow]warning: {esc(done.collapse)}[/]")
    if done.license == "unknown":
        console.print(
            "[yellow]license: unknown (the base model's is not known to tuneoff); --license ID names it in the card[/]"
        )
    return _push(args, done.path, console) if args.push_to_hub else 0


def _push(args, folder: Path, console: Console) -> int:
    from tuneoff.run.hub_push import PushError, push

    try:
        url = push(folder, args.push_to_hub, args.private, f"tuneoff export of player {args.player}")
    except PushError as err:
        error(console, err)
        return 1
    console.print(f"pushed to the Hub: {esc(url)}")
    return 0


def _warn_if_stale(run, player: str, seed: int | None, console: Console) -> None:
    """predict and export answer with a stale checkpoint too (it is the one there), but say so first."""
    from tuneoff.run.predict import checkpoint_of

    folder, result = checkpoint_of(run, player, seed)
    if why := run.stale_reason(result):
        console.print(
            f"[yellow]warning: player {esc(player)} {esc(folder.label)} is stale under this run's config "
            f"({esc(why)}); its checkpoint is not the board's: `tuneoff run` trains it again[/]"
        )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


RUN_DIR_HELP = "a run folder (tournament.json and the players' results)"
JSON_HELP = "print JSON on stdout instead of the tables (messages go to stderr)"


def parser() -> argparse.ArgumentParser:
    from tuneoff import __version__

    ap = argparse.ArgumentParser(prog="tuneoff", description=__doc__)
    ap.add_argument("--version", action="version", version=f"tuneoff {__version__}", help="print the version")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_run(sub)
    _add_data_and_boards(sub)
    _add_track(sub)
    _add_predict(sub)
    _add_after_the_tournament(sub)
    completion = sub.add_parser(
        "completion", help='print a shell completion script: eval "$(tuneoff completion bash)" (or zsh, tcsh)'
    )
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"], help="the shell to complete in")
    completion.set_defaults(func=cmd_completion)
    return ap


def _add_data_and_boards(sub) -> None:
    """tuneoff data, leaderboard and report: what a data set holds, and a run folder's board and report."""
    data = sub.add_parser("data", help="a data set's splits: counts, class distribution, fingerprint")
    data.add_argument("--dataset", default="sst5", help="a registered data set (sst5, sst5-phrases, sst2, ...)")
    data.add_argument("--config", help="use the [data] table of this config instead")
    data.add_argument("--data-dir", help="folder with the SST tree files (default: the download cache)")
    data.add_argument("--json", action="store_true", help=JSON_HELP)
    data.set_defaults(func=cmd_data)

    board = sub.add_parser("leaderboard", help="rebuild and print the leaderboard of a run folder")
    board.add_argument("run_dir", help=RUN_DIR_HELP)
    board.add_argument(
        "--force",
        action="store_true",
        help="write the board of a folder that also holds another tournament's results (they are left out)",
    )
    board.add_argument("--json", action="store_true", help="print leaderboard.json on stdout instead of the table")
    board.set_defaults(func=cmd_leaderboard)

    report = sub.add_parser("report", help="write report.html and report.md from a run folder's results")
    report.add_argument("run_dir", help=RUN_DIR_HELP)
    report.add_argument(
        "--force",
        action="store_true",
        help="write the report of a folder that also holds another tournament's results (they are left out)",
    )
    report.set_defaults(func=cmd_report)


def _add_track(sub) -> None:
    """tuneoff track: a run's jobs into experiment trackers."""
    track = sub.add_parser("track", help="export a run's jobs to experiment trackers (MLflow, TensorBoard, Trackio)")
    track.add_argument("run_dir", help=RUN_DIR_HELP)
    track.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="TRACKER",
        help="mlflow, tensorboard or trackio (repeat, or a comma list)",
    )
    track.add_argument(
        "--uri",
        help="where to: mlflow's tracking URI (default sqlite:///RUN_DIR/mlflow.db), "
        "tensorboard's log root (default RUN_DIR/tensorboard), a trackio server "
        "(default its local store)",
    )
    track.add_argument(
        "--force",
        action="store_true",
        help="export a folder that also holds another tournament's results (they are left out)",
    )
    track.set_defaults(func=cmd_track)


def _add_predict(sub) -> None:
    """tuneoff predict: sentences labelled by a player's checkpoint."""
    predict = sub.add_parser("predict", help="label sentences with a player's best checkpoint")
    predict.add_argument("run_dir", help=RUN_DIR_HELP)
    predict.add_argument("--player", required=True, help="the player whose checkpoint answers")
    predict.add_argument("--seed", type=int, help="which seed's checkpoint (default: the best on dev)")
    predict.add_argument("--file", metavar="FILE", help="label each line of this file (blank lines skipped)")
    predict.add_argument("--json", action="store_true", help=JSON_HELP)
    predict.add_argument(
        "texts", nargs="*", metavar="TEXT", help="sentences to label; '-' reads them from stdin, one per line"
    )
    predict.set_defaults(func=cmd_predict)


def _add_run(sub) -> None:
    """tuneoff run: the config, where it goes, and the executors' flags."""
    run = sub.add_parser("run", help="train every player of a config and score the tournament")
    run.add_argument("config", help="a TOML file, or a shipped config's name (offline, seed, zoo, ...)")
    run.add_argument("--out", help="run folder (default runs/<tournament name>)")
    run.add_argument("--data-dir", help="folder with the SST tree files train.txt, dev.txt, test.txt")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. protocol.epochs=1 or players.host.strategy.r=16 (a player "
        "name with dots: the longest that fits, or quoted: 'players.\"v1.5\".strategy.r=4')",
    )
    run.add_argument("--only", action="append", default=[], metavar="PLAYER", help="run only this player")
    run.add_argument("--no-report", action="store_true", help="skip writing report.html / report.md")
    run.add_argument(
        "--no-tuning",
        action="store_true",
        help="leave the config's [tuning] table out: every player "
        "trains at the protocol's learning rate (the game's rule), no sweep",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="let this tournament take over a run folder that holds another tournament (its results "
        "become this tournament's: kept where their jobs are this config's, else stale or left off)",
    )
    _add_executor_flags(run)
    run.add_argument(
        "--track",
        action="append",
        default=[],
        metavar="TRACKER",
        help="log each job live to an experiment tracker and export it as it ends: mlflow, "
        "tensorboard, trackio (repeat, or a comma list; or track = [...] in the config); "
        "see tuneoff track",
    )
    run.set_defaults(func=cmd_run)


def _add_executor_flags(run) -> None:
    """tuneoff run's flags for where and how its jobs run: local processes or Ray, and retries."""
    run.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="local executor: jobs at once on this machine (default 1); the cores are split among them",
    )
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="where jobs run: this machine (default), or Ray (pip install 'tuneoff[ray]')",
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="ray: 'local' starts a private instance here (default; RAY_ADDRESS is ignored), 'auto' or "
        "HOST:PORT joins a cluster (refused if it does not answer within seconds)",
    )
    run.add_argument("--cpus-per-job", type=float, metavar="N", help="ray: CPUs each job asks for (default 1)")
    run.add_argument(
        "--gpus-per-job",
        type=float,
        metavar="F",
        help="ray: GPUs each job asks for (default 0); a fraction packs several jobs onto one card",
    )
    run.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="retries of a job whose worker process died (--jobs N > 1, or Ray; default 2); "
        "then it is recorded failed with the cause",
    )
    run.add_argument(
        "--ray-runtime-env",
        metavar="FILE",
        help="ray: a JSON file holding Ray's runtime_env (pip, env_vars, working_dir, ...) for the workers",
    )


def _add_after_the_tournament(sub) -> None:
    """What a user does with a finished run: compare, score, list, export."""
    _add_compare_and_score(sub)
    _add_list_and_export(sub)


def _add_compare_and_score(sub) -> None:
    """tuneoff compare and score: two runs side by side, and a run's checkpoints on another test set."""
    compare = sub.add_parser(
        "compare", help="compare players of two runs on the same test sentences (the board's statistics)"
    )
    compare.add_argument("run_a", metavar="RUN_A[:PLAYER]", help="a run folder, and optionally one of its players")
    compare.add_argument(
        "run_b", metavar="RUN_B[:PLAYER]", help="without players: every player both runs have, Holm-adjusted together"
    )
    compare.add_argument(
        "--json",
        metavar="FILE",
        help="also write the comparison as JSON into FILE (outside every "
        "run folder); '-': on stdout (the table then goes to stderr)",
    )
    compare.set_defaults(func=cmd_compare)

    score = sub.add_parser(
        "score",
        help="score a run's kept checkpoints on another data set's test split, into "
        "the run (as a configured [[eval]] entry)",
    )
    score.add_argument("run_dir", help=RUN_DIR_HELP)
    score.add_argument(
        "--dataset",
        help="a registered data set (sst2, sst5, ...; tuneoff list datasets) or a Hugging "
        "Face data set id (owner/name, read with its test split)",
    )
    score.add_argument(
        "--config", help="use the [data] table of this config instead (any data set: csv, jsonl, hf with its options)"
    )
    score.add_argument(
        "--name",
        help="the name the score is written under (default: the data set's name, a Hub id's "
        "last part, or the test file's stem)",
    )
    score.add_argument("--data-dir", help="folder with the SST tree files (default: the download cache)")
    score.add_argument(
        "--label-map",
        metavar="MAP",
        help="the player's label -> the data set's, e.g. "
        '"very negative=negative,negative=negative,positive=positive,very positive=positive" '
        "(default: by name, or SST-5 onto SST-2)",
    )
    score.add_argument("--json", action="store_true", help=JSON_HELP)
    score.set_defaults(func=cmd_score)


def _add_list_and_export(sub) -> None:
    """tuneoff list and export: what a config can name, and a checkpoint as a transformers model folder."""
    listing = sub.add_parser("list", help="what a config can name, with every option's type, default and meaning")
    listing.add_argument("what", choices=["strategies", "datasets", "models", "configs"], help="which registry")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)
    listing.set_defaults(func=cmd_list)

    export = sub.add_parser("export", help="write a player's checkpoint as a transformers model folder with a card")
    export.add_argument("run_dir", help=RUN_DIR_HELP)
    export.add_argument("--player", required=True, help="the player to export")
    export.add_argument("--seed", type=int, help="which seed's checkpoint (default: the best on dev)")
    export.add_argument(
        "--to",
        required=True,
        metavar="DIR",
        help="a new or empty folder to write, outside every run "
        "folder (a symlink is followed: the link stays, its folder receives the model)",
    )
    export.add_argument(
        "--no-merge",
        action="store_true",
        help="a PEFT player: write its adapter (naming its base model) instead of merged weights",
    )
    export.add_argument("--force", action="store_true", help="replace what --to holds (never a run folder)")
    export.add_argument(
        "--allow-collapsed",
        action="store_true",
        help="export a checkpoint that collapsed (refused "
        "otherwise); its card opens with a banner and is tagged 'collapsed'",
    )
    export.add_argument(
        "--license",
        metavar="ID",
        help="the card's license (a Hub license id, e.g. mit); default: "
        "the base model's where tuneoff knows it, else 'unknown'",
    )
    export.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="then upload the folder to this Hugging Face Hub "
        "model repository (created if missing; needs a token: HF_TOKEN or `hf auth login`)",
    )
    export.add_argument("--private", action="store_true", help="with --push-to-hub: create the repository private")
    export.set_defaults(func=cmd_export)


def show_data_warnings(console: Console) -> None:
    """Print every DataWarning (splits that share texts, ...) as it is issued: one line, in yellow; others as before.
    Call inside ``warnings.catch_warnings()``."""
    from tuneoff.data import DataWarning

    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, DataWarning):
            console.print(f"[yellow]warning: {esc(str(message))}[/]")
        else:
            shown(message, category, *args, **kwargs)

    warnings.simplefilter("always", DataWarning)
    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args, extra = ap.parse_known_args(argv)
    if extra and getattr(args, "texts", None) is not None and not any(e.startswith("-") and e != "-" for e in extra):
        args.texts = [*args.texts, *extra]  # predict RUN --player P TEXT...: sentences after the options
    elif extra:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    from tuneoff.cli_io import wants_json_on_stdout

    if args.command in ("run", "predict", "score", "export"):
        from tuneoff.run.quiet import quiet_libraries

        quiet_libraries()
    from tuneoff.data import DataError
    from tuneoff.plan.config import ConfigError
    from tuneoff.run import interrupts
    from tuneoff.store.results import ResultsError
    from tuneoff.store.runfolder import RunFolderError

    console = make_console(stderr=wants_json_on_stdout(args))  # stdout holds the JSON alone
    if threading.current_thread() is threading.main_thread():
        interrupts.install()
    try:
        with warnings.catch_warnings():
            show_data_warnings(console)
            return args.func(args, console)
    except (ConfigError, DataError, ResultsError, RunFolderError, ValueError, FileNotFoundError) as err:
        error(console, err)
        return 2
    except OSError as err:  # disk full, permissions: one line naming the file, not a traceback
        error(console, f"{err.filename}: {err.strerror}" if err.filename and err.strerror else err)
        return 1
    except KeyboardInterrupt as stop:
        console.print(f"[red]{esc(interrupts.why(stop))}[/]")
        return interrupts.exit_code(stop)


if __name__ == "__main__":
    sys.exit(main())
