"""Registries: adding a strategy, model source or data set is a class and a decorator, or an entry point."""

from __future__ import annotations

from typing import Literal

import pytest

from tuneoff.data import DATASETS
from tuneoff.models.sources import SOURCES
from tuneoff.options import Options
from tuneoff.registry import Registry
from tuneoff.strategies import STRATEGIES, Full


@pytest.mark.parametrize("registry", [STRATEGIES, SOURCES, DATASETS], ids=lambda r: r.what)
def test_every_entry_is_registered_under_its_own_name(registry):
    assert len(registry) >= 3
    for name, cls in registry.items():
        assert cls.model_fields[registry.key].default == name and cls.__doc__


def test_every_strategy_builds_from_its_declared_example():
    for name, cls in STRATEGIES.items():
        assert cls(**cls.example).name == name


class Thing(Options):
    """A stand-in entry."""

    kind: Literal["thing"] = "thing"


def test_register_is_a_decorator_and_refuses_a_second_class_under_one_name():
    registry = Registry("widget", "kind", "tuneoff.test-widgets")
    assert registry.register(Thing) is Thing and registry.lookup("thing") is Thing
    registry.register(Thing)  # the same class again is harmless

    class Other(Options):
        kind: Literal["thing"] = "thing"

    with pytest.raises(ValueError, match="widget 'thing' is registered twice: Thing and Other"):
        registry.register(Other)
    with pytest.raises(ValueError, match=r"unknown widget 'gadget'; choices: \['thing'\]"):
        registry.lookup("gadget")


def test_a_users_package_registers_through_an_entry_point(monkeypatch, tmp_path):
    """A config names a strategy that only a third-party package (its entry point) provides."""
    from importlib import metadata

    from tuneoff.plan.loading import load_config

    class Mine(Full):
        """A user's own strategy: full fine-tuning under another name."""

        name: Literal["mine"] = "mine"

    class Entry:
        def load(self):
            return Mine

    monkeypatch.setattr(metadata, "entry_points", lambda group: [Entry()] if group == "tuneoff.strategies" else [])
    monkeypatch.setattr(STRATEGIES, "_plugins_loaded", False)
    monkeypatch.delitem(STRATEGIES, "mine", raising=False)
    try:
        (tmp_path / "c.toml").write_text(
            '[tournament]\nname = "t"\n[[players]]\nname = "a"\n'
            'model = { kind = "random", size = "tiny" }\nstrategy = { name = "mine" }\n'
        )
        assert type(load_config(tmp_path / "c.toml").players[0].strategy) is Mine
    finally:
        STRATEGIES.pop("mine", None)


def test_a_job_identity_leaves_out_exactly_the_data_sets_path_options(tmp_path):
    from tuneoff.plan.config import Player, Protocol
    from tuneoff.plan.jobs import identity

    player = Player(name="a", model={"kind": "random", "size": "tiny"}, strategy={"name": "full"})
    csv = DATASETS["csv"]
    here = csv(train="a/train.csv", dev="a/dev.csv", test="a/test.csv")
    moved = csv(train="b/train.csv", dev="b/dev.csv", test="b/test.csv")
    sha = {"train": "1", "dev": "2", "test": "3"}
    assert identity(player, Protocol(), here, sha) == identity(player, Protocol(), moved, sha)
    assert identity(player, Protocol(), here, sha) != identity(player, Protocol(), here, {**sha, "test": "4"})
    other = csv(train="a/train.csv", dev="a/dev.csv", test="a/test.csv", text_column="sentence")
    assert identity(player, Protocol(), here, sha) != identity(player, Protocol(), other, sha)
    assert set(csv.relative_paths) == {"train", "dev", "test"} and DATASETS["sst5"].relative_paths == ("dir",)
