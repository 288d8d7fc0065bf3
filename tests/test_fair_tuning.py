"""The fair tuning budget: the same number of trials and the same schedule for every strategy, each on a grid
around its own published rate; a rate kept at the grid's edge is flagged in the result, the leaderboard and
the report; config mistakes name their key."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_CONFIG
from factories import PROTOCOL, completed, confusion

from tuneoff.cli import main
from tuneoff.plan.config import ConfigError, grid_for
from tuneoff.plan.grid import log_grid, on_edge
from tuneoff.plan.jobs import choose, plan, plan_tuning
from tuneoff.plan.loading import load_config
from tuneoff.report.build import build_report
from tuneoff.run.tournament import schedule_warnings
from tuneoff.store.files import write_json
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.schemas import SchemaError, validate
from tuneoff.strategies import STRATEGIES, Strategy
from tuneoff.verdict import board as boards
from tuneoff.verdict import rules as leaderboard
from tuneoff.verdict.rows import rows

BASE = TINY_CONFIG.replace('overridable = ["learning_rate"]', "overridable = []").replace(
    "protocol = { learning_rate = 5e-3 }", "")
SHA = {"train": "a", "dev": "b", "test": "c"}

# Each strategy's published optimum (or the range its paper searched) for BERT-sized models, as cited beside
# its default_lr: the default grid must hold it. Strategies added later are held to the generic rule below.
PUBLISHED = {
    "full": (2e-5, 5e-5), "llrd": (2e-5, 5e-5), "reinit": (2e-5, 5e-5), "unfreeze": (2e-5, 5e-5),
    "rdrop": (2e-5, 5e-5), "distill": (2e-5, 5e-5), "freeze": (2e-5, 5e-5),  # Devlin et al. 2019
    "head": (1e-3, 1e-3), "bitfit": (1e-4, 1e-3),  # Adam's default; Ben Zaken et al. 2022
    "lora": (4e-4, 5e-4), "loraplus": (4e-4, 5e-4),  # Hu et al. 2021 (RoBERTa-base, GLUE); Hayou et al. 2024
    "adalora": (5e-4, 1.2e-3), "ia3": (3e-3, 3e-3),  # Zhang et al. 2023; Liu et al. 2022
    "vera": (4e-3, 1e-2), "lntuning": (1e-3, 5e-3),  # Kopiczko et al. 2024; Qi et al. 2022
    "prompt": (0.3, 0.3), "ptuning": (1e-3, 1e-2),  # Lester et al. 2021; Liu et al. 2021 / PEFT's guide
}


def _config(tmp_path, tuning: str, base: str = BASE):
    (tmp_path / "t.toml").write_text(base + "\n[tuning]\n" + tuning)
    return load_config(tmp_path / "t.toml")


# --- the grid --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_declares_its_rate_and_its_grid_brackets_it(name):
    cls = STRATEGIES[name]
    assert any("default_lr" in vars(k) for k in cls.__mro__ if k is not Strategy), \
        f"{name} does not declare its published default_lr (it would inherit the base's placeholder)"
    grid = log_grid(cls.default_lr, 5, 3.0)
    assert len(grid) == 5 and grid[2] == cls.default_lr  # the published rate itself is the middle trial
    assert grid[0] < cls.default_lr < grid[-1] and all(0 < r <= 1 for r in grid)
    assert all(b / a == pytest.approx(3.0, rel=0.01) for a, b in zip(grid, grid[1:]))  # log-spaced, x3


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_default_grid_holds_each_published_optimum(name):
    lo, hi = PUBLISHED[name]
    grid = log_grid(STRATEGIES[name].default_lr, 5, 3.0)
    assert grid[0] < lo and hi < grid[-1], (name, grid, (lo, hi))


def test_the_grid_rule_in_numbers():
    assert log_grid(3e-5, 5, 3.0) == (3.33e-6, 1e-5, 3e-5, 9e-5, 2.7e-4)
    assert log_grid(5e-4, 3, 10.0) == (5e-5, 5e-4, 5e-3)


def test_every_player_gets_the_same_number_of_trials_with_the_finals_epochs(tmp_path):
    names = sorted(n for n in STRATEGIES if n != "distill")
    players = "".join(f'\n[[players]]\nname = "p-{n}"\nmodel = {{ kind = "random", size = "tiny" }}\n'
                      f"strategy = {{ name = {json.dumps(n)}"
                      + "".join(f", {k} = {json.dumps(v)}" for k, v in STRATEGIES[n].example.items()) + " }\n"
                      for n in names)
    base = BASE.split("[[players]]")[0] + players
    config = _config(tmp_path, "seeds = [1, 2]\n", base)
    finals = {j.name: j for j in plan(config, SHA, {p.name: {"learning_rate": 1e-4} for p in config.players})}
    for p in config.players:
        trials = plan_tuning(config, SHA, p.name, {})
        assert len(trials) == 5 * 2  # points x tuning seeds, for every strategy alike
        rates = sorted({t.protocol.learning_rate for t in trials})
        assert tuple(rates) == grid_for(config.tuning, p) == log_grid(type(p.strategy).default_lr, 5, 3.0)
        assert {t.protocol.epochs for t in trials} == {finals[p.name].protocol.epochs} == {2}
        assert {t.protocol.warmup_ratio for t in trials} == {finals[p.name].protocol.warmup_ratio}
    assert schedule_warnings(config, [p.name for p in config.players]) == []


def test_a_player_with_its_own_epochs_tunes_with_them(tmp_path):
    base = BASE.replace("overridable = []", 'overridable = ["epochs"]').replace(
        'strategy = { name = "lora", r = 4, alpha = 8 }', 'strategy = { name = "lora", r = 4, alpha = 8 }\n'
        "protocol = { epochs = 3 }")
    config = _config(tmp_path, "points = 3\n", base)
    assert {j.protocol.epochs for j in plan_tuning(config, SHA, "lora", {})} == {3}
    assert {j.protocol.epochs for j in plan_tuning(config, SHA, "full", {})} == {2}


def test_fewer_trial_epochs_than_the_finals_warn_that_the_schedule_differs(tmp_path):
    config = _config(tmp_path, "epochs = 1\n")
    assert {j.protocol.epochs for j in plan_tuning(config, SHA, "full", {})} == {1}
    warnings = schedule_warnings(config, ["full", "lora"])
    assert len(warnings) == 2 and warnings[0].startswith("full: tuning trials run 1 epochs, its finals 2: the "
                                                         "trials follow another schedule than the finals")
    assert "unset tuning.epochs" in warnings[0]


def test_own_and_shared_lists(tmp_path):
    config = _config(tmp_path, "points = 3\n[tuning.players.lora]\nlearning_rates = [1e-2, 1e-3, 1e-4]\n")
    full, lora = config.players
    assert grid_for(config.tuning, lora) == (1e-4, 1e-3, 1e-2)  # its own list, sorted
    assert grid_for(config.tuning, full) == log_grid(3e-5, 3, 3.0)
    shared = _config(tmp_path, "learning_rates = [1e-3, 1e-4]\n")
    assert [grid_for(shared.tuning, p) for p in shared.players] == [(1e-4, 1e-3)] * 2
    # a final job's identity holds the player's own grid: the shared list's identity is what it always was
    (final,) = [j for j in plan(shared, SHA, {"full": {"learning_rate": 1e-4}}) if j.name == "full"]
    assert final.identity["tuning"] == {"learning_rates": [1e-4, 1e-3], "epochs": None, "seeds": []}


@pytest.mark.parametrize("tuning, expect", [
    ("point = 5\n", "t.toml:{line}: tuning.point: unknown key"),
    ("points = 4\n", "t.toml:{line}: tuning.points: points must be odd, so that the published rate is the middle "
                     "of the grid (got 4)"),
    ("points = 1\n", "t.toml:{line}: tuning.points: Input should be greater than or equal to 3"),
    ("span = 1.0\n", "t.toml:{line}: tuning.span: Input should be greater than 1"),
    ("learning_rates = [1e-3, 1e-4]\npoints = 3\n", "tuning.learning_rates is one shared list; it cannot go with "
                                                    "['points']"),
    ("[tuning.players.lora]\nlearning_rate = [1e-3]\n", "t.toml:{line}: tuning.players.lora.learning_rate: "
                                                        "unknown key"),
    ("[tuning.players.nobody]\nlearning_rates = [1, 0.1, 0.01, 0.001, 1e-4]\n",
     "tuning.players.nobody: no such player; players: ['full', 'lora']"),
    ("[tuning.players.lora]\nlearning_rates = [1e-3, 1e-4]\n",
     "tuning.players.lora.learning_rates has 2 rates; every player tries 5 (the same number of trials for all)"),
    ("points = 9\nspan = 10.0\n", "player 'lora': its tuning grid reaches 5 (9 rates x10 apart around lora's "
                                  "published 0.0005), above the limit of 1"),
])
def test_tuning_mistakes_name_their_key(tmp_path, tuning, expect):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, tuning)
    lines = (tmp_path / "t.toml").read_text().splitlines()
    key = expect.split(": ")[1].split(".")[-1] if "{line}" in expect else None
    start = lines.index("[tuning]")
    line = next((i for i, text in enumerate(lines, 1) if i > start and key and text.startswith(key)), None)
    assert expect.format(line=line) in str(err.value)


# --- the edge ------------------------------------------------------------------------------------------------


def test_choose_flags_a_rate_on_the_grids_edge():
    def sweep(best):
        return [{"learning_rate": r, "best_dev_accuracy": 0.5 if r == best else 0.4} for r in (1e-4, 3e-4, 9e-4)]
    assert choose(sweep(1e-4))["on_edge"] == "low"
    assert choose(sweep(9e-4))["on_edge"] == "high"
    assert choose(sweep(3e-4))["on_edge"] is None
    assert on_edge(3e-4, [1e-4, 3e-4, 9e-4]) is None


def _tuned(name, rate, rates, **kw):
    r = completed(name, confusion([6, 12, 20, 18, 9]), train_seconds=50.0, trainable=1_000, **kw)
    r["tuning"] = {"learning_rate": rate, "learning_rates": rates, "dev_accuracy": [0.4] * len(rates),
                   "trials": len(rates), "metric": "best dev accuracy, mean over tuning seeds",
                   "on_edge": on_edge(rate, rates)}
    return r


@pytest.fixture
def edge_run(tmp_path):
    results = [_tuned("high", 9e-4, [1e-4, 3e-4, 9e-4]), _tuned("inside", 3e-4, [1e-4, 3e-4, 9e-4])]
    for r in results:
        RunFolder(tmp_path).job(r["player"]["name"], "seed-42").write_result(r)  # schema-checked on write
    write_json(tmp_path / "tournament.json", {
        "config": {"tournament": {"name": "unit", "fastest_bonus": 10.0, "speed_metric": "train_seconds"},
                   "protocol": PROTOCOL, "data": {"dir": None, "verify": False},
                   "players": [dict(r["player"]) for r in results]},
        "config_file": "unit.toml", "written_at": "2026-01-01T00:00:00+00:00"})
    return tmp_path


def test_an_edge_choice_is_flagged_in_the_result_leaderboard_and_report(edge_run):
    board = boards.read_run(edge_run).board
    validate(board, "leaderboard", "board")
    by = {r["player"]: r for r in board["ranked"]}
    assert by["high"]["tuning"] == {"learning_rate": 9e-4, "learning_rates": [1e-4, 3e-4, 9e-4], "on_edge": "high"}
    assert by["inside"]["tuning"]["on_edge"] is None
    notes = {x.player: [n.text for n in x.notes] for x in rows(board)}
    assert "tuned rate 0.0009 on the grid's high edge: widen the grid" in notes["high"]
    assert not any("edge" in n for n in notes["inside"])
    assert "tuned rate 0.0009 on the grid's high edge: widen the grid" in boards.markdown(board)
    paths = build_report(edge_run)
    sentence = ("high kept 0.0009, the highest rate of its tuning grid: its best rate may lie beyond the grid; "
                "widen it (tuning.span or tuning.points, or tuning.players.high.learning_rates) and run again")
    md, page = paths["md"].read_text(), paths["html"].read_text()
    assert sentence in md and sentence in page
    assert md.count("rate of its tuning grid") == 1  # "inside" is not flagged
    assert '<span class="badge warn">tuned rate 0.0009 on the grid&#x27;s high edge: widen the grid</span>' in page


def test_the_schemas_know_the_edge():
    ok = _tuned("p", 1e-4, [1e-4, 3e-4])
    validate(ok, "result", "r")
    with pytest.raises(SchemaError, match="tuning/on_edge"):
        validate({**ok, "tuning": {**ok["tuning"], "on_edge": "middle"}}, "result", "r")
    older = {**ok, "tuning": {k: v for k, v in ok["tuning"].items() if k != "on_edge"}}
    validate(older, "result", "r")  # results written before the edge was recorded stay valid
    board = leaderboard.build([ok])
    validate(board, "leaderboard", "b")
    board["ranked"][0]["tuning"]["on_edge"] = "middle"
    with pytest.raises(SchemaError, match="ranked/0/tuning/on_edge"):
        validate(board, "leaderboard", "b")


# --- end to end ---------------------------------------------------------------------------------------------


def test_a_tournament_on_the_default_grid(tmp_path, tree_dir, capsys):
    """Each player tries 3 rates around its own published rate, with the finals' 2 epochs; the kept rate is
    recorded with whether it is on an edge, which the leaderboard notes."""
    (tmp_path / "t.toml").write_text(BASE + "\n[tuning]\npoints = 3\nspan = 10.0\n")
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "t.toml"), "--data-dir", str(tree_dir), "--out", str(out), "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "tuning trials run" not in printed  # the finals' epochs: no schedule warning
    board = json.loads((out / "leaderboard.json").read_text())
    for player, grid in (("full", [3e-6, 3e-5, 3e-4]), ("lora", [5e-5, 5e-4, 5e-3])):
        trials = [RunFolder(out).job(player, f"tune-lr-{r:g}-seed-7").trial() for r in grid]
        assert [len(t["history"]["epochs"]) for t in trials] == [2, 2, 2]
        (final,) = [r for r in RunFolder(out).results() if r["player"]["name"] == player]
        assert final["tuning"]["learning_rates"] == grid and final["tuning"]["learning_rate"] in grid
        assert final["tuning"]["on_edge"] == on_edge(final["tuning"]["learning_rate"], grid)
        (row,) = [r for r in board["ranked"] if r["player"] == player]
        assert row["tuning"]["on_edge"] == final["tuning"]["on_edge"]
        if final["tuning"]["on_edge"]:
            assert f"warning: {player} kept {final['tuning']['learning_rate']:g}" in " ".join(printed.split())
