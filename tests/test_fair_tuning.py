"""The fair tuning budget, version 2: the same number of trials per tuning seed for every strategy, spent on its
own axes (the rate around its published rate, its knob's papers' values, its second rate), the choice the best
mean dev accuracy over at least 2 tuning seeds, an edge flag per axis in the result, the leaderboard and the
report; config mistakes name their key."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import TINY_CONFIG
from factories import PROTOCOL, completed, confusion

from tuneoff.cli import main
from tuneoff.plan.budget import sweep_for
from tuneoff.plan.choice import choose
from tuneoff.plan.config import ConfigError, ingredients, tuning_seeds
from tuneoff.plan.grid import design, log_grid, on_edge, pick, rate_axis
from tuneoff.plan.jobs import plan, plan_tuning
from tuneoff.plan.loading import load_config
from tuneoff.report.build import build_report
from tuneoff.run.tournament import schedule_warnings
from tuneoff.store.files import write_json
from tuneoff.store.record import Trial
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.schemas import SchemaError, validate
from tuneoff.strategies import STRATEGIES, Lora, Strategy
from tuneoff.strategies.base import SecondRate
from tuneoff.verdict import board as boards
from tuneoff.verdict import rules as leaderboard
from tuneoff.verdict.rows import rows

BASE = TINY_CONFIG.replace('overridable = ["learning_rate"]', "overridable = []").replace(
    "protocol = { learning_rate = 5e-3 }", ""
)
SHA = {"train": "a", "dev": "b", "test": "c"}

# Each strategy's published optimum (or the range its paper searched) for BERT-sized models, as cited beside
# its default_lr: the default rate axis must hold it. Strategies added later are held to the generic rule below.
PUBLISHED = {
    "full": (2e-5, 5e-5),
    "llrd": (2e-5, 5e-5),
    "reinit": (2e-5, 5e-5),
    "unfreeze": (2e-5, 5e-5),
    "rdrop": (2e-5, 5e-5),
    "distill": (2e-5, 5e-5),
    "freeze": (2e-5, 5e-5),  # Devlin et al. 2019
    "head": (1e-3, 1e-3),
    "bitfit": (1e-4, 1e-3),  # Adam's default; Ben Zaken et al. 2022
    "lora": (4e-4, 5e-4),
    "loraplus": (4e-4, 5e-4),  # Hu et al. 2021 (RoBERTa-base, GLUE); Hayou et al. 2024
    "adalora": (5e-4, 1.2e-3),
    "ia3": (3e-3, 3e-3),  # Zhang et al. 2023; Liu et al. 2022
    "vera": (4e-3, 1e-2),
    "lntuning": (1e-3, 5e-3),  # Kopiczko et al. 2024; Qi et al. 2022
    "prompt": (0.3, 0.3),
    "ptuning": (1e-3, 1e-2),  # Lester et al. 2021; Liu et al. 2021 / PEFT's guide
}


def _config(tmp_path, tuning: str, base: str = BASE):
    (tmp_path / "t.toml").write_text(base + "\n[tuning]\n" + tuning)
    return load_config(tmp_path / "t.toml")


def _options(cls) -> str:
    return "".join(f", {k} = {json.dumps(v)}" for k, v in cls.example.items())


def _zoo(tmp_path, tuning: str = ""):
    """One tiny player per registered strategy (distill learns from p-full), seeds 1, 2 and 3."""
    players = "".join(
        f'\n[[players]]\nname = "p-{n}"\nmodel = {{ kind = "random", size = "tiny" }}\n'
        f"strategy = {{ name = {json.dumps(n)}{_options(cls) if n != 'distill' else ''}"
        + (', teacher = "p-full"' if n == "distill" else "")
        + " }\n"
        for n, cls in sorted(STRATEGIES.items())
    )
    base = BASE.split("[[players]]")[0].replace("fastest_bonus = 10.0", "fastest_bonus = 10.0\nseeds = [1, 2, 3]")
    return _config(tmp_path, tuning, base + players)


# --- the rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("centre", [1e-5, 3e-5, 8e-4, 2e-3, 0.1])
def test_the_rate_axis_is_centred_on_its_rate_and_spans_a_fifth_to_five_times_it(centre):
    for alone in (False, True):
        grid = rate_axis(centre, 3, 5.0, alone)
        assert len(grid) == (9 if alone else 3) and grid[len(grid) // 2] == centre
        assert list(grid) == sorted(set(grid))
        assert grid[0] == pytest.approx(centre / 5, rel=0.01) and grid[-1] == pytest.approx(centre * 5, rel=0.01)


def test_every_strategy_declares_a_rate_its_grid_holds_exactly_within_the_protocols_limit():
    """What the grid's rule leaves to each strategy: its own published rate (not the base's placeholder), written
    to the grid's 3 significant digits (so the grid's middle is that rate), five times it a valid rate (<= 1)."""
    inherited = [
        n for n, cls in STRATEGIES.items() if not any("default_lr" in vars(k) for k in cls.__mro__ if k is not Strategy)
    ]
    assert not inherited, f"{inherited} do not declare their published default_lr (they inherit the placeholder)"
    rounded = {n: cls.default_lr for n, cls in STRATEGIES.items() if cls.default_lr != float(f"{cls.default_lr:.3g}")}
    assert not rounded, f"rates the grid would round: {rounded}"
    too_high = {n: cls.default_lr for n, cls in STRATEGIES.items() if not 0 < cls.default_lr * 5 <= 1}
    assert not too_high, f"rates whose grid leaves (0, 1]: {too_high}"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_default_grid_holds_each_published_optimum(name):
    lo, hi = PUBLISHED[name]
    grid = rate_axis(STRATEGIES[name].default_lr, 3, 5.0, alone=False)
    assert grid[0] < lo and hi < grid[-1], (name, grid, (lo, hi))


@pytest.mark.parametrize("name", sorted(n for n, c in STRATEGIES.items() if c.knob))
def test_every_knob_names_an_option_with_the_papers_values(name):
    cls = STRATEGIES[name]
    knob = cls.knob
    assert knob.field in cls.model_fields and knob.source and len(knob.values) >= 3  # p = 3 at the default budget
    assert len(set(knob.values)) == len(knob.values)
    options = {**cls.example, **({"teacher": "t"} if name == "distill" else {})}
    for value in knob.values:
        assert getattr(cls.model_validate({**options, knob.field: value}), knob.field) == value


def test_the_grid_rule_in_numbers():
    assert log_grid(3e-5, 3, 5.0) == (6e-6, 3e-5, 1.5e-4)
    assert rate_axis(3e-5, 3, 5.0, alone=True) == (
        6e-06,
        8.97e-06,
        1.34e-05,
        2.01e-05,
        3e-05,
        4.49e-05,
        6.71e-05,
        1e-4,
        1.5e-4,
    )
    assert rate_axis(3e-5, 3, 5.0, alone=True)[::4] == rate_axis(3e-5, 3, 5.0, alone=False)  # every (p+1)-th
    assert pick((0.01, 0.02, 0.05, 0.1, 0.2), 3) == (0.01, 0.05, 0.2)  # ends and middle
    assert pick((1, 2, 3, 4, 5, 6), 3) == (1, 4, 6)  # halves round up
    assert pick((3, 1, 2), 3) == (1, 2, 3)
    with pytest.raises(ValueError, match="2 values, 3 needed"):
        pick((1, 2), 3)


@pytest.mark.parametrize("p", [3, 5])
def test_the_design_crosses_every_pair_of_axes_in_p_squared_points(p):
    assert design(p, 1) == [(i,) for i in range(p * p)]
    for axes in (2, 3):
        points = design(p, axes)
        assert len(points) == len(set(points)) == p * p
        for a in range(axes):
            for b in range(a + 1, axes):
                assert {(x[a], x[b]) for x in points} == {(i, j) for i in range(p) for j in range(p)}
    m = (p - 1) // 2
    assert (m, m, m) in design(p, 3)  # the published point (the middle of all three axes) is tried


# --- every player -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return _zoo(tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_player_gets_the_same_number_of_trials_with_the_finals_epochs(zoo, name):
    """9 trials per tuning seed x 2 seeds, whatever the strategy; a soup trains its sweep in its finals instead,
    within the same compute."""
    p = next(x for x in zoo.players if x.name == f"p-{name}")
    trials = plan_tuning(zoo, SHA, p.name, {})
    assert tuning_seeds(zoo) == (1, 2)
    final = next(
        j
        for j in plan(
            zoo, SHA, {x.name: choose([{"learning_rate": 1e-4, "best_dev_accuracy": 0.5}]) for x in zoo.players}
        )
        if j.name == p.name
    )
    if type(p.strategy).in_job_sweep:
        assert trials == [] and len(final.ingredients) == 7  # (2 x 9 + 3) // 3: as many runs as a tuned player's
        assert len(final.ingredients) * 3 <= 2 * 9 + 3
        return
    assert len(trials) == 9 * 2 and len({t.label for t in trials}) == 18
    assert {t.protocol.epochs for t in trials} == {final.protocol.epochs} == {2}
    assert {t.protocol.warmup_ratio for t in trials} == {final.protocol.warmup_ratio}
    assert {t.seed for t in trials} == {1, 2}
    grid = sweep_for(zoo.tuning, p)
    assert len(grid.points) == 9 and grid.axes[0].kind == "learning_rate"
    others = [a for a in grid.axes if a.kind != "learning_rate"]  # its knob and second rate, as it declares them
    assert [a.kind for a in others] == [
        k for k, v in (("second_rate", type(p.strategy).second_rate), ("knob", type(p.strategy).knob)) if v is not None
    ]
    if not others:
        assert len({t.protocol.learning_rate for t in trials}) == 9  # more rate points instead
        return
    assert len({t.protocol.learning_rate for t in trials}) == 3
    knob = type(p.strategy).knob
    if knob is not None:
        assert sorted({getattr(t.player.strategy, knob.field) for t in trials}) == list(pick(knob.values, 3))
    for t in trials:  # each trial carries its point: in its options, its folder name and its record
        point = tuple((a.kind, a.field, getattr(t.player.strategy, a.field)) for a in others)
        assert t.axes == point
        assert t.label == (
            f"tune-lr-{t.protocol.learning_rate:g}"
            + "".join(f"-{field}-{value:g}" for _, field, value in point)
            + f"-seed-{t.seed}"
        )
        for kind, field, value in point:
            assert Trial.fresh(t)[kind] == {"field": field, "value": value}
            assert t.identity["player"]["strategy"][field] == value
        validate(Trial.fresh(t), "tuning", "t")


def test_zoo_robust_ships_a_tuning_table_with_equal_trials_and_two_seeds():
    config = load_config("zoo-robust.toml")
    assert config.tuning is not None and config.tuning.trials == 9 and len(tuning_seeds(config)) == 2
    counts = {p.name: len(plan_tuning(config, SHA, p.name, {})) for p in config.players}
    assert set(counts.values()) == {18} and sum(counts.values()) == 234
    crossed = {p.name: sweep_for(config.tuning, p).axis("knob") for p in config.players}
    assert {n for n, k in crossed.items() if k} == {
        "llrd",
        "reinit",
        "ema",
        "swa",
        "mixout",
        "sam",
        "noisytune",
        "childtune",
        "smooth",
        "lora",
    }
    assert crossed["reinit"].values == (1, 2, 3)  # its own list: MiniLM has 6 layers
    assert crossed["mixout"].values == (0.7, 0.8, 0.9)


def test_a_second_rate_is_crossed_in_the_same_count(tmp_path, monkeypatch):
    """A strategy with a second rate crosses it with the rate (p x p); with a knob too, a Latin square."""
    monkeypatch.setattr(Lora, "second_rate", SecondRate("dropout", 0.1, "a stand-in"))
    config = _config(tmp_path, "seeds = [1, 2]\n")
    lora = next(p for p in config.players if p.name == "lora")
    grid = sweep_for(config.tuning, lora)
    assert [a.kind for a in grid.axes] == ["learning_rate", "second_rate", "knob"]
    assert grid.axes[1].values == (0.02, 0.1, 0.5) and grid.axes[2].values == (1, 4, 64)
    assert len(grid.points) == 9 and (5e-4, 0.1, 4) in grid.points  # the published point
    trials = plan_tuning(config, SHA, "lora", {})
    assert len(trials) == 18
    t = next(t for t in trials if t.protocol.learning_rate == 1e-4 and t.player.strategy.dropout == 0.5)
    assert t.label == f"tune-lr-0.0001-dropout-0.5-r-{t.player.strategy.r}-seed-1"
    assert Trial.fresh(t)["second_rate"] == {"field": "dropout", "value": 0.5}
    monkeypatch.setattr(Lora, "knob", None)
    grid = sweep_for(config.tuning, lora)
    assert {(r, d) for r, d in grid.points} == {(r, d) for r in (1e-4, 5e-4, 2.5e-3) for d in (0.02, 0.1, 0.5)}


def test_a_player_with_its_own_epochs_tunes_with_them(tmp_path):
    base = BASE.replace("overridable = []", 'overridable = ["epochs"]').replace(
        'strategy = { name = "lora", r = 4, alpha = 8 }',
        'strategy = { name = "lora", r = 4, alpha = 8 }\nprotocol = { epochs = 3 }',
    )
    config = _config(tmp_path, "", base)
    assert {j.protocol.epochs for j in plan_tuning(config, SHA, "lora", {})} == {3}
    assert {j.protocol.epochs for j in plan_tuning(config, SHA, "full", {})} == {2}


def test_fewer_trial_epochs_than_the_finals_warn_that_the_schedule_differs(tmp_path):
    config = _config(tmp_path, "epochs = 1\n")
    assert {j.protocol.epochs for j in plan_tuning(config, SHA, "full", {})} == {1}
    warnings = schedule_warnings(config, ["full", "lora"])
    assert len(warnings) == 2 and warnings[0].startswith(
        "full: tuning trials run 1 epochs, its finals 2: the trials follow another schedule than the finals"
    )
    assert "unset tuning.epochs" in warnings[0]


def test_two_tuning_seeds_at_least(tmp_path):
    assert tuning_seeds(_config(tmp_path, "")) == (7, 8)  # one tournament seed, 7: 7 and 8
    three = BASE.replace("fastest_bonus = 10.0", "fastest_bonus = 10.0\nseeds = [5, 3, 9]")
    assert tuning_seeds(_config(tmp_path, "", three)) == (5, 3)  # the tournament's first two
    assert tuning_seeds(_config(tmp_path, "seeds = [4, 2, 6]\n")) == (4, 2, 6)
    with pytest.raises(
        ConfigError,
        match=r"tuning.seeds: seeds = \[1\]: the choice is the mean dev accuracy over at "
        "least 2 tuning seeds",
    ):
        _config(tmp_path, "seeds = [1]\n")


def test_own_and_shared_lists(tmp_path):
    config = _config(
        tmp_path,
        "[tuning.players.lora]\nlearning_rates = [1e-2, 1e-3, 1e-4]\nknob = [16, 2, 8]\n"
        "[tuning.players.full]\nlearning_rates = [1e-5, 2e-5, 3e-5, 4e-5, 5e-5, 6e-5, 7e-5, "
        "8e-5, 9e-5]\n",
    )
    full, lora = config.players
    assert sweep_for(config.tuning, lora).axes[0].values == (1e-4, 1e-3, 1e-2)  # its own list, sorted
    assert next(a for a in sweep_for(config.tuning, lora).axes if a.kind == "knob").values == (2, 8, 16)
    assert sweep_for(config.tuning, full).axes[0].values[0] == 1e-5
    shared = _config(tmp_path, "learning_rates = [1e-3, 1e-4]\nseeds = [1, 2]\n")
    assert [[a.values for a in sweep_for(shared.tuning, p).axes] for p in shared.players] == [[(1e-4, 1e-3)]] * 2
    assert {len(plan_tuning(shared, SHA, p.name, {})) for p in shared.players} == {4}  # the rate alone, no knob
    # a final job's identity holds the player's sweep: the older form's is what it always was
    (final,) = [j for j in plan(shared, SHA, {"full": {"learning_rate": 1e-4}}) if j.name == "full"]
    assert final.identity["tuning"] == {"learning_rates": [1e-4, 1e-3], "epochs": None, "seeds": [1, 2]}
    kept = {"lora": choose([{"learning_rate": 1e-3, "best_dev_accuracy": 0.5, "knob": {"field": "r", "value": 8}}])}
    (final,) = plan(config, SHA, kept)
    assert final.player.strategy.r == 8 and final.protocol.learning_rate == 1e-3  # the kept point
    assert final.identity["player"]["strategy"]["r"] == 8
    assert final.identity["tuning"] == {
        "learning_rates": [1e-4, 1e-3, 1e-2],
        "epochs": None,
        "seeds": [7, 8],
        "knob": {"field": "r", "values": [2, 8, 16]},
        "trials": 9,
        "second_rate": {"field": "head_lr", "values": [2e-4, 1e-3, 5e-3]},
    }


@pytest.mark.parametrize(
    "tuning, expect",
    [
        ("point = 5\n", "t.toml:{line}: tuning.point: unknown key"),
        (
            "points = 5\n",
            "t.toml:{line}: tuning.points: points = 5 was version 1's budget (rates per player, the rate "
            "alone); version 2 counts trials per player and tuning seed: trials = 9",
        ),
        (
            "trials = 10\n",
            "t.toml:{line}: tuning.trials: trials must be the square of an odd number (9, 25, 49: p rates "
            "x p knob values, or p² rates), got 10",
        ),
        ("trials = 16\n", "t.toml:{line}: tuning.trials: trials must be the square of an odd number"),
        ("span = 1.0\n", "t.toml:{line}: tuning.span: Input should be greater than 1"),
        (
            "seeds = [3]\n",
            "t.toml:{line}: tuning.seeds: seeds = [3]: the choice is the mean dev accuracy over at least 2",
        ),
        (
            "learning_rates = [1e-3, 1e-4]\ntrials = 9\n",
            "tuning.learning_rates is one shared list; it cannot go with ['trials']",
        ),
        (
            "learning_rates = [1e-3, 1e-4]\n[tuning.players.lora]\nknob = [1, 2]\n",
            "tuning.learning_rates (the older form) tunes the rate alone; "
            "['tuning.players.lora.knob'] need the version 2",
        ),
        (
            "[tuning.players.lora]\nlearning_rate = [1e-3]\n",
            "t.toml:{line}: tuning.players.lora.learning_rate: unknown key",
        ),
        (
            "[tuning.players.nobody]\nlearning_rates = [0.1, 0.01, 0.001]\n",
            "tuning.players.nobody: no such player; players: ['full', 'lora']",
        ),
        (
            "[tuning.players.lora]\nlearning_rates = [1e-3, 1e-4]\n",
            "tuning.players.lora.learning_rates has 2 values; this player's sweep needs 3 (tuning.trials = 9: the same "
            "number of trials for all)",
        ),
        (
            "[tuning.players.full]\nlearning_rates = [1e-3, 1e-4, 1e-5]\n",
            "tuning.players.full.learning_rates has 3 values; this player's sweep needs 9",
        ),
        ("[tuning.players.full]\nknob = [1, 2, 3]\n", "tuning.players.full.knob: full declares no knob"),
        ("[tuning.players.lora]\nknob = [1, 2, 0]\n", "player 'lora': knob r = 0 is not a valid lora option"),
        (
            "span = 10.0\ntrials = 81\n[tuning.players.lora]\nknob = [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
            "player 'lora': its learning_rate axis reaches 5 (9 rates from 5e-08 to 5 around lora's published 0.0005), "
            "above the limit of 1; lower tuning.span, or give it tuning.players.lora.learning_rates",
        ),
    ],
)
def test_tuning_mistakes_name_their_key(tmp_path, tuning, expect):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, tuning)
    lines = (tmp_path / "t.toml").read_text().splitlines()
    key = expect.split(": ")[1].split(".")[-1] if "{line}" in expect else None
    start = lines.index("[tuning]")
    line = next((i for i, text in enumerate(lines, 1) if i > start and key and text.startswith(key)), None)
    assert expect.format(line=line) in str(err.value)


def test_a_knob_declaring_fewer_values_than_the_axis_needs_asks_for_the_players_list(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"player 'lora': lora's knob r declares 5 values, 7 needed; give "
        r"tuning.players.lora.knob = \[...\] \(7 values\)",
    ):
        _config(tmp_path, "trials = 49\nspan = 2.0\n")


# --- the choice --------------------------------------------------------------------------------------------


def _trial(rate, seed, accuracy, **axes):
    return {
        "learning_rate": rate,
        "seed": seed,
        "best_dev_accuracy": accuracy,
        **{k: {"field": f, "value": v} for k, (f, v) in axes.items()},
    }


def test_the_choice_is_the_best_mean_over_the_tuning_seeds():
    """Seed 1 alone would keep (1e-4, p 0.9) and seed 2 alone (3e-4, p 0.7); their mean keeps (3e-4, p 0.8)."""
    acc = {(1e-4, 0.9): (0.60, 0.30), (3e-4, 0.7): (0.40, 0.58), (3e-4, 0.8): (0.55, 0.55), (9e-4, 0.8): (0.2, 0.2)}
    trials = [_trial(r, s, a[i], knob=("p", v)) for (r, v), a in acc.items() for i, s in enumerate((1, 2))]
    summary = choose(trials)
    assert (summary["learning_rate"], summary["knob"]["value"]) == (3e-4, 0.8)
    assert summary["knob"] == {"field": "p", "value": 0.8, "values": [0.7, 0.8, 0.9], "on_edge": None}
    assert summary["learning_rates"] == [1e-4, 3e-4, 9e-4] and summary["on_edge"] is None
    assert summary["dev_accuracy"] == pytest.approx([0.45, 0.55, 0.2])  # per rate, the best mean over the knob
    assert summary["seeds"] == [1, 2] and summary["trials"] == 8
    point = next(x for x in summary["points"] if x["learning_rate"] == 1e-4)
    assert point == {
        "learning_rate": 1e-4,
        "knob": 0.9,
        "dev_accuracy": pytest.approx(0.45),
        "dev_accuracies": [0.6, 0.3],
    }
    # the mean's argmax, whatever the order of the records
    assert choose(list(reversed(trials)))["learning_rate"] == 3e-4
    means = {k: sum(v) / 2 for k, v in acc.items()}
    assert max(means, key=means.get) == (3e-4, 0.8)


def test_each_axis_has_its_edge_flag():
    trials = [
        _trial(r, s, 0.5 if (r, d, k) == (1e-4, 0.5, 1) else 0.4, second_rate=("head_lr", d), knob=("r", k))
        for r in (1e-4, 1e-3, 1e-2)
        for d in (0.005, 0.05, 0.5)
        for k in (1, 4, 64)
        for s in (1, 2)
    ]
    summary = choose(trials)
    assert summary["on_edge"] == "low"
    assert summary["second_rate"] == {"field": "head_lr", "value": 0.5, "values": [0.005, 0.05, 0.5], "on_edge": "high"}
    assert summary["knob"]["value"] == 1 and summary["knob"]["on_edge"] == "low"
    ties = [_trial(r, 1, 0.5, knob=("p", v)) for r in (1e-4, 3e-4) for v in (0.9, 0.7)]
    assert (choose(ties)["learning_rate"], choose(ties)["knob"]["value"]) == (1e-4, 0.7)  # ties: the smaller


def test_choose_flags_a_rate_on_the_grids_edge():
    def sweep(best):
        return [{"learning_rate": r, "best_dev_accuracy": 0.5 if r == best else 0.4} for r in (1e-4, 3e-4, 9e-4)]

    assert choose(sweep(1e-4))["on_edge"] == "low"
    assert choose(sweep(9e-4))["on_edge"] == "high"
    assert choose(sweep(3e-4))["on_edge"] is None
    assert on_edge(3e-4, [1e-4, 3e-4, 9e-4]) is None


def test_a_soup_trains_within_a_tuned_players_compute(tmp_path):
    soup = (
        BASE
        + '\n[[players]]\nname = "soup"\nmodel = { kind = "random", size = "tiny" }\nstrategy = { name = "soup" }\n'
    )
    with pytest.raises(ConfigError, match=r"players \['soup'\] train their own sweep \(soup\): they need a \[tuning\]"):
        load_config((tmp_path / "s.toml").write_text(soup) and tmp_path / "s.toml")
    three = soup.replace("fastest_bonus = 10.0", "fastest_bonus = 10.0\nseeds = [1, 2, 3]")
    config = _config(tmp_path, "", three)
    player = config.players[-1]
    rates = ingredients(config, player)
    assert len(rates) == 7  # (2 tuning seeds x 9 trials + 3 finals) // 3 finals: 21 runs, a tuned player's too
    assert rates[0] == 6e-6 and rates[-1] == 1.5e-4 and rates[3] == 3e-5  # the range every rate axis spans
    assert all(b / a == pytest.approx(25 ** (1 / 6), rel=0.01) for a, b in itertools.pairwise(rates))
    # one final seed: (2 x 9 + 1) // 1 = 19 models; trials of 1 epoch against finals of 2: (2 x 9 x 1 + 3 x 2) // 6
    assert len(ingredients(_config(tmp_path, "", soup), player)) == 19
    assert len(ingredients(_config(tmp_path, "epochs = 1\n", three), player)) == 4
    final = next(j for j in plan(config, SHA, {}) if j.name == "soup")  # planned without a sweep to wait for
    assert final.ingredients == rates and final.identity["tuning"] == {"ingredients": list(rates)}
    assert plan_tuning(config, SHA, "soup", {}) == [] and schedule_warnings(config, ["soup"]) == []


# --- the edge ------------------------------------------------------------------------------------------------


def _tuned(name, rate, rates, knob=None, **kw):
    r = completed(name, confusion([6, 12, 20, 18, 9]), train_seconds=50.0, trainable=1_000, **kw)
    r["tuning"] = {
        "learning_rate": rate,
        "learning_rates": rates,
        "dev_accuracy": [0.4] * len(rates),
        "trials": len(rates),
        "metric": "best dev accuracy, mean over tuning seeds",
        "on_edge": on_edge(rate, rates),
    }
    if knob:
        field, value, values = knob
        r["tuning"]["knob"] = {"field": field, "value": value, "values": values, "on_edge": on_edge(value, values)}
    return r


@pytest.fixture
def edge_run(tmp_path):
    results = [
        _tuned("high", 9e-4, [1e-4, 3e-4, 9e-4]),
        _tuned("inside", 3e-4, [1e-4, 3e-4, 9e-4]),
        _tuned("knobby", 3e-4, [1e-4, 3e-4, 9e-4], knob=("p", 0.7, [0.7, 0.8, 0.9])),
    ]
    for r in results:
        RunFolder(tmp_path).job(r["player"]["name"], "seed-42").write_result(r)  # schema-checked on write
    write_json(
        tmp_path / "tournament.json",
        {
            "config": {
                "tournament": {"name": "unit", "fastest_bonus": 10.0, "speed_metric": "train_seconds"},
                "protocol": PROTOCOL,
                "data": {"dir": None, "verify": False},
                "players": [dict(r["player"]) for r in results],
            },
            "config_file": "unit.toml",
            "written_at": "2026-01-01T00:00:00+00:00",
        },
    )
    return tmp_path


def test_an_edge_choice_is_flagged_in_the_result_leaderboard_and_report(edge_run):
    board = boards.read_run(edge_run).board
    validate(board, "leaderboard", "board")
    by = {r["player"]: r for r in board["ranked"]}
    assert by["high"]["tuning"] == {"learning_rate": 9e-4, "learning_rates": [1e-4, 3e-4, 9e-4], "on_edge": "high"}
    assert by["inside"]["tuning"]["on_edge"] is None
    assert by["knobby"]["tuning"]["knob"] == {"field": "p", "value": 0.7, "values": [0.7, 0.8, 0.9], "on_edge": "low"}
    notes = {x.player: [n.text for n in x.notes] for x in rows(board)}
    assert "tuned rate 0.0009 on the grid's high edge: widen the grid" in notes["high"]
    assert "tuned p 0.7 on its low edge" in notes["knobby"]
    assert not any("edge" in n for n in notes["inside"])
    assert "tuned rate 0.0009 on the grid's high edge: widen the grid" in boards.markdown(board)
    paths = build_report(edge_run)
    sentence = (
        "high kept 0.0009, the highest rate of its tuning grid: its best rate may lie beyond the grid; "
        "widen it (tuning.span, or tuning.players.high.learning_rates) and run again"
    )
    knob = (
        "knobby kept p = 0.7, the lowest value its sweep tried: its best may lie beyond; widen it "
        "(tuning.players.knobby.knob) and run again"
    )
    md, page = paths["md"].read_text(), paths["html"].read_text()
    assert sentence in md and sentence in page and knob in md and knob in page
    assert md.count("rate of its tuning grid") == 1  # "inside" is not flagged
    assert "p 0.7 kept on dev (the grid's lowest: widen it), of 0.7, 0.8, 0.9" in md
    assert '<span class="badge warn">tuned rate 0.0009 on the grid&#x27;s high edge: widen the grid</span>' in page


def test_the_schemas_know_the_edge():
    ok = _tuned("p", 1e-4, [1e-4, 3e-4], knob=("r", 8, [4, 8, 16]))
    validate(ok, "result", "r")
    with pytest.raises(SchemaError, match="tuning/on_edge"):
        validate({**ok, "tuning": {**ok["tuning"], "on_edge": "middle"}}, "result", "r")
    with pytest.raises(SchemaError, match="tuning/knob/on_edge"):
        validate(
            {**ok, "tuning": {**ok["tuning"], "knob": {**ok["tuning"]["knob"], "on_edge": "middle"}}}, "result", "r"
        )
    validate({**ok, "tuning": {k: v for k, v in ok["tuning"].items() if k != "knob"}}, "result", "r")  # none crossed
    with pytest.raises(SchemaError, match="on_edge"):  # every sweep records its edge
        validate({**ok, "tuning": {k: v for k, v in ok["tuning"].items() if k != "on_edge"}}, "result", "r")
    board = leaderboard.build([ok])
    validate(board, "leaderboard", "b")
    board["ranked"][0]["tuning"]["on_edge"] = "middle"
    with pytest.raises(SchemaError, match="ranked/0/tuning/on_edge"):
        validate(board, "leaderboard", "b")


# --- end to end ---------------------------------------------------------------------------------------------


def test_a_tournament_crossing_rate_and_knob(tmp_path, tree_dir, capsys):
    """LoRA crosses 3 rates around its published 5e-4, 3 head rates around 1e-3 and 3 ranks (1, 4, 64) in a Latin
    square of 9 points, at tuning seeds 7 and 8, with the finals' epochs (1, for speed); the kept point is the best
    mean over the seeds, recorded with an edge flag per axis, and the final runs at it."""
    (tmp_path / "t.toml").write_text(BASE + "\n[tuning]\n")
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                str(tmp_path / "t.toml"),
                "--data-dir",
                str(tree_dir),
                "--out",
                str(out),
                "--no-report",
                "--only",
                "lora",
                "--set",
                "protocol.epochs=1",
            ]
        )
        == 0
    )
    printed = " ".join(capsys.readouterr().out.split())
    assert "tuning trials run" not in printed  # the finals' epochs: no schedule warning
    records = [j.trial() for j in RunFolder(out).jobs() if j.player == "lora" and j.label.startswith("tune-")]
    assert len(records) == 18 and all(t["status"] == "completed" and len(t["history"]["epochs"]) == 1 for t in records)
    assert {(t["knob"]["field"], t["knob"]["value"]) for t in records} == {("r", 1), ("r", 4), ("r", 64)}
    assert {t["second_rate"]["field"] for t in records} == {"head_lr"}
    means = {}
    for t in records:
        means.setdefault((t["learning_rate"], t["second_rate"]["value"], t["knob"]["value"]), []).append(
            t["best_dev_accuracy"]
        )
    assert len(means) == 9 and all(len(v) == 2 for v in means.values())
    assert all(len({k[i] for k in means}) == 3 for i in range(3))  # each axis takes its 3 values
    best = max(means, key=lambda k: (sum(means[k]) / 2, -k[0], -k[1], -k[2]))
    (final,) = RunFolder(out).results()
    sweep = final["tuning"]
    assert (sweep["learning_rate"], sweep["second_rate"]["value"], sweep["knob"]["value"]) == best
    assert final["protocol"]["learning_rate"] == best[0] and final["player"]["strategy"]["r"] == best[2]
    assert final["player"]["strategy"]["head_lr"] == best[1]
    assert sweep["on_edge"] == on_edge(best[0], [1e-4, 5e-4, 2.5e-3])
    assert sweep["knob"] == {
        "field": "r",
        "value": best[2],
        "values": [1, 4, 64],
        "on_edge": on_edge(best[2], [1, 4, 64]),
    }
    assert sweep["seeds"] == [7, 8] and sweep["trials"] == 18
    assert (
        f"lora: learning rate {best[0]:g}, head_lr {best[1]:g}, r {best[2]} chosen on dev, mean of 2 seeds" in printed
    )
    row = json.loads((out / "leaderboard.json").read_text())["ranked"][0]
    assert row["tuning"]["knob"] == sweep["knob"] and row["tuning"]["on_edge"] == sweep["on_edge"]
