"""tuneoff list: every registered strategy, data set and model source with every option, and every shipped
config, read from the code (so the list cannot drift from it)."""

from __future__ import annotations

import re
import tomllib

import pytest

from tuneoff.cli import main
from tuneoff.data import DATASETS
from tuneoff.models.sources import SOURCES
from tuneoff.plan.catalogue import first_sentence, toml_value, type_name
from tuneoff.plan.loading import shipped_configs
from tuneoff.strategies import STRATEGIES

REGISTRIES = {"strategies": STRATEGIES, "datasets": DATASETS, "models": SOURCES}
ENTRIES = [(kind, name) for kind, registry in REGISTRIES.items() for name in sorted(registry)]


@pytest.fixture(scope="module")
def printed() -> dict[str, str]:
    """Each listing as the command prints it (wide, so that no cell is cut)."""
    import io

    from rich.console import Console

    from tuneoff.plan.catalogue import table

    out = {}
    for kind in (*REGISTRIES, "configs"):
        console = Console(file=io.StringIO(), width=2000, emoji=False, highlight=False)
        console.print(table(kind))
        out[kind] = console.file.getvalue()
    return out


def cells(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("kind,name", ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_every_entry_is_listed_with_every_option_its_type_and_default(printed, kind, name):
    registry = REGISTRIES[kind]
    cls = registry[name]
    rows = cells(printed[kind])
    start = next(i for i, r in enumerate(rows) if r[0] == name)
    deviation = getattr(cls, "deviation", "")  # a strategy's known difference from its paper, with the reason
    assert (
        rows[start][4]
        == first_sentence(cls.__doc__) + (f" Differs from the paper: {deviation}." if deviation else "")
        != ""
    )
    options = []
    for row in rows[start + 1 :]:
        if row[0]:
            break
        options.append(row[1:4])
    expected = []
    for field, info in cls.model_fields.items():
        if field == registry.key:
            continue
        default = (
            "required"
            if info.is_required()
            else toml_value(info.default_factory() if info.default_factory else info.default)
        )
        expected.append([field, type_name(info.annotation), default])
    assert options == expected
    fields = ((f, i) for f, i in cls.model_fields.items() if f != registry.key)
    for row, (_field, info) in zip(rows[start + 1 :], fields):
        assert row[4].startswith(info.description or "")


def test_defaults_and_types_read_as_a_config_writes_them(printed):
    rows = cells(printed["strategies"])

    def options(name: str) -> dict:
        start = next(i for i, r in enumerate(rows) if r[0] == name)
        end = next((i for i in range(start + 1, len(rows)) if rows[i][0]), len(rows))
        return {r[1]: r[2:] for r in rows[start + 1 : end] if r[1]}

    listed = options("lora")
    assert listed["r"] == [
        "int",
        "8",
        "adapter rank; >= 1, <= 1024; the knob [tuning] crosses with the rate: "
        "[1, 2, 4, 8, 64] (Hu et al. 2021, §7.2, Table 6: r in {1, 2, 4, 8, 64})",
    ]
    assert listed["alpha"][2] == "scaling numerator: updates scale by alpha / r; > 0"  # not a knob: no note
    assert listed["target_modules"][:2] == ["tuple[str, ...] | None", "unset"]
    assert listed["init_lora_weights"][:2] == ['bool | "gaussian" | "pissa" | "olora"', "true"]
    assert listed["use_dora"][:2] == ["bool", "false"]
    distill = next(i for i, r in enumerate(rows) if r[0] == "distill")
    assert rows[distill + 1][1:4] == ["teacher", "str", "required"]
    assert options("wiseft")["alphas"][:2] == ["tuple[float, ...]", "[0.25, 0.5, 0.75, 1.0]"]
    hub = cells(printed["models"])
    assert ["", "revision", "str", '"main"', ""] in hub


def test_every_shipped_config_is_listed_with_its_description(printed):
    rows = {r[0]: r[1] for r in cells(printed["configs"]) if r[0]}
    assert sorted(rows) == sorted(name.removesuffix(".toml") for name in shipped_configs())
    for name, path in shipped_configs().items():
        raw = tomllib.loads(path.read_text())
        players = [p["name"] for p in raw["players"]]
        assert rows[name.removesuffix(".toml")] == (
            f"{raw['tournament']['description']} ({len(players)} players: {', '.join(players)})"
        )


def test_first_sentences_end_at_a_sentence_not_inside_parentheses_or_e_g():
    assert (
        first_sentence("Knowledge distillation (Hinton et al. 2015): the student.\n  More. Even more.")
        == "Knowledge distillation (Hinton et al. 2015): the student."
    )
    assert first_sentence("A set (e.g. SetFit/sst5, Yelp). Then.") == "A set (e.g. SetFit/sst5, Yelp)."
    assert first_sentence("Only one\n    line, wrapped.\n\nSecond paragraph.") == "Only one line, wrapped."


def test_the_command_prints_each_kind(capsys):
    assert main(["list", "strategies"]) == 0
    out = capsys.readouterr().out
    assert all(re.search(rf"│ {re.escape(n)}\s+│", out) for n in STRATEGIES)
    with pytest.raises(SystemExit):
        main(["list", "players"])
    assert "invalid choice: 'players'" in capsys.readouterr().err
