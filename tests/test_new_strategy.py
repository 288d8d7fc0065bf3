"""Adding a strategy edits no test file: one registered from a temporary module is picked up by every suite
parametrised over the registered strategies, and passes their checks (the same helpers, strategy_checks.py); a
wrong declaration, or an apply that trains something else than declared, turns them red."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from factories import TINY_ARCHS  # tests/ is on sys.path
from strategy_checks import check_capturable, check_learns_and_reloads, check_promise

import tuneoff
from tuneoff.strategies import STRATEGIES, Full
from tuneoff.strategies.promise import Added, Trains

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TESTS = Path(__file__).resolve().parent
MODULE = '''
from typing import ClassVar, Literal

from tuneoff.strategies import STRATEGIES, Full


@STRATEGIES.register
class Mine(Full):
    """A strategy registered from a module no test file names: full fine-tuning under another name."""

    name: Literal["mine"] = "mine"
    default_lr: ClassVar[float] = 3e-5
'''


@pytest.fixture
def module(tmp_path, monkeypatch):
    """The temporary module's name, importable from tmp_path; what it registers is removed afterwards."""
    (tmp_path / "mine_strategy.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mine_strategy"
    STRATEGIES.pop("mine", None)
    sys.modules.pop("mine_strategy", None)


def test_every_suite_parametrised_over_the_strategies_collects_one_registered_elsewhere(module, tmp_path):
    builtin = set(STRATEGIES)
    suites = sorted(
        f"tests/{p.name}"
        for p in TESTS.glob("test_*.py")  # the files parametrised over strategies
        if 'parametrize("name", sorted(STRATEGIES)' in p.read_text() and p.name != Path(__file__).name
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(tuneoff.__file__).parents[1])]),
        "HF_HUB_OFFLINE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", module, "-p", "no:cacheprovider", *suites],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ids: dict[str, list[set]] = {}
    for line in out.stdout.splitlines():
        if "::" in line and "[" in line:
            function, params = line.split("[", 1)
            ids.setdefault(function, []).append(set(params.rstrip("]").split("-")))
    over_all = {f: cases for f, cases in ids.items() if builtin <= set().union(*cases)}
    assert {f.split("::")[0] for f in over_all} == set(suites) and len(suites) >= 3
    for function, cases in over_all.items():  # as many cases for the new strategy as for full (one per arch ...)
        assert sum("mine" in c for c in cases) == sum("full" in c for c in cases) >= 1, function


def test_one_registered_elsewhere_passes_the_checks_of_what_it_trains_captures_learns_and_reloads(
    module, tiny_folders, tmp_path
):
    importlib.import_module(module)
    for arch in TINY_ARCHS:
        check_promise(tiny_folders, arch, "mine")
    check_capturable("mine")
    check_learns_and_reloads(tiny_folders, "distilbert", "mine", tmp_path)


class Mislabelled(Full):
    """Declares what BitFit trains, but trains every weight as full fine-tuning does."""

    name: Literal["mislabelled"] = "mislabelled"
    trains: ClassVar[Trains] = Trains(base="biases")


class HalfFrozen(Full):
    """Declares every weight, but its apply leaves the embeddings frozen."""

    name: Literal["half_frozen"] = "half_frozen"

    def apply(self, model, setup):
        model, warnings = super().apply(model, setup)
        for n, q in model.named_parameters():
            q.requires_grad_(not n.startswith(setup.roles.embedding_prefixes()))
        return model, warnings


class FewerAdapters(STRATEGIES["lora"]):
    """Declares LoRA's adapters on every projection, but its example targets only the queries and values."""

    name: Literal["fewer_adapters"] = "fewer_adapters"
    example: ClassVar[dict] = {"target_modules": ["q_lin", "v_lin"]}


class WronglyCapturable(Full):
    """Declares its steps capturable, but acts on the model between steps."""

    name: Literal["wrongly_capturable"] = "wrongly_capturable"

    def after_step(self, model, setup, step):
        pass


@pytest.mark.parametrize(
    ("cls", "check", "says"),
    [
        (Mislabelled, lambda folders, tmp: check_promise(folders, "distilbert", "mislabelled"), "does not declare"),
        (HalfFrozen, lambda folders, tmp: check_promise(folders, "bert", "half_frozen"), "does not train"),
        (
            FewerAdapters,
            lambda folders, tmp: check_promise(folders, "distilbert", "fewer_adapters"),
            "declared 'lora_A' at 'distilbert.transformer.layer.0.attention.k_lin'",
        ),
        (WronglyCapturable, lambda folders, tmp: check_capturable("wrongly_capturable"), "declares capturable = True"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_a_wrong_declaration_or_an_apply_that_breaks_it_turns_the_checks_red(
    cls, check, says, monkeypatch, tiny_folders, tmp_path
):
    monkeypatch.setitem(STRATEGIES, cls.model_fields["name"].default, cls)
    with pytest.raises(AssertionError, match=says):
        check(tiny_folders, tmp_path)


def test_a_declaration_names_only_sites_the_role_table_knows_and_base_top_its_option():
    with pytest.raises(ValueError, match="sites must be among"):
        Added(("lora_A",), ("q_lin",))
    with pytest.raises(ValueError, match="base 'top' needs the option"):
        Trains(base="top")
    with pytest.raises(ValueError, match="and only it"):
        Trains(base="every", top="k")
