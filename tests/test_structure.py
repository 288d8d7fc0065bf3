"""The house: imports only go down the stages, no import cycles, the run folder has one owner, and reading
a run (report, leaderboard, compare) never imports torch."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import make_run

import tuneoff

PACKAGE = Path(tuneoff.__file__).parent


def test_import_contracts_hold():
    """import-linter's layers contract for the stage folders, and torch kept out of plan, store, verdict, report."""
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run(
        [lint, "--config", str(PACKAGE.parents[1] / ".importlinter")],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parents[1],
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), imports inside functions included."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    import grimp

    assert cycles(grimp.build_graph("tuneoff")) == []


def test_the_cycle_finder_finds_a_cycle():
    class Graph:  # a -> b -> c -> a, d alone
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges.get(m, set())

    assert cycles(Graph()) == [["a", "b", "c"]]


FILE_NAMES = (
    r"(result|tuning|manifest|tournament|leaderboard)\.json|tuneoff\.lock|leaderboard\.(md|csv)"
    r"|report\.(html|md)"
)
RUN_FOLDER_NAMES = re.compile(
    rf"""["'/]({FILE_NAMES})["']"""  # a file of the run folder, in a string
    r"""|/\s*["'](players|checkpoint)["']"""  # a folder of it, joined onto a path
    r"""|["'](players|checkpoint)/"""  # or at the start of a path string
)


def test_only_the_store_spells_the_run_folder():
    """Outside store/, no module spells a file or folder name of the run folder (docstrings and help text may)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "store":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if RUN_FOLDER_NAMES.search(code) and "help=" not in code and not code.strip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_run_folder_check_would_catch_a_spelled_path():
    for spelled in (
        'folder / "players" / name',
        "path / 'result.json'",
        'f"players/{name}/seed-1"',
        'run / "checkpoint"',
        'open("leaderboard.md")',
    ):
        assert RUN_FOLDER_NAMES.search(spelled), spelled
    for fine in ("run.job(name, label).result_path", 'config["players"]', 'result["checkpoint"]["path"]'):
        assert not RUN_FOLDER_NAMES.search(fine), fine


P_NAMES = {"p", "p_holm", "p_vs_best", "p_value", "pvalue"}
P_BEFORE = re.compile(r"(?<![A-Za-z0-9_])p\s*[=<]?\s*$")  # "p = {...}", "p={...}", "Holm p {...}"


def _names(node: ast.AST) -> list:
    """What an expression reads: a variable's name, an attribute's, a subscript's key (p, q["p_holm"], x.p)."""
    if isinstance(node, ast.Subscript):
        return [node.slice.value] if isinstance(node.slice, ast.Constant) else []
    if isinstance(node, (ast.Attribute, ast.Name)):
        return [node.attr if isinstance(node, ast.Attribute) else node.id]
    return [name for child in ast.iter_child_nodes(node) for name in _names(child)]


def p_value_formatting(source: str) -> list[int]:
    """Lines of a module that write a p-value themselves: an f-string placeholder of a p with a g/e format, or any
    placeholder right after "p = ", "p=" or "p "; and the underflow bound 1e-15 (a guard of its own)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            for before, part in zip([None, *node.values], node.values):
                if not isinstance(part, ast.FormattedValue):
                    continue
                spec = "".join(v.value for v in getattr(part.format_spec, "values", []) if isinstance(v, ast.Constant))
                led = isinstance(before, ast.Constant) and P_BEFORE.search(str(before.value))
                if led or (P_NAMES & set(_names(part.value)) and re.search(r"[gGeE]$", spec)):
                    lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and (node.value == 1e-15 or "1e-15" in str(node.value)):
            lines.append(node.lineno)
    return sorted(set(lines))


FORMATTING_OWNER = PACKAGE / "verdict" / "format.py"


def test_only_the_formatting_module_writes_p_values():
    """p-values are written by verdict/format.py alone (its underflow guard included), in the package, the
    benchmarks and the docs generator."""
    root = PACKAGE.parents[1]
    modules = [*PACKAGE.rglob("*.py"), *(root / "benchmarks").glob("*.py"), *(root / "docs").rglob("*.py")]
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(modules)
        if path != FORMATTING_OWNER
        for n in p_value_formatting(path.read_text())
    ]
    assert offenders == []


def test_the_p_value_check_would_catch_one_written_by_hand():
    for written in (
        'f"p = {p:.3g}"',
        "f\"{q['p_holm']:.3g}\"",
        'f"(p={x})"',
        "f\"Holm p {pair['p_holm']}\"",
        '"< 1e-15" if p < 1e-15 else str(p)',
        "f\"{r['p_vs_best']:.2e}\"",
    ):
        assert p_value_formatting(written), written
    for fine in (
        "f\"{p['diff']:+.2f}\"",
        "f\"{r['train_seconds']:.3g} s\"",
        'f"step {n}"',
        "f\"{p['power']:.0%}\"",
        'f"{p_is(p)}"',
        "f\"{p['range'][0]:.2f}\"",
        "f\"{p['bonus']:g}\"",
    ):
        assert not p_value_formatting(fine), fine


@pytest.mark.parametrize("command", ["report", "leaderboard", "compare"])
def test_reading_a_run_never_imports_torch(tmp_path, command):
    folder = make_run(tmp_path / "run")
    written = {
        "report": folder / "report.html",
        "leaderboard": folder / "leaderboard.json",
        "compare": tmp_path / "compare.json",
    }[command]
    argv = [command, str(folder)] + ([str(folder), "--json", str(written)] if command == "compare" else [])
    code = (
        f"import sys; from tuneoff.cli import main; code = main({argv!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'transformers' not in sys.modules, 'transformers imported'; sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: the run has a failed player, as made
    assert "imported" not in done.stderr
    assert written.is_file()


def test_the_torch_check_sees_torch_when_it_is_imported(tmp_path):
    code = "import sys, torch; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "torch imported" in done.stderr


def test_the_plan_is_torch_free():
    code = (
        "import sys, tuneoff.plan.loading, tuneoff.plan.jobs, tuneoff.verdict.board, tuneoff.report.build; "
        "assert not {'torch', 'transformers', 'peft'} & set(sys.modules), 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


CHECKPOINT_NAMES = r"(model|adapter|base|checkpoint)"
CHECKPOINT_SPELLED = re.compile(
    rf"""/\s*["']{CHECKPOINT_NAMES}["']"""  # a checkpoint subfolder joined onto a path: folder / "adapter"
    rf"""|["'/}}]{CHECKPOINT_NAMES}/|/{CHECKPOINT_NAMES}["']"""  # in a path string: f"{name}/model", "base/x"
    rf"""|^\s*[A-Z_]+\s*=\s*["']{CHECKPOINT_NAMES}["']"""  # a constant naming one: BASE_FOLDER = "base"
    r"""|\[\s*["']checkpoint["']\s*\](?!\s*=[^=])|\.get\(\s*["']checkpoint["']"""  # the result's record read
)


def test_only_the_store_spells_the_checkpoint():
    """Outside store/, no module spells a checkpoint subfolder (model/, adapter/, base/, an exported adapter's
    base/) or reads the result's checkpoint record: store.checkpoint owns the layout and the record."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "store":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if CHECKPOINT_SPELLED.search(code) and not code.strip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_checkpoint_check_would_catch_a_spelled_subfolder():
    for spelled in (
        'folder / "model"',
        "out / 'base'",
        'f"{folder.name}/adapter"',
        '"checkpoint/model"',
        'BASE_FOLDER = "base"',
        'result["checkpoint"]["path"]',
        'result.get("checkpoint", {})',
        'if result["checkpoint"] == {}',
    ):
        assert CHECKPOINT_SPELLED.search(spelled), spelled
    for fine in (
        'result["player"]["model"]',
        'repo_type="model"',
        'size: Literal["tiny", "base"] = "small"',
        "checkpoint.adapter",
        'record["model"] = {}',
        'result["checkpoint"] = strategy.save(...)',
    ):
        assert not CHECKPOINT_SPELLED.search(fine), fine


STATUS_OWNER = PACKAGE / "store" / "status.py"


def spelled_statuses(source: str, words: set[str]) -> list[tuple[int, str]]:
    """(line, word) of every string constant in ``source`` that is exactly one of ``words`` (docstrings,
    messages and f-string pieces that merely contain one are not)."""
    import ast

    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in words
    )


def test_only_the_status_owner_spells_a_status():
    """Status words (what a record's ``status`` holds, the schemas' enum) appear as string literals only in
    store/status.py; every other module compares with ``Status`` members."""
    import json

    from tuneoff.store.status import Status

    words = {s.value for s in Status}
    for schema in ("result", "tuning"):
        enum = json.loads((PACKAGE / "schema" / f"{schema}.schema.json").read_text())["properties"]["status"]["enum"]
        assert set(enum) == words, schema
    assert words == {"running", "completed", "failed", "interrupted"}
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: {word!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != STATUS_OWNER
        for line, word in spelled_statuses(path.read_text(), words)
    ]
    assert offenders == []
    assert spelled_statuses(STATUS_OWNER.read_text(), words)  # the owner does spell them


def test_the_status_check_would_catch_a_spelled_status():
    words = {"running", "completed", "failed", "interrupted"}
    for spelled in (
        'r["status"] == "completed"',
        "status = 'failed'",
        'x in ("running", "interrupted")',
        'record.update(status="interrupted")',
    ):
        assert spelled_statuses(spelled, words), spelled
    for fine in (
        'r["status"] == Status.COMPLETED',
        'f"{n} failed"',
        '"""A job left running."""',
        'print("completed in 3 s")',
    ):
        assert not spelled_statuses(fine, words), fine


MAX_FUNCTION_LINES = 60  # the house's rule: a function reads in one screen


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """Functions (methods and nested ones included) whose body, docstring included, spans more than ``limit``
    lines, as (name, lines); decorators do not count."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


def test_no_function_is_over_sixty_lines():
    found = {
        f"{path.relative_to(PACKAGE)}: {name}": lines
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, lines in long_functions(path.read_text(encoding="utf-8"))
    }
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines (split them): {found}"


def test_the_length_check_would_catch_a_long_function():
    body = "".join(f"x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    indented = "".join(f"        {line}\n" for line in body.splitlines())
    assert long_functions(f"class A:\n    def f(self):\n{indented}") == [("f", MAX_FUNCTION_LINES + 1)]
    assert long_functions("def f():\n" + "".join(f"    {line}\n" for line in body.splitlines())) != []
    assert long_functions("def f():\n" + "".join(f"    {line}\n" for line in body.splitlines()[1:])) == []
