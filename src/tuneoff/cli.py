"""Command line: tuneoff run | data | leaderboard | report | track | predict | export | compare | score | list."""

from __future__ import annotations

import argparse
import math
import sys
import threading
import warnings
from pathlib import Path

from rich.console import Console

from tuneoff.console import error, esc, make_console


def cmd_run(args, console: Console) -> int:
    from tuneoff.plan.loading import load_config
    from tuneoff.run import tournament
    from tuneoff.run.live import chosen_trackers
    from tuneoff.store.runfolder import RunFolder

    executor = make_executor(args, console)  # refuses executor flags that do not apply before anything else
    config = load_config(args.config, args.set)
    track = chosen_trackers(args.track, config, str(args.config))  # not installed, or not answering: refused here
    executor.start()  # Ray joins (or refuses) before the run folder is touched
    out = RunFolder.for_tournament(args.out, config.tournament.name)
    console.print(f"tournament [bold]{esc(config.tournament.name)}[/]: {len(config.players)} players -> {esc(out)}")
    board = tournament.run(config, out, args.data_dir, tuple(args.only), console, str(args.config),
                           report=not args.no_report, executor=executor, force=args.force, track=track)
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
    options = {k: default if getattr(args, k) is None else getattr(args, k) for k, default in flags.items()}
    for key, zero_ok in (("cpus_per_job", False), ("gpus_per_job", True), ("max_retries", True)):
        value = options[key]
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            raise ValueError(f"--{key.replace('_', '-')} {value}: expected a finite number {'>=' if zero_ok else '>'} 0")
    return options


def make_executor(args, console: Console):
    ray = _ray_options(args)
    if args.executor == "ray":
        from tuneoff.run.ray_executor import RayExecutor

        return RayExecutor(ray["ray_address"], ray["cpus_per_job"], ray["gpus_per_job"], ray["max_retries"], console,
                           runtime_env=ray["ray_runtime_env"])
    from tuneoff.run.executors import LocalExecutor

    return LocalExecutor(args.jobs, console, ray["max_retries"])


def cmd_data(args, console: Console) -> int:
    from tuneoff.plan.loading import load_config

    spec = load_config(args.config).data if args.config else _named_dataset(args.dataset)
    if "verify" in type(spec).model_fields:  # report on other files rather than refuse them
        spec = spec.model_copy(update={"verify": False})
    dataset = spec.load(args.data_dir)
    console.print(f"{esc(dataset.name)} from {esc(dataset.root)} ({esc(dataset.source)}); labels: "
                  f"{esc(', '.join(dataset.labels))}")
    for split in dataset.splits():
        counts = split.class_counts(len(dataset.labels))
        dist = ", ".join(f"{esc(dataset.labels[i])} {c} ({c / len(split):.1%})" for i, c in enumerate(counts))
        sums = f"; file sha256 {dataset.files[split.name][:16]}…" if split.name in dataset.files else ""
        console.print(f"{split.name:>5}: {len(split):>6} examples; content fingerprint {split.sha256[:16]}…{sums}\n"
                      f"       {dist}")
    if dataset.checksums_ok is not None:
        console.print("checksums: " + ("[green]the published files[/]" if dataset.checksums_ok else
                                       "[red]NOT the published files[/]"))
    return 0 if dataset.checksums_ok is not False else 1


def _named_dataset(name: str):
    """``tuneoff data --dataset NAME``: a data set that needs no options; one line names those it lacks."""
    from pydantic import ValidationError

    from tuneoff.plan.config import ConfigError, _dataset

    try:
        return _dataset({"name": name})
    except ValidationError as err:
        missing = [".".join(map(str, e["loc"])) for e in err.errors() if e["type"] == "missing"]
        why = f"needs the options {', '.join(missing)}" if missing else err.errors()[0]["msg"]
        raise ConfigError(f"--dataset {name}: {why}; write them in a config's [data] table and use "
                          "tuneoff data --config FILE") from None


def _readable_run(args):
    """The run folder report and leaderboard write into: a run (tournament.json), holding one tournament's results."""
    from tuneoff.store.runfolder import RunFolder, RunFolderError

    folder = RunFolder(Path(args.run_dir).resolve())
    meta = folder.tournament()  # not a run: refused before anything is written
    if not args.force and (foreign := folder.foreign(folder.results({}))):
        name = meta["config"]["tournament"].get("name")
        raise RunFolderError(f"{folder}: holds results of another tournament than {name!r} (its tournament.json): "
                             f"{', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}; --force writes the board "
                             f"of {name!r} without them")
    return folder


def cmd_leaderboard(args, console: Console) -> int:
    from tuneoff.store.runfolder import RunFolder
    from tuneoff.verdict import board

    folder = _readable_run(args)
    with folder.lock():
        run = board.publish(folder, console)
    return 1 if run.problems else 0


def cmd_report(args, console: Console) -> int:
    from tuneoff.report.build import build_report
    from tuneoff.store.runfolder import RunFolder

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

    to = _trackers(args.to, args.uri)
    folder = _readable_run(args)
    with folder.lock():
        for tracker in to:
            console.print(f"{tracker.name}: {export(folder, (tracker,))} jobs exported")
    return 0


def cmd_predict(args, console: Console) -> int:
    from tuneoff.run.predict import ECHO_CHARS, predict
    from tuneoff.store.runfolder import RunFolder

    predictions = predict(RunFolder(Path(args.run_dir)), args.player, args.texts, args.seed)
    if predictions:
        console.print(f"player {esc(args.player)}, seed {predictions[0].seed}"
                      + ("" if args.seed is not None else " (its seed with the best dev accuracy)"))
    for p in predictions:
        best = max(p.probabilities, key=p.probabilities.get)
        shown = "  ".join(f"{label} {q:.2f}" for label, q in p.probabilities.items())
        echo = p.text if len(p.text) <= ECHO_CHARS else p.text[: ECHO_CHARS - 1] + "…"
        console.print(f"[bold]{esc(best)}[/]  <- {esc(repr(echo))}\n    {esc(shown)}")
        for note in p.notes:
            console.print(f"    [yellow]{esc(note)}[/]")
    return 0


def cmd_compare(args, console: Console) -> int:
    from tuneoff.store.files import write_json
    from tuneoff.verdict import compare

    document = compare.compare(compare.Side.parse(args.run_a), compare.Side.parse(args.run_b))
    console.print(compare.table(document))
    for note in compare.notes(document):
        console.print(esc(note))
    if args.json:
        write_json(Path(args.json), document)
        console.print(f"written: {esc(args.json)}")
    return 0


def cmd_score(args, console: Console) -> int:
    from tuneoff.run.score import score_run
    from tuneoff.store.runfolder import RunFolder

    run = RunFolder(Path(args.run_dir).resolve())
    failures = score_run(run, _named_dataset(args.dataset), args.data_dir, args.label_map, console)
    console.print(f"written into the run's results as extra_eval.{esc(args.dataset)}; `tuneoff report "
                  f"{esc(args.run_dir)}` shows it")
    return 1 if failures else 0


def cmd_list(args, console: Console) -> int:
    from tuneoff.plan.catalogue import table

    console.print(table(args.what))
    return 0


def cmd_export(args, console: Console) -> int:
    import shlex

    from tuneoff.run.export import export
    from tuneoff.store.runfolder import RunFolder

    command = shlex.join(["tuneoff", "export", args.run_dir, "--player", args.player,
                          *(["--seed", str(args.seed)] if args.seed is not None else []), "--to", args.to,
                          *(["--no-merge"] if args.no_merge else []), *(["--force"] if args.force else [])])
    done = export(RunFolder(Path(args.run_dir)), args.player, args.to, args.seed, not args.no_merge, args.force,
                  command)
    what = "a PEFT adapter folder" if done.adapter else "a transformers model"
    console.print(f"player {esc(done.player)}, seed {done.seed}"
                  + ("" if args.seed is not None else " (its seed with the best dev accuracy)")
                  + f": {what} in {esc(done.path)} (model card: README.md)")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tuneoff", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    _add_run(sub)

    data = sub.add_parser("data", help="a data set's splits: counts, class distribution, fingerprint")
    data.add_argument("--dataset", default="sst5", help="a registered data set (sst5, sst5-phrases, sst2, ...)")
    data.add_argument("--config", help="use the [data] table of this config instead")
    data.add_argument("--data-dir")
    data.set_defaults(func=cmd_data)

    board = sub.add_parser("leaderboard", help="rebuild and print the leaderboard of a run folder")
    board.add_argument("run_dir")
    board.add_argument("--force", action="store_true", help="write the board of a folder that also holds another "
                       "tournament's results (they are left out)")
    board.set_defaults(func=cmd_leaderboard)

    report = sub.add_parser("report", help="write report.html and report.md from a run folder's results")
    report.add_argument("run_dir")
    report.add_argument("--force", action="store_true", help="write the report of a folder that also holds another "
                        "tournament's results (they are left out)")
    report.set_defaults(func=cmd_report)

    track = sub.add_parser("track", help="export a run's jobs to experiment trackers (MLflow, TensorBoard, Trackio)")
    track.add_argument("run_dir")
    track.add_argument("--to", action="append", required=True, metavar="TRACKER",
                       help="mlflow, tensorboard or trackio (repeat, or a comma list)")
    track.add_argument("--uri", help="where to: mlflow's tracking URI (default sqlite:///RUN_DIR/mlflow.db), "
                       "tensorboard's log root (default RUN_DIR/tensorboard), a trackio server (default its local store)")
    track.add_argument("--force", action="store_true", help="export a folder that also holds another tournament's "
                       "results (they are left out)")
    track.set_defaults(func=cmd_track)

    predict = sub.add_parser("predict", help="label sentences with a player's best checkpoint")
    predict.add_argument("run_dir")
    predict.add_argument("--player", required=True)
    predict.add_argument("--seed", type=int, help="which seed's checkpoint (default: the best on dev)")
    predict.add_argument("texts", nargs="+")
    predict.set_defaults(func=cmd_predict)

    _add_after_the_tournament(sub)
    return ap


def _add_run(sub) -> None:
    """tuneoff run: the config, where it goes, and the executors' flags."""
    run = sub.add_parser("run", help="train every player of a config and score the tournament")
    run.add_argument("config", help="a TOML file, or a shipped config's name (offline, seed, zoo, ...)")
    run.add_argument("--out", help="run folder (default runs/<tournament name>)")
    run.add_argument("--data-dir", help="folder with the SST tree files train.txt, dev.txt, test.txt")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. protocol.epochs=1 or players.host.strategy.r=16")
    run.add_argument("--only", action="append", default=[], metavar="PLAYER", help="run only this player")
    run.add_argument("--no-report", action="store_true", help="skip writing report.html / report.md")
    run.add_argument("--force", action="store_true",
                     help="let this tournament take over a run folder that holds another tournament")
    run.add_argument("--jobs", type=_positive, default=1, metavar="N",
                     help="local executor: jobs at once on this machine (default 1); the cores are split among them")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="where jobs run: this machine (default), or Ray (pip install 'tuneoff[ray]')")
    run.add_argument("--ray-address", metavar="ADDR",
                     help="ray: 'local' starts a private instance here (default; RAY_ADDRESS is ignored), 'auto' or "
                     "HOST:PORT joins a cluster (refused if it does not answer within seconds)")
    run.add_argument("--cpus-per-job", type=float, metavar="N", help="ray: CPUs each job asks for (default 1)")
    run.add_argument("--gpus-per-job", type=float, metavar="F",
                     help="ray: GPUs each job asks for (default 0); a fraction packs several jobs onto one card")
    run.add_argument("--max-retries", type=int, metavar="N", help="retries of a job whose worker process died (--jobs N > 1, or Ray; default 2); "
                          "then it is recorded failed with the cause")
    run.add_argument("--ray-runtime-env", metavar="FILE",
                     help="ray: a JSON file holding Ray's runtime_env (pip, env_vars, working_dir, ...) for the workers")
    run.add_argument("--track", action="append", default=[], metavar="TRACKER",
                     help="log each job live to an experiment tracker and export it as it ends: mlflow, "
                     "tensorboard, trackio (repeat, or a comma list; or track = [...] in the config); see tuneoff track")
    run.set_defaults(func=cmd_run)


def _add_after_the_tournament(sub) -> None:
    """What a user does with a finished run: compare, score, list, export."""
    compare = sub.add_parser("compare", help="compare players of two runs on the same test sentences (the board's "
                             "statistics)")
    compare.add_argument("run_a", metavar="RUN_A[:PLAYER]", help="a run folder, and optionally one of its players")
    compare.add_argument("run_b", metavar="RUN_B[:PLAYER]", help="without players: every player both runs have, "
                         "Holm-adjusted together")
    compare.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    compare.set_defaults(func=cmd_compare)

    score = sub.add_parser("score", help="score a run's kept checkpoints on another data set's test split, into "
                           "the run (as a configured [[eval]] entry)")
    score.add_argument("run_dir")
    score.add_argument("--dataset", required=True, help="a registered data set (sst2, sst5, ...; tuneoff list "
                       "datasets)")
    score.add_argument("--data-dir")
    score.add_argument("--label-map", metavar="MAP", help="the player's label -> the data set's, e.g. "
                       "\"very negative=negative,negative=negative,positive=positive,very positive=positive\" "
                       "(default: by name, or SST-5 onto SST-2)")
    score.set_defaults(func=cmd_score)

    listing = sub.add_parser("list", help="what a config can name, with every option's type, default and meaning")
    listing.add_argument("what", choices=["strategies", "datasets", "models", "configs"])
    listing.set_defaults(func=cmd_list)

    export = sub.add_parser("export", help="write a player's checkpoint as a transformers model folder with a card")
    export.add_argument("run_dir")
    export.add_argument("--player", required=True)
    export.add_argument("--seed", type=int, help="which seed's checkpoint (default: the best on dev)")
    export.add_argument("--to", required=True, metavar="DIR", help="a new or empty folder to write")
    export.add_argument("--no-merge", action="store_true",
                        help="a PEFT player: write its adapter (naming its base model) instead of merged weights")
    export.add_argument("--force", action="store_true", help="replace what --to holds")
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
    args = parser().parse_args(argv)
    if args.command in ("run", "predict", "score", "export"):
        from tuneoff.run.quiet import quiet_libraries

        quiet_libraries()
    from tuneoff.data import DataError
    from tuneoff.plan.config import ConfigError
    from tuneoff.run import interrupts
    from tuneoff.store.results import ResultsError
    from tuneoff.store.runfolder import RunFolderError

    console = make_console()
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
