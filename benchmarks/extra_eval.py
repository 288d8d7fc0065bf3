"""Score a finished run's kept checkpoints on an extra test set, for runs made before it was configured.

    python benchmarks/extra_eval.py RUN_DIR --data-dir ../shared/sst5 [--dataset sst2] [--out benchmarks/RESULTS.md]

Uses the same scoring as a configured [[eval]] entry (tuneoff.training.evaluate.score_extra): SST-5's
five labels map to SST-2's two (0-1 negative, 3-4 positive); neutral predictions count as
wrong. Prints per player the accuracy per seed and the mean; writes nothing into the run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from results_file import append  # this folder is on sys.path when run as a script

from tuneoff.data import DATASETS
from tuneoff.plan.config import Protocol
from tuneoff.store.runfolder import RunFolder
from tuneoff.strategies import load_checkpoint
from tuneoff.training.evaluate import Extra, score_extra

SST5_TO_SST2 = {"very negative": "negative", "negative": "negative", "positive": "positive",
                "very positive": "positive"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--dataset", default="sst2")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    other = DATASETS[args.dataset]().load(args.data_dir)
    scores: dict[str, list[float]] = {}
    for r in RunFolder(args.run_dir).results():
        if r["status"] != "completed":
            continue
        mapping = tuple(other.labels.index(SST5_TO_SST2[n]) if n in SST5_TO_SST2 else -1 for n in r["labels"])
        folder = args.run_dir / "players" / r["player"]["name"] / f"seed-{r['seed']}"
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder / r["checkpoint"]["path"])
        model = load_checkpoint(folder, r["checkpoint"])
        p = Protocol(max_seq_len=r["protocol"]["max_seq_len"], eval_batch_size=128, device="cpu")
        scored = score_extra(model, tokenizer, Extra(args.dataset, other, mapping), p, torch.device("cpu"))
        scores.setdefault(r["player"]["name"], []).append(scored["accuracy"])
        print(f"{r['player']['name']} seed {r['seed']}: {args.dataset} test accuracy {scored['accuracy']:.2%} "
              f"({scored['unmapped_predictions']} neutral predictions counted wrong)", flush=True)
    lines = [f"| player | {args.dataset} test accuracy, mean ± std | per seed |", "|---|---:|---|"]
    for name, accs in scores.items():
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(f"| {name} | {statistics.mean(accs):.2%} ± {100 * std:.2f} | "
                     + ", ".join(f"{a:.2%}" for a in accs) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        append(args.out, f"\n### `python benchmarks/extra_eval.py {args.run_dir} --data-dir {args.data_dir}`\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
