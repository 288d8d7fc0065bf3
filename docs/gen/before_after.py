"""Before and after: the same players on the seeds two published runs share, from their results/ folders.

Per player in both runs: test accuracy before and after (mean over the shared seeds, from ``per_seed``), the
change in points with a 95 % CI, and the same for SST-2 where both runs scored it on one seed. The two runs
trained separate models, so their predictions are not paired: the CI is the unpaired one, 1.96 times the root
of the summed binomial variances of the two accuracies. It ignores that both face the same sentences (which
would narrow it) and the seeds' spread (which one seed cannot show): a CI that covers 0 reads "no change
seen", never "no change". README.md's before-and-after block and benchmarks/before_after.py use it.
"""

from __future__ import annotations

import math

BEFORE_AFTER = ("<!-- before-after:start -->", "<!-- before-after:end -->")
BEFORE_AFTER_RUNS = ("zoo-robust-seed42", "zoo-robust-protocol")  # the robustness canon before and after issue 29
SST2_SENTENCES = 1821  # SST-5's test split without its neutral sentences

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
    shown = "0.00" if abs(diff) < 0.005 else f"{diff:+.2f}"  # never "-0.00" for an accuracy that did not move
    return f"{shown} [{diff - half:+.2f}, {diff + half:+.2f}]"


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
