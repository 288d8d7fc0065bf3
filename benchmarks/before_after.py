"""Before and after: the same players on the same seeds and test set, from two published runs under results/.

    python benchmarks/before_after.py results/zoo-robust-seed42 results/zoo-robust-protocol [--out FILE]

Per player present in both runs: test accuracy before and after (mean over the seeds both runs share, from
``per_seed``), the change in points with a 95 % CI, and the same for the SST-2 transfer set where both runs
have it. The two runs trained separate models, so their predictions are not paired: the CI is the unpaired
one, 1.96 times the root of the summed binomial variances of the two accuracies on the shared seeds'
sentences. It ignores that both runs face the same sentences (which would narrow it) and the seeds' spread
(which one seed cannot show), so read a CI that covers 0 as "no change seen", never as "no change".
Both runs' ``summary.json`` (and ``leaderboard.json`` where kept) are read through docs/gen/results.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from results_file import append  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
from gen.results import load  # noqa: E402  (docs/gen, the one reader of results/)

Z = 1.959964


def on_seeds(accuracy: dict, seeds: list[int], run_seeds: list[int]) -> float | None:
    """Mean accuracy (points) over the given seeds, from per_seed in the run's seed order; None if any is missing."""
    per_seed = dict(zip(run_seeds, accuracy.get("per_seed") or [], strict=False))
    if not all(s in per_seed for s in seeds):
        return None
    return sum(per_seed[s] for s in seeds) / len(seeds)


def change(before: float, after: float, sentences: int) -> str:
    """after − before in points, with the unpaired 95 % CI of two binomial proportions on ``sentences`` each."""
    var = sum(a / 100 * (1 - a / 100) / sentences for a in (before, after))
    half = Z * 100 * math.sqrt(var)
    diff = after - before
    return f"{diff:+.2f} [{diff - half:+.2f}, {diff + half:+.2f}]"


def rows(before: dict, after: dict, seeds: list[int], sst2_sentences: int) -> list[list[str]]:
    """One row per player of the after run that the before run also has, in the after run's order."""
    old = {p["player"]: p for p in before["players"]}
    out = []
    for p in after["players"]:
        if p["player"] not in old:
            continue
        q = old[p["player"]]
        a0, a1 = on_seeds(q["accuracy"], seeds, before["seeds"]), on_seeds(p["accuracy"], seeds, after["seeds"])
        if a0 is None or a1 is None:
            continue
        cells = [
            f"`{p['player']}`",
            p["strategy"],
            f"{a0:.2f}%",
            f"{a1:.2f}%",
            change(a0, a1, before["test_set"]["sentences"] * len(seeds)),
        ]
        s0, s1 = q.get("extra", {}).get("sst2"), p.get("extra", {}).get("sst2")
        if s0 and s1 and len(seeds) == 1 == len(before["seeds"]) == len(after["seeds"]):
            cells += [f"{s0['mean']:.2f}%", f"{s1['mean']:.2f}%", change(s0["mean"], s1["mean"], sst2_sentences)]
        else:
            cells += ["", "", ""]
        out.append(cells)
    return out


def table(before: dict, after: dict, sst2_sentences: int) -> str:
    seeds = [s for s in after["seeds"] if s in before["seeds"]]
    header = [
        "player",
        "strategy",
        "SST-5 before",
        "SST-5 after",
        "change, points [95 % CI]",
        "SST-2 before",
        "SST-2 after",
        "change, points [95 % CI]",
    ]
    lines = [
        f"Seeds both runs share: {', '.join(map(str, seeds))}. Before: `{before['command']}` at "
        f"{before['provenance']['commit']} ({before['date']}). After: `{after['command']}` at "
        f"{after['provenance']['commit']} ({after['date']}, {after.get('wall_clock', 'wall clock not kept')}).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows(before, after, seeds, sst2_sentences)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--sst2-sentences",
        type=int,
        default=1821,
        help="SST-2 transfer set's size (SST-5 test without its neutral sentences)",
    )
    parser.add_argument("--out", type=Path, help="append the table to this file")
    args = parser.parse_args()
    schema = json.loads((ROOT / "results" / "summary.schema.json").read_text(encoding="utf-8"))
    text = table(load(args.before, schema), load(args.after, schema), args.sst2_sentences)
    print(text)
    if args.out:
        append(args.out, f"### Before and after: {args.before.name} → {args.after.name}\n\n{text}\n")


if __name__ == "__main__":
    main()
