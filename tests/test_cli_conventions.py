"""The command line as users of other tools expect it: --version, python -m tuneoff, shell completion, --json on
the reading commands, "did you mean", help on every argument, predict from stdin or a file, and score on any
data set (a Hub id, or a config's [data] table: CSV, JSONL)."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, write_trees

from tuneoff import __version__
from tuneoff.cli import main, parser
from tuneoff.suggest import close_matches, did_you_mean


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("conventions")
    (work / "tiny.toml").write_text(TINY_CONFIG)
    data = write_trees(work / "sst5")
    assert main(
        ["run", str(work / "tiny.toml"), "--data-dir", str(data), "--out", str(work / "run"), "--no-report"]
    ) in (0, 1)
    return work / "run"


def actions(ap: argparse.ArgumentParser, where: str = "tuneoff"):
    for action in ap._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from actions(sub, f"{where} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield where, action


def test_every_argument_has_help():
    found = list(actions(parser()))
    assert len({w for w, _ in found}) >= 12 and len(found) > 50  # every subcommand was walked
    missing = [
        f"{where}: {a.option_strings or a.dest}" for where, a in found if not a.help or a.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_the_help_check_sees_an_argument_without_help():
    ap = argparse.ArgumentParser()
    ap.add_subparsers().add_parser("x").add_argument("--bare")
    assert [a.dest for _, a in actions(ap) if not a.help] == ["bare"]


def test_version_and_python_dash_m(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"tuneoff {__version__}\n"
    done = subprocess.run([sys.executable, "-m", "tuneoff", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"tuneoff {__version__}\n"


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_shell_completion_scripts_name_every_subcommand(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for command in ("run", "leaderboard", "predict", "export", "compare", "score", "completion"):
        assert command in script
    if shell != "tcsh":  # shtab's tcsh script completes subcommands and choices only
        assert "--push-to-hub" in script and "--allow-collapsed" in script
    if shell == "bash":
        assert "_shtab_compgen_dirs" in script  # run folders complete as folders


def test_did_you_mean():
    assert close_matches("hots", ["host", "player1", "player2"]) == ["host"]
    assert did_you_mean("offlne", ["offline", "seed", "zoo"]) == "; did you mean 'offline'?"
    assert did_you_mean("zzz", ["offline", "seed"]) == ""
    assert did_you_mean("host", ["host"]) == ""  # the name itself is no suggestion


@pytest.mark.parametrize(
    "argv,said",
    [
        (["run", "offlne"], "did you mean 'offline'"),
        (
            ["data", "--dataset", "sst22"],
            "unknown dataset 'sst22'; choices: ['csv', 'hf', 'jsonl', 'sst2', 'sst5', "
            "'sst5-phrases']; did you mean 'sst2' or 'sst5'?",
        ),
        (["run", "offline", "--set", "protocol.epoch=1"], "protocol.epoch: unknown key; did you mean 'epochs'?"),
        (["run", "offline", "--set", "players.host.strategy.name=ful"], "unknown strategy 'ful'; choices: "),
        (
            ["run", "offline", "--set", "players.hots.protocol.epochs=1"],
            "no player 'hots'; players: ['host', 'player1', 'player2', 'player3']; did you mean 'host'?",
        ),
        (
            ["run", "offline", "--set", "players.player2.strategy.rr=4"],
            "players.2.strategy.rr: unknown key; did you mean 'r'?",
        ),
        (["run", "offline", "--set", "data.verfy=false"], "data.verfy: unknown key; did you mean 'verify'?"),
        (["run", "offline", "--set", "players.host.model.kind=minlm"], "unknown model kind 'minlm'"),
    ],
)
def test_misspellings_get_a_suggestion(argv, said, capsys):
    assert main(argv) == 2
    out = capsys.readouterr().out.replace("\n", "")
    assert said in out
    if "strategy 'ful'" in said:
        assert "did you mean 'full'" in out
    if "minlm" in said:
        assert "did you mean 'minilm'" in out


def test_a_misspelt_player_gets_a_suggestion(run, capsys):
    assert main(["predict", str(run), "--player", "ful", "hello"]) == 2
    assert "players here: ['full', 'lora']; did you mean 'full'?" in capsys.readouterr().out.replace("\n", "")
    assert main(["run", str(run.parent / "tiny.toml"), "--only", "lroa", "--out", str(run)]) == 2
    assert "did you mean 'lora'?" in capsys.readouterr().out


def test_predict_reads_stdin_and_files_and_writes_json(run, tmp_path, monkeypatch, capsys):
    assert main(["predict", str(run), "--player", "full", "--json", "great film", "awful"]) == 0
    out, err = capsys.readouterr()
    given = json.loads(out)
    assert [p["text"] for p in given] == ["great film", "awful"] and "player full, seed 7" in err
    for p in given:
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get) and p["seed"] == 7
    monkeypatch.setattr(sys, "stdin", io.StringIO("great film\n\n  \nawful\n"))
    assert main(["predict", str(run), "--player", "full", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == given  # "-" is stdin, one sentence a line, blank lines skipped
    (tmp_path / "s.txt").write_text("great film\nawful\n")
    assert main(["predict", str(run), "--player", "full", "--file", str(tmp_path / "s.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == given
    assert main(["predict", str(run), "--player", "full"]) == 2
    assert "no sentence to label" in capsys.readouterr().out
    assert main(["predict", str(run), "--player", "full", "-", "more"]) == 2
    assert "'-' reads the sentences from stdin: give it alone" in capsys.readouterr().out


def test_predict_warns_when_the_checkpoint_collapsed(run, capsys):
    from tuneoff.verdict.rules import collapse_reason

    result = json.loads((run / "players" / "full" / "seed-7" / "result.json").read_text())
    assert main(["predict", str(run), "--player", "full", "hello"]) == 0
    out = capsys.readouterr().out
    assert ("warning: player 'full' seed 7 COLLAPSED" in out.replace("\n", "")) == bool(collapse_reason(result))


def test_json_on_the_reading_commands(run, capsys):
    assert main(["leaderboard", str(run), "--json"]) in (0, 1)
    out, err = capsys.readouterr()
    assert json.loads(out) == json.loads((run / "leaderboard.json").read_text()) and "leaderboard" in err
    assert main(["list", "strategies", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    rank = next(o for o in listed["lora"]["options"] if o["name"] == "r")
    assert (rank["type"], rank["default"]) == ("int", "8") and rank["description"].startswith("adapter rank; >= 1")
    assert main(["data", "--data-dir", str(run.parent / "sst5"), "--json"]) in (0, 1)
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "sst5" and [s["examples"] for s in data["splits"]] == [60, 25, 25]
    assert sum(data["splits"][2]["class_counts"].values()) == 25


def test_score_takes_a_config_data_table_and_writes_json(run, tmp_path, capsys):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    rows = ["text,label", "a superb film,very positive", "dull and weak,negative", "fine,neutral"]
    for split in ("train", "dev", "reviews"):
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n")
    config = TINY_CONFIG.replace(
        "[data]\nverify = false",
        '[data]\nname = "csv"\ntrain = "train.csv"\n'
        'dev = "dev.csv"\ntest = "reviews.csv"\nlabels = ["very negative", "negative", '
        '"neutral", "positive", "very positive"]',
    )
    (tmp_path / "csv.toml").write_text(config)
    assert main(["score", str(folder), "--config", str(tmp_path / "csv.toml"), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert [(r["player"], r["name"], r["examples"], r["error"]) for r in scored] == [
        ("full", "reviews", 3, None),
        ("lora", "reviews", 3, None),
    ]
    entry = json.loads((folder / "players" / "full" / "seed-7" / "result.json").read_text())["extra_eval"]["reviews"]
    assert entry["spec"]["name"] == "csv" and entry["accuracy"] == scored[0]["accuracy"]
    assert main(["score", str(folder), "--dataset", "someone/reviews"]) == 2  # a Hub id: read with datasets
    assert "Hugging Face data set 'someone/reviews' could not be loaded" in capsys.readouterr().out
    assert main(["score", str(folder)]) == 2
    assert "--dataset NAME_OR_HUB_ID or --config FILE" in capsys.readouterr().out
