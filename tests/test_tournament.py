"""The real CLI end to end on tiny random models and a few dozen sentences."""

import json

import pytest
import torch

from tuneoff.cli import main
from tuneoff.store.results import read_result
from tuneoff.store.runfolder import RunFolder
from tuneoff.strategies import STRATEGIES
from tuneoff.verdict import rules as leaderboard

# Enough training for the tiny 'full' player to learn (44 % on 25 test sentences, majority 36 %), so the
# rules that only apply to players that did not collapse (the speed bonus) are exercised.
LEARN = ("--set", "protocol.epochs=4", "--set", "protocol.learning_rate=1e-2")


def run(tiny_config, tree_dir, out, *extra):
    return main(["run", str(tiny_config), "--data-dir", str(tree_dir), "--out", str(out), "--no-report", *extra])


def result_of(out, player, seed=7):
    return read_result(out / "players" / player / f"seed-{seed}" / "result.json")


@pytest.fixture
def finished_run(tiny_config, tree_dir, tmp_path):
    out = tmp_path / "run"
    assert run(tiny_config, tree_dir, out, *LEARN) == 0
    return out


def test_run_writes_valid_results_checkpoints_and_leaderboard(finished_run):
    out = finished_run
    assert json.loads((out / "tournament.json").read_text())["config"]["tournament"]["name"] == "tiny"
    results = RunFolder(out).results()  # validates every file against the shipped schema
    assert [r["player"]["name"] for r in results] == ["full", "lora"]
    for r in results:
        assert r["status"] == "completed" and r["error"] is None
        assert len(r["history"]["epochs"]) == r["protocol"]["epochs"] == 4
        assert 1 <= r["best_epoch"] <= 4 and r["seed"] == 7
        for e in r["history"]["epochs"]:  # the training probe: dev-sized, scored every epoch
            assert e["generalization_gap"] == pytest.approx(e["train_eval_accuracy"] - e["dev_accuracy"])
        lowest = min(r["history"]["epochs"], key=lambda e: e["dev_loss"])["epoch"]
        assert r["generalization"]["lowest_dev_loss_epoch"] == lowest
        kept = r["history"]["epochs"][r["best_epoch"] - 1]
        assert r["generalization"]["gap_at_best_epoch"] == kept["generalization_gap"]
        assert r["data"]["train_probe_size"] == 25
        right = sum(p == y for p, y in zip(r["test"]["predictions"], r["test"]["labels"]))
        assert right / 25 == pytest.approx(r["test"]["accuracy"])
        best = r["history"]["epochs"][r["best_epoch"] - 1]["dev_accuracy"]
        assert best == max(e["dev_accuracy"] for e in r["history"]["epochs"])
        cm = r["test"]["confusion_matrix"]
        assert len(cm) == 5 and sum(map(sum, cm)) == r["data"]["sizes"]["test"] == 25
        assert [sum(row) for row in cm] == r["data"]["test_class_counts"]
        assert [sum(col) for col in zip(*cm)] == r["test"]["predicted_distribution"]
        assert r["test"]["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(5)) / 25)
        assert (
            out / "players" / r["player"]["name"] / "seed-7" / r["checkpoint"]["path"] / "model.safetensors"
        ).is_file()
        assert r["environment"]["software"]["torch"] == torch.__version__
        assert r["environment"]["hardware"]["threads"] == 1
        assert r["parameters"]["trainable"] <= r["parameters"]["total"]
    full, lora = results
    assert full["parameters"]["trainable"] == full["parameters"]["total"]
    assert lora["parameters"]["trainable"] < lora["parameters"]["total"] / 10
    assert lora["overrides"] == {"learning_rate": 5e-3} and lora["protocol"]["learning_rate"] == 5e-3
    assert full["overrides"] == {} and full["protocol"]["learning_rate"] == 1e-2
    assert "RANDOMLY INITIALISED" in lora["warnings"][0]
    # 11 of 25 against a majority rate of 9 of 25: not significantly above it (one-sided binomial p = 0.26)
    assert "not significantly above the majority-class rate 36.00% (p = 0.26)" in leaderboard.collapse_reason(full)


def test_leaderboard_points_follow_the_rules(finished_run):
    """End to end on 25 test sentences, where the collapse test cannot show either tiny player above the
    majority rate: both are flagged, nobody gets the bonus, points are accuracy; the unit tests in
    test_leaderboard.py and test_stats.py exercise the bonus and the ranks on larger test sets."""
    board = json.loads((finished_run / "leaderboard.json").read_text())
    results = {r["player"]["name"]: r for r in RunFolder(finished_run).results()}
    eligible = [row for row in board["ranked"] if not row["collapsed"]]
    fastest = min(eligible, key=lambda row: row["train_seconds"])["player"] if eligible else None
    for row in board["ranked"]:
        r = results[row["player"]]
        assert row["collapsed"] == (leaderboard.collapse_reason(r) is not None)
        assert row["fastest"] == (row["player"] == fastest)
        assert row["points"] == pytest.approx(100 * r["test"]["accuracy"] + (10 if row["fastest"] else 0))
    order = sorted(board["ranked"], key=lambda row: (row["collapsed"], -row["test_accuracy"]))
    assert [row["player"] for row in board["ranked"]] == [row["player"] for row in order]
    for row in board["ranked"]:  # the game's ranking: ties share a rank
        assert row["game_rank"] == 1 + sum(other["points"] > row["points"] + 1e-9 for other in board["ranked"])
    assert board["may_be_best"] == [
        row["player"] for row in board["ranked"] if not row["collapsed"] and row["rank_interval"][0] == 1
    ]
    md = (finished_run / "leaderboard.md").read_text()
    for row in board["ranked"]:
        assert f"| {row['player']} |" in md and f"{row['points']:.2f}" in md


def test_rerun_skips_finished_players_and_reruns_changed_ones(finished_run, tiny_config, tree_dir, capsys):
    before = {r["player"]["name"]: r["started_at"] + r["job_hash"] for r in RunFolder(finished_run).results()}
    capsys.readouterr()
    assert run(tiny_config, tree_dir, finished_run, *LEARN) == 0
    assert capsys.readouterr().out.count("already completed with this config, skipped") == 2
    assert {r["player"]["name"]: r["started_at"] + r["job_hash"] for r in RunFolder(finished_run).results()} == before
    assert run(tiny_config, tree_dir, finished_run, *LEARN, "--set", "players.lora.strategy.r=2") == 0
    out = capsys.readouterr().out
    assert out.count("skipped") == 1 and "full seed-7: already completed" in out
    assert "lora seed-7: stale (player.strategy.r: 4 in the result, 2 now); training again" in out
    after = {r["player"]["name"]: r for r in RunFolder(finished_run).results()}
    assert after["lora"]["player"]["strategy"]["r"] == 2
    assert after["full"]["started_at"] + after["full"]["job_hash"] == before["full"]


def test_ctrl_c_never_leaves_a_player_complete_and_rerun_resumes(tiny_config, tree_dir, tmp_path, monkeypatch):
    import tuneoff.run.final as player

    real_train = player.train
    calls = []

    def interrupted_second(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(player, "train", interrupted_second)
    out = tmp_path / "run"
    assert run(tiny_config, tree_dir, out) == 130
    statuses = {r["player"]["name"]: r["status"] for r in RunFolder(out).results()}
    assert statuses == {"full": "completed", "lora": "interrupted"}
    assert not (out / "leaderboard.json").exists()
    monkeypatch.setattr(player, "train", real_train)
    assert run(tiny_config, tree_dir, out) == 0
    assert {r["status"] for r in RunFolder(out).results()} == {"completed"}


def test_a_failing_player_is_recorded_and_the_tournament_goes_on(tiny_config, tree_dir, tmp_path, monkeypatch):
    import tuneoff.run.final as player
    from tuneoff.training.loop import NonFiniteLoss

    real_train = player.train

    def nan_for_full(model, train_set, dev_set, p, *args, **kwargs):
        if p.learning_rate == 2e-3:  # the 'full' player
            raise NonFiniteLoss("training loss became nan at epoch 1, step 3")
        return real_train(model, train_set, dev_set, p, *args, **kwargs)

    monkeypatch.setattr(player, "train", nan_for_full)
    out = tmp_path / "run"
    assert run(tiny_config, tree_dir, out) == 1
    results = {r["player"]["name"]: r for r in RunFolder(out).results()}
    assert results["full"]["status"] == "failed" and "nan" in results["full"]["error"]
    assert results["full"]["diverged"] is True  # learned nothing: the board counts it as a collapsed seed
    assert results["lora"]["status"] == "completed" and "diverged" not in results["lora"]
    board = json.loads((out / "leaderboard.json").read_text())
    assert [r["player"] for r in board["ranked"]] == ["lora"]
    assert board["unranked"][0]["player"] == "full" and board["unranked"][0]["status"] == "failed"
    assert (
        board["unranked"][0]["diverged"]
        and "diverged (counted as a collapsed seed)" in (out / "leaderboard.md").read_text()
    )


def test_bad_config_fails_before_any_training(tiny_config, tree_dir, tmp_path, capsys):
    tiny_config.write_text(tiny_config.read_text().replace('name = "lora", r = 4', 'name = "qlora", r = 4'))
    out = tmp_path / "run"
    assert run(tiny_config, tree_dir, out) == 2
    err = capsys.readouterr().out
    assert "unknown strategy 'qlora'" in err and f"choices: {sorted(STRATEGIES)}" in err
    assert not out.exists()


def test_bad_data_fails_with_file_and_line(tiny_config, tree_dir, tmp_path, capsys):
    (tree_dir / "train.txt").write_text("(2 (2 fine))\n(9 (2 bad))\n")
    assert run(tiny_config, tree_dir, tmp_path / "run") == 2
    assert "train.txt:2: malformed tree" in capsys.readouterr().out


def test_unknown_only_player_lists_the_players(tiny_config, tree_dir, tmp_path, capsys):
    assert run(tiny_config, tree_dir, tmp_path / "run", "--only", "nobody") == 2
    assert "players: ['full', 'lora']" in capsys.readouterr().out


def test_predict_uses_the_saved_best_checkpoint(finished_run, capsys):
    from tuneoff.run.predict import predict

    probs = [p.probabilities for p in predict(finished_run, "lora", ["a superb , brilliant film", "dull and weak"])]
    assert predict(finished_run, "lora", ["x"], seed=7)[0].seed == 7
    assert len(probs) == 2
    for p in probs:
        assert list(p) == ["very negative", "negative", "neutral", "positive", "very positive"]
        assert sum(p.values()) == pytest.approx(1.0, abs=1e-5)
    assert main(["predict", str(finished_run), "--player", "full", "a superb film"]) == 0
    assert "a superb film" in capsys.readouterr().out
    assert main(["predict", str(finished_run), "--player", "nobody", "x"]) == 2
    assert "players here: ['full', 'lora']" in capsys.readouterr().out


def test_leaderboard_command_rebuilds_from_results_only(finished_run, capsys):
    written = json.loads((finished_run / "leaderboard.json").read_text())
    assert sorted(row["player"] for row in written["ranked"]) == ["full", "lora"]
    (finished_run / "leaderboard.json").unlink()
    assert main(["leaderboard", str(finished_run)]) == 0
    assert json.loads((finished_run / "leaderboard.json").read_text()) == written  # the same board, rebuilt
    assert "tuneoff leaderboard" in capsys.readouterr().out


def test_results_stay_valid_when_read_back(finished_run, tmp_path):
    from tuneoff.store.results import ResultsError

    folders = sorted((finished_run / "players").glob("*/seed-*"))
    assert [f.relative_to(finished_run).as_posix() for f in folders] == ["players/full/seed-7", "players/lora/seed-7"]
    listed = RunFolder(finished_run).results()
    for folder, via_run in zip(folders, listed):
        path = folder / "result.json"
        read = read_result(path)  # validated against the shipped schema
        assert read == json.loads(path.read_text()) == via_run
        assert (read["schema"], read["player"]["name"], read["seed"], read["status"]) == (
            "tuneoff.result/2",
            folder.parent.name,
            7,
            "completed",
        )
        broken = dict(read)
        del broken["test"]  # the same file less a required part no longer reads back
        (tmp_path / "broken.json").write_text(json.dumps(broken))
        with pytest.raises(ResultsError, match=r"broken\.json"):
            read_result(tmp_path / "broken.json")


def test_a_corrupt_results_file_does_not_block_the_leaderboard(finished_run, tiny_config, tree_dir, capsys):
    (finished_run / "players" / "stray" / "seed-7").mkdir(parents=True)
    (finished_run / "players" / "stray" / "seed-7" / "result.json").write_text("{ not json")
    capsys.readouterr()
    assert run(tiny_config, tree_dir, finished_run, *LEARN) == 0
    out = capsys.readouterr().out
    assert "stray/seed-7: results file unreadable" in out and "not valid JSON" in out
    assert sorted(r["player"] for r in json.loads((finished_run / "leaderboard.json").read_text())["ranked"]) == [
        "full",
        "lora",
    ]


def test_tf32_on_cpu_runs_plain_fp32_and_says_so(finished_run, tiny_config, tree_dir, tmp_path):
    out = tmp_path / "tf32"
    assert run(tiny_config, tree_dir, out, *LEARN, "--set", "protocol.precision='tf32'", "--only", "full") == 0
    (tf32,) = RunFolder(out).results()
    fp32 = result_of(finished_run, "full")
    assert tf32["protocol"]["precision"] == "tf32"
    assert any("tf32 has no effect on cpu" in w for w in tf32["warnings"])
    assert tf32["history"]["steps"] == fp32["history"]["steps"]
    assert tf32["test"]["confusion_matrix"] == fp32["test"]["confusion_matrix"]
    for r in (tf32, fp32):  # the untimed warm-up is recorded, and not inside the timed epochs
        timing = r["timing"]
        assert isinstance(timing["kernel_warmup_seconds"], float) and timing["kernel_warmup_seconds"] > 0
        assert timing["train_seconds"] == sum(e["train_seconds"] for e in r["history"]["epochs"])
        assert timing["train_samples_per_second"] == 4 * 60 / timing["train_seconds"]


def test_leaderboard_command_reports_unreadable_and_foreign_results(finished_run, capsys):
    import shutil

    (finished_run / "players" / "stray" / "seed-7").mkdir(parents=True)
    (finished_run / "players" / "stray" / "seed-7" / "result.json").write_text("{ not json")
    foreign = result_of(finished_run, "full")
    foreign["player"]["name"] = "visitor"
    shutil.copytree(finished_run / "players" / "full", finished_run / "players" / "visitor")
    (finished_run / "players" / "visitor" / "seed-7" / "result.json").write_text(json.dumps(foreign))
    capsys.readouterr()
    assert main(["leaderboard", str(finished_run)]) == 1
    out = capsys.readouterr().out
    assert "stray/seed-7: results file unreadable" in out
    assert "visitor/seed-7: not a job of this tournament's config" in out
    board = json.loads((finished_run / "leaderboard.json").read_text())
    assert sorted(r["player"] for r in board["ranked"] + board["unranked"]) == ["full", "lora"]


def test_three_seeds_two_players_end_to_end(tiny_config, tree_dir, tmp_path):
    out = tmp_path / "seeds"
    assert run(tiny_config, tree_dir, out, *LEARN, "--set", "tournament.seeds=[1, 2, 3]") == 0
    results = RunFolder(out).results()
    assert sorted((r["player"]["name"], r["seed"]) for r in results) == [
        (n, s) for n in ("full", "lora") for s in (1, 2, 3)
    ]
    for r in results:
        assert (out / "players" / r["player"]["name"] / f"seed-{r['seed']}" / "result.json").is_file()
        assert r["protocol"]["seed"] == r["seed"]
    full = [r for r in results if r["player"]["name"] == "full"]
    assert len({json.dumps(r["history"]["steps"]) for r in full}) == 3  # each seed trains differently
    board = json.loads((out / "leaderboard.json").read_text())
    row = next(r for r in board["ranked"] if r["player"] == "full")
    assert row["seeds"] == [1, 2, 3]
    assert row["per_seed_test_accuracy"] == [r["test"]["accuracy"] for r in full]
    assert row["test_accuracy"] == pytest.approx(sum(row["per_seed_test_accuracy"]) / 3)
    assert row["test_accuracy_ci95"][0] <= row["test_accuracy"] <= row["test_accuracy_ci95"][1]
    assert board["stale"] == [] and board["unranked"] == []
    again = main(
        [
            "run",
            str(tiny_config),
            "--data-dir",
            str(tree_dir),
            "--out",
            str(out),
            "--no-report",
            *LEARN,
            "--set",
            "tournament.seeds=[1, 2, 3]",
        ]
    )
    assert again == 0 and [r["started_at"] for r in RunFolder(out).results()] == [r["started_at"] for r in results]


def test_a_result_trained_under_another_protocol_is_stale_not_ranked(finished_run, tiny_config, tree_dir, capsys):
    capsys.readouterr()
    assert run(tiny_config, tree_dir, finished_run, *LEARN, "--only", "full", "--set", "protocol.epochs=1") == 0
    out = capsys.readouterr().out
    assert "full seed-7: stale (protocol.epochs: 4 in the result, 1 now); training again" in out
    assert "lora seed 7: stale, not ranked (protocol.epochs: 4 in the result, 1 now)" in out
    board = json.loads((finished_run / "leaderboard.json").read_text())
    assert [r["player"] for r in board["ranked"]] == ["full"]
    assert board["stale"] == [
        {"player": "lora", "seed": 7, "data_seed": None, "reason": "protocol.epochs: 4 in the result, 1 now"}
    ]
    assert "lora seed-7: **stale**, not ranked" in (finished_run / "leaderboard.md").read_text()


def test_changed_data_content_is_retrained_and_a_description_is_not(finished_run, tiny_config, tree_dir, capsys):
    capsys.readouterr()
    assert run(tiny_config, tree_dir, finished_run, *LEARN, "--set", "players.full.description='new words'") == 0
    assert capsys.readouterr().out.count("already completed with this config, skipped") == 2
    lines = (tree_dir / "train.txt").read_text().splitlines()
    (tree_dir / "train.txt").write_text("\n".join(lines[1:]) + "\n")  # one sentence fewer; verify is off
    assert run(tiny_config, tree_dir, finished_run, *LEARN) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out and out.count("stale (data.sha256.train:") == 2
    assert {r["data"]["sizes"]["train"] for r in RunFolder(finished_run).results()} == {59}


def test_provenance_names_tuneoffs_own_code(finished_run):
    import tuneoff

    software = result_of(finished_run, "full")["environment"]["software"]
    assert software["tuneoff"] == tuneoff.__version__
    assert software["tuneoff_source"].endswith("tuneoff")
    assert "working_dir_commit" in software


def zoo_config(tmp_path, teacher_of=None):
    from tuneoff.strategies import STRATEGIES

    head = TINY_CONFIG_HEAD
    players = []
    # each built from the options example its class declares; a soup needs [tuning] (tests/test_soup.py)
    for name in sorted(n for n, cls in STRATEGIES.items() if not cls.in_job_sweep):
        example = {**STRATEGIES[name].example, **({"teacher": teacher_of or "full"} if name == "distill" else {})}
        options = "".join(f", {k} = {json.dumps(v)}" for k, v in example.items())
        players.append(
            f'[[players]]\nname = "{name}"\nmodel = {{ kind = "random", size = "tiny" }}\n'
            f'strategy = {{ name = "{name}"{options} }}\n'
        )
    path = tmp_path / "zoo.toml"
    path.write_text(head + "\n".join(players))
    return path


TINY_CONFIG_HEAD = """
[tournament]
name = "zoo"
[protocol]
epochs = 1
batch_size = 16
eval_batch_size = 32
learning_rate = 5e-3
max_seq_len = 32
threads = 1
seed = 7
[data]
verify = false
"""


def test_a_tiny_tournament_with_every_strategy_completes(tree_dir, tmp_path, capsys):
    from tuneoff.strategies import STRATEGIES

    out = tmp_path / "zoo"
    assert main(["run", str(zoo_config(tmp_path)), "--data-dir", str(tree_dir), "--out", str(out)]) == 0
    results = {r["player"]["name"]: r for r in RunFolder(out).results()}
    assert set(results) == {n for n, cls in STRATEGIES.items() if not cls.in_job_sweep}
    assert {r["status"] for r in results.values()} == {"completed"}
    text = capsys.readouterr().out
    assert text.index("full seed-7: test accuracy") < text.index("distill seed-7: test accuracy")  # teacher first
    teacher_folder = out / "players" / "full" / "seed-7"
    assert len(list(teacher_folder.glob("*-train_logits.npy"))) == 1  # cached beside the teacher
    assert results["distill"]["job"]["teacher"] == results["full"]["job_hash"]
    wiseft = results["wiseft"]["strategy_report"]  # the alpha chosen on dev, and each one's dev accuracy
    assert wiseft["alphas"] == [0.5, 1.0] and wiseft["alpha"] in wiseft["alphas"] and len(wiseft["dev_accuracy"]) == 2
    assert results["sam"]["step"]["passes_per_step"] == results["rdrop"]["step"]["passes_per_step"] == 2
    assert results["full"]["step"]["passes_per_step"] == 1
    for name in results:
        assert main(["predict", str(out), "--player", name, "a superb film"]) == 0, name
    assert (out / "report.html").is_file()


def test_distillation_refuses_unknown_teachers_and_cycles(tmp_path, tree_dir, capsys):
    from tuneoff.plan.config import ConfigError
    from tuneoff.plan.loading import load_config

    config = zoo_config(tmp_path, teacher_of="nobody")
    with pytest.raises(ConfigError, match=r"player 'distill': teacher 'nobody' is not a player"):
        load_config(config)
    text = TINY_CONFIG_HEAD + "".join(
        f'[[players]]\nname = "{a}"\nmodel = {{ kind = "random", size = "tiny" }}\n'
        f'strategy = {{ name = "distill", teacher = "{b}" }}\n'
        for a, b in (("a", "b"), ("b", "c"), ("c", "a"))
    )
    (tmp_path / "cycle.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"teachers form a cycle: a -> b -> c -> a"):
        load_config(tmp_path / "cycle.toml")
    (tmp_path / "self.toml").write_text(text.replace('teacher = "b"', 'teacher = "a"'))
    with pytest.raises(ConfigError, match=r"teachers form a cycle: a -> a"):
        load_config(tmp_path / "self.toml")
