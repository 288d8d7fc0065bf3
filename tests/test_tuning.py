"""The tuning budget: trials on dev only, the best point per player over its tuning seeds, final seeds at it.
(The older form, one shared list of rates, here; version 2's sweep in test_fair_tuning.py.)"""

import json
from dataclasses import dataclass

import pytest
from conftest import TINY_CONFIG

from tuneoff.cli import main
from tuneoff.data import load_sst5
from tuneoff.plan.jobs import choose, plan_tuning
from tuneoff.plan.loading import load_config
from tuneoff.run.task import Task
from tuneoff.run.tuning import run_trial
from tuneoff.store.record import Trial
from tuneoff.store.runfolder import RunFolder

TUNED = (
    TINY_CONFIG.replace('overridable = ["learning_rate"]', "overridable = []").replace(
        "protocol = { learning_rate = 5e-3 }", ""
    )
    + """
[tuning]
learning_rates = [1e-4, 1e-2]
epochs = 2
"""
)


@dataclass
class NoTest:
    """A data set whose test split cannot be read: a trial that touches it fails."""

    train: object
    dev: object
    labels: tuple = ("very negative", "negative", "neutral", "positive", "very positive")

    @property
    def test(self):
        raise AssertionError("a tuning trial read the test split")

    def splits(self):
        return self.train, self.dev


def test_a_trial_never_reads_the_test_split(tmp_path, tree_dir):
    (tmp_path / "t.toml").write_text(TUNED)
    config = load_config(tmp_path / "t.toml")
    real = load_sst5(tree_dir, verify=False)
    job = plan_tuning(config, {"train": "x"}, "full", {})[0]
    run = RunFolder(tmp_path / "run")
    task = Task(job, (NoTest(real.train, real.dev), []), run.job("full", job.label), run)
    record = run_trial(task, Trial.fresh(job))
    assert record["status"] == "running"  # how it ended is the lifecycle's to record (store.record.Record)
    assert record["learning_rate"] == 1e-4
    assert len(record["history"]["epochs"]) == 2 and "test" not in record
    # Pinned (seed 7, CPU, 1e-4 for 2 epochs): 9 of the 25 dev sentences right in both epochs (the
    # majority-class rate; the dev losses below tell the epochs apart), so the tie keeps the earlier one.
    dev = [e["dev_accuracy"] for e in record["history"]["epochs"]]
    assert dev == [9 / 25, 9 / 25] and record["best_epoch"] == 1
    assert record["best_dev_accuracy"] == 9 / 25 == dev[record["best_epoch"] - 1] == max(dev)
    assert [round(e["dev_loss"], 4) for e in record["history"]["epochs"]] == [1.6072, 1.6071]


def test_choose_keeps_the_best_mean_dev_accuracy_and_the_smaller_rate_on_ties():
    trials = [
        {"learning_rate": 1e-3, "best_dev_accuracy": 0.5},
        {"learning_rate": 1e-3, "best_dev_accuracy": 0.4},
        {"learning_rate": 1e-4, "best_dev_accuracy": 0.45},
        {"learning_rate": 1e-2, "best_dev_accuracy": 0.3},
    ]
    summary = choose(trials)
    assert summary["learning_rate"] == 1e-4 and summary["dev_accuracy"] == pytest.approx([0.45, 0.45, 0.3])  # a tie
    assert summary["learning_rates"] == [1e-4, 1e-3, 1e-2]


def test_a_tuned_tournament_runs_its_finals_at_the_chosen_rate(tmp_path, tree_dir, capsys):
    (tmp_path / "t.toml").write_text(TUNED)
    out = tmp_path / "run"
    args = ["run", str(tmp_path / "t.toml"), "--data-dir", str(tree_dir), "--out", str(out), "--no-report"]
    assert main(args) == 0
    for player in ("full", "lora"):  # two tuning seeds by default: the tournament's one seed, 7, and 8
        records = [
            RunFolder(out).job(player, f"tune-lr-{lr:g}-seed-{s}").trial() for lr in (1e-4, 1e-2) for s in (7, 8)
        ]
        assert all(r["status"] == "completed" for r in records)
        summary = choose(records)
        mean = {lr: sum(r["best_dev_accuracy"] for r in records if r["learning_rate"] == lr) / 2 for lr in (1e-4, 1e-2)}
        assert summary["learning_rate"] == max(mean, key=lambda lr: (mean[lr], -lr))
        (final,) = [r for r in RunFolder(out).results() if r["player"]["name"] == player]
        assert final["protocol"]["learning_rate"] == summary["learning_rate"]
        assert final["tuning"]["dev_accuracy"] == summary["dev_accuracy"] == [mean[1e-4], mean[1e-2]]
        assert final["tuning"]["seeds"] == [7, 8] and final["tuning"]["trials"] == 4
        assert final["job"]["tuning"] == {"learning_rates": [1e-4, 1e-2], "epochs": 2, "seeds": [7, 8]}
        # two rates: whichever is kept is on an edge, and says which
        assert final["tuning"]["on_edge"] == ("low" if summary["learning_rate"] == 1e-4 else "high")
    board = json.loads((out / "leaderboard.json").read_text())
    assert sorted(r["player"] for r in board["ranked"]) == ["full", "lora"]
    assert all(r["tuning"]["on_edge"] in ("low", "high") for r in board["ranked"])
    assert (out / "leaderboard.md").read_text().count("edge: widen the grid") == 2
    capsys.readouterr()
    assert main(args) == 0  # a rerun trains nothing
    assert capsys.readouterr().out.count("already completed with this config, skipped") == 2


def test_the_report_shows_the_sweep(tmp_path, tree_dir):
    (tmp_path / "t.toml").write_text(TUNED.replace("seed = 7", "seed = 7\nepochs = 1").replace("epochs = 2\n", "", 1))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "t.toml"), "--data-dir", str(tree_dir), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Best dev accuracy per learning rate: full 0.0001:" in md and (out / "figures" / "tuning.png").is_file()
    assert md.count("rate of its tuning grid: its best rate may lie beyond the grid") == 2  # both on an edge
    assert "kept on dev (the grid's" in md and ", of 0.0001, 0.01" in md
