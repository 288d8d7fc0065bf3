"""Before and after: the same players on the same seeds and test set, from two published runs under results/.

    python benchmarks/before_after.py results/zoo-robust-seed42 results/zoo-robust-protocol [--out FILE]

Per player present in both runs: test accuracy before and after (mean over the seeds both runs share, from
``per_seed``), the change in points with a 95 % CI, and the same for the SST-2 transfer set where both runs
have it. The two runs trained separate models, so their predictions are not paired: the CI is the unpaired
one, 1.96 times the root of the summed binomial variances of the two accuracies on the shared seeds'
sentences. It ignores that both runs face the same sentences (which would narrow it) and the seeds' spread
(which one seed cannot show), so read a CI that covers 0 as "no change seen", never as "no change".
Both runs' ``summary.json`` (and ``leaderboard.json`` where kept) are read through docs/gen/results.py, and the
table is docs/gen/before_after.py's, the one README.md's before-and-after block shows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from results_file import append  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
from gen.before_after import SST2_SENTENCES, table  # noqa: E402  (docs/gen: the README block uses it too)
from gen.results import load  # noqa: E402  (docs/gen, the one reader of results/)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--sst2-sentences",
        type=int,
        default=SST2_SENTENCES,
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
