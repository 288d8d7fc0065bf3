"""Generate the docs' references and results pages from the code and from results/: one command.

    python docs/generate.py              # rewrite docs/reference/, docs/results/ and README.md's results teaser
    python docs/generate.py --check      # write nothing; exit 1 naming every page (or README.md) that differs
    python docs/generate.py --out DIR    # write the docs pages under DIR, README.md untouched (tests compare them)

Nothing in docs/reference/ or docs/results/ is written by hand: the CLI reference comes from tuneoff.cli's
argparse parser; the config, strategy, data-set and model references from the pydantic models that
``tuneoff list`` reads (plan/catalogue.py); the run-folder reference from the store's docstrings and
src/tuneoff/schema/*.json; the results pages from results/<run>/ (summary.json, or a run's leaderboard.json), and
README.md's results teaser (between its results-teaser markers) from the same files.
This script sits outside the package (it reads every stage, so no stage may own it) and ships in no wheel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(DOCS), str(ROOT / "src")]  # gen/ beside this file, then this checkout's tuneoff

from gen import reference, results, runfolder  # noqa: E402

README = ROOT / "README.md"


def pages() -> dict[str, str]:
    """Every generated page: path relative to docs/ -> text."""
    return {**reference.pages(), **runfolder.pages(), **results.pages(ROOT / "results")}


def readme() -> str:
    """README.md as it should be: its text, with the results teaser between its markers generated from results/."""
    return results.with_teaser(README.read_text(encoding="utf-8"), ROOT / "results")


def write(out: Path, generated: dict[str, str]) -> None:
    """Write every page under ``out``; generated pages that no longer exist are removed."""
    for folder in ("reference", "results"):
        for old in (out / folder).glob("**/*.md") if (out / folder).is_dir() else ():
            if old.relative_to(out).as_posix() not in generated:
                old.unlink()
    for name, text in generated.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def differences(generated: dict[str, str], docs: Path = DOCS) -> list[str]:
    """Pages whose committed text is not what the code and results/ generate now (or that no longer exist)."""
    stale = [
        name
        for name, text in generated.items()
        if not (docs / name).is_file() or (docs / name).read_text(encoding="utf-8") != text
    ]
    for folder in ("reference", "results"):
        stale += [
            p.relative_to(docs).as_posix()
            for p in sorted((docs / folder).glob("**/*.md"))
            if p.relative_to(docs).as_posix() not in generated
        ]
    return stale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DOCS, help="where to write (default: docs/)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed page differs")
    args = ap.parse_args(argv)
    generated = pages()
    if args.check:
        stale = [f"docs/{name}" for name in differences(generated)]
        stale += ["README.md"] if readme() != README.read_text(encoding="utf-8") else []
        for name in stale:
            print(f"{name}: differs from what the code and results/ generate; run python docs/generate.py")
        return 1 if stale else 0
    write(args.out, generated)
    here = args.out.resolve() == DOCS  # --out elsewhere (the tests): the docs pages only
    if here:
        README.write_text(readme(), encoding="utf-8")
    print(f"{len(generated)} pages written under {args.out}" + (", and README.md's teaser" if here else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
