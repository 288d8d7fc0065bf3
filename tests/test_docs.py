"""The docs' generated pages: the references (CLI, config, registries, run folder) and the results pages are what
``python docs/generate.py`` makes from the code and from results/ now, so they cannot drift; a run's own
leaderboard.json dropped under results/ becomes its page."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import noisy

from tuneoff.verdict import rules

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

from gen import results  # noqa: E402  (docs/gen, beside the generator)


def generate(out: Path, root: Path = ROOT) -> dict[str, str]:
    """Run the generator of ``root`` as CI would, into ``out``; every page it wrote, by path under docs/."""
    done = subprocess.run(
        [sys.executable, str(root / "docs" / "generate.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*.md")}


def drift(generated: dict[str, str], docs: Path) -> list[str]:
    committed = {
        p.relative_to(docs).as_posix() for folder in ("reference", "results") for p in (docs / folder).rglob("*.md")
    }
    return sorted(
        name
        for name in set(generated) | committed
        if name not in generated
        or not (docs / name).is_file()
        or (docs / name).read_text(encoding="utf-8") != generated[name]
    )


def test_committed_references_and_results_pages_are_what_the_code_generates(tmp_path):
    generated = generate(tmp_path)
    expected = {f"reference/{n}.md" for n in ("cli", "config", "strategies", "datasets", "models", "run-folder")}
    assert expected <= set(generated)
    assert {"results/index.md", "results/zoo-robust.md"} <= set(generated)
    stale = drift(generated, DOCS)
    assert not stale, (
        f"{', '.join(stale)}: differ from what the code and results/ generate; run python docs/generate.py"
    )


def test_an_edited_results_file_is_a_drift(tmp_path):
    """The check above turns red when a results file changes and its page is not regenerated."""
    copy = tmp_path / "repo"
    for part in ("docs", "results"):
        shutil.copytree(ROOT / part, copy / part)
    (copy / "src").symlink_to(ROOT / "src")
    summary = copy / "results" / "zoo-cpu" / "summary.json"
    summary.write_text(summary.read_text(encoding="utf-8").replace("51.31", "51.32", 1), encoding="utf-8")
    assert drift(generate(tmp_path / "out", copy), copy / "docs") == ["results/zoo-cpu.md"]


def test_every_cli_option_is_in_the_reference():
    from tuneoff import cli

    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    flags = {
        s
        for a in cli.parser()._subparsers._group_actions[0].choices.values()
        for x in a._actions
        for s in x.option_strings
        if s not in ("-h", "--help")
    }
    assert {"--force", "--ray-runtime-env"} <= flags
    assert [f for f in sorted(flags) if f"`{f}`" not in page] == []


def _dropped_in_run(root: Path) -> None:
    """results/ with one run whose folder was kept: its summary names what ran, its leaderboard.json the rest."""
    shutil.copy(ROOT / "results" / "summary.schema.json", root)
    runs = [
        noisy(name, acc, n=2000, rng_seed=seed, seed=seed)
        for name, acc in (("full", 0.62), ("lora", 0.50))
        for seed in (42, 43)
    ]
    (root / "new-run").mkdir()
    (root / "new-run" / "leaderboard.json").write_text(json.dumps(rules.build(runs)), encoding="utf-8")
    (root / "new-run" / "summary.json").write_text(
        json.dumps(
            {
                "schema": "tuneoff.results-summary/1",
                "run": "new-run",
                "title": "A kept run",
                "config": "offline",
                "command": "tuneoff run offline",
                "date": "2026-12-01",
                "machine": "a test",
                "seeds": [42, 43],
                "test_set": {"name": "sst5", "sentences": 2000},
                "provenance": {"source": "runs/new-run", "commit": "HEAD", "how": "copied"},
            }
        ),
        encoding="utf-8",
    )


def test_a_runs_own_leaderboard_json_makes_its_page(tmp_path):
    _dropped_in_run(tmp_path)
    board = json.loads((tmp_path / "new-run" / "leaderboard.json").read_text())
    pages = results.pages(tmp_path)
    page = pages["results/new-run.md"]
    best, second = board["ranked"]
    assert best["player"] == "full"
    assert "| `full` |" in page and f"{best['test_accuracy']:.2%} ± {100 * best['test_accuracy_std']:.2f}" in page
    lo, hi = second["test_accuracy_ci95"]
    assert f"{lo:.2%} – {hi:.2%}" in page
    pair = board["pairwise"][0]
    assert f"full − lora | {pair['diff']:+.2f} [{pair['ci95'][0]:+.2f}, {pair['ci95'][1]:+.2f}]" in page
    assert "[A kept run](new-run.md)" in pages["results/index.md"]


def test_a_summary_outside_its_schema_is_refused(tmp_path):
    _dropped_in_run(tmp_path)
    summary = tmp_path / "new-run" / "summary.json"
    summary.write_text(summary.read_text().replace('"date": "2026-12-01"', '"date": "December"'))
    with pytest.raises(Exception, match="December"):
        results.pages(tmp_path)


def test_p_values_are_never_printed_as_zero():
    """The pages write p-values as the board does (verdict/format.py): a bound, never 'p = 0'."""
    assert (
        results.diff_text({"diff": -11.13, "ci95": [-13.64, -8.62], "p_holm": 0.0})
        == "-11.13 [-13.64, -8.62], p < 1e-15"
    )
    assert (
        results.diff_text({"diff": -4.12, "ci95": [-6.26, -1.97], "p_holm": 0.001, "p_below": True})
        == "-4.12 [-6.26, -1.97], p < 0.001"
    )
    assert results.diff_text({"diff": 0.5}) == "+0.50" and results.diff_text(None) == "best"
    pages = "".join(results.pages(ROOT / "results").values())
    assert "p = 0 " not in pages and "| 0 |" not in pages


# --- the README: short, with CI's test command, a teaser generated from results/, links that resolve -----------

README = ROOT / "README.md"
TEST_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -q torch==2.13.0 && "
    "pip install -q -e '.[dev,ray]' && pytest -q"
)


def test_the_readme_is_short_and_holds_the_test_command_ci_runs():
    """A newcomer reads it in two minutes; CI (.ci/run) runs the README's test command verbatim."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; keep it at 200 or fewer (the rest goes in docs/)"
    assert TEST_COMMAND in lines, "README.md must hold the test command on a line of its own, verbatim"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert TEST_COMMAND in ci, ".ci/run must run the README's test command verbatim"


def test_the_readme_teaser_is_what_results_generates():
    text = README.read_text(encoding="utf-8")
    start, end = results.TEASER
    teaser = text.split(start, 1)[1].split(end, 1)[0]
    assert "% – " in teaser, "the teaser between the markers is empty; run python docs/generate.py"
    assert results.with_teaser(text, ROOT / "results") == text, (
        "README.md's results teaser differs from results/; run python docs/generate.py"
    )


def test_an_edited_results_file_makes_the_readme_teaser_drift(tmp_path):
    """The check above turns red when the teaser's run changes and the README is not regenerated."""
    shutil.copytree(ROOT / "results", tmp_path / "results")
    summary = tmp_path / "results" / results.TEASER_RUN / "summary.json"
    summary.write_text(summary.read_text(encoding="utf-8").replace("51.1,", "51.2,", 1), encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    assert results.with_teaser(text, tmp_path / "results") != text


def test_the_readmes_links_resolve():
    """Relative links (docs/*.md, results/, benchmarks/RESULTS.md) name files that exist, so they work on GitHub."""
    import re

    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]
    assert any(link.startswith("docs/") for link in local)
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_the_strategies_guide_has_a_row_for_every_registered_strategy_and_each_deviation():
    """The guide's table (paper, what tuneoff does, where it differs) is written by hand: a registered strategy
    without a row, or one whose class names a deviation while its row says it follows the paper, fails here."""
    from tuneoff.strategies import STRATEGIES

    rows = {}
    for line in (ROOT / "docs" / "guides" / "strategies.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(STRATEGIES), (
        f"rows without a strategy or strategies without a row: {set(rows) ^ set(STRATEGIES)}"
    )
    quiet = [n for n, cls in STRATEGIES.items() if cls.deviation and rows[n][-1] in ("", "–", "-", "none")]
    assert not quiet, f"{quiet} name a deviation on their class but not in docs/guides/strategies.md"


def test_the_readmes_before_and_after_table_is_generated_from_both_runs(tmp_path):
    """The block holds a row per player both runs have; an edited accuracy in either run makes it drift."""
    from gen import before_after

    text = README.read_text(encoding="utf-8")
    start, end = before_after.BEFORE_AFTER
    block = text.split(start, 1)[1].split(end, 1)[0]
    assert block.count("\n| `") == 13 and "| `lpft` | lpft |" in block
    shutil.copytree(ROOT / "results", tmp_path / "results")
    summary = tmp_path / "results" / before_after.BEFORE_AFTER_RUNS[0] / "summary.json"
    edited = json.loads(summary.read_text(encoding="utf-8"))
    edited["players"][0]["accuracy"]["per_seed"] = [40.0]
    summary.write_text(json.dumps(edited), encoding="utf-8")
    assert results.with_teaser(text, tmp_path / "results") != text
