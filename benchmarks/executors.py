"""Wall clock of one tournament at --jobs 1 and --jobs N on this machine (the local executor).

    python benchmarks/executors.py --data-dir ../shared/sst5 [--config offline] [--jobs 2]
        [--set data.max_train=2000] [--set protocol.epochs=1] [--out benchmarks/RESULTS.md]

Runs `tuneoff run CONFIG --no-report` into a fresh temporary folder once per --jobs value, in
the order given, and reports per run: the wall clock of the whole command, jobs per minute,
each job's training seconds and test accuracy. Seeded CPU jobs are deterministic, so the
accuracies must match to the last digit whatever the --jobs value; the script says if not.
Writes the table to --out (appended) when given. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import append, command  # this folder is on sys.path when run as a script

from tuneoff.store.runfolder import RunFolder


def play(config: str, data_dir: str, jobs: int, sets: list[str]) -> tuple[float, list[dict]]:
    """One `tuneoff run` at --jobs JOBS; returns its wall clock and its results."""
    with tempfile.TemporaryDirectory(prefix="tuneoff-exec-") as tmp:
        cmd = ["tuneoff", "run", config, "--data-dir", data_dir, "--out", tmp, "--no-report", "--jobs", str(jobs)]
        for s in sets:
            cmd += ["--set", s]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        return wall, [r for r in RunFolder(Path(tmp)).results() if r["status"] == "completed"]


def table(runs: dict[int, tuple[float, list[dict]]]) -> list[str]:
    lines = ["| --jobs | wall clock s | jobs/min | job: train s, test accuracy |", "|---:|---:|---:|---|"]
    for jobs, (wall, results) in runs.items():
        per_job = ", ".join(
            f"{r['player']['name']}/{r['seed']}: {r['timing']['train_seconds']:.0f} s, {r['test']['accuracy']:.2%}"
            for r in sorted(results, key=job_key)
        )
        lines.append(f"| {jobs} | {wall:.0f} | {60 * len(results) / wall:.2f} | {per_job} |")
    return lines


def job_key(r: dict) -> tuple[str, int]:
    return r["player"]["name"], r["seed"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--config", default="offline")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    runs = {}
    for jobs in args.jobs:
        print(f"--jobs {jobs} ...", flush=True)
        runs[jobs] = play(args.config, args.data_dir, jobs, args.sets)
    accuracies = {j: {job_key(r): r["test"]["accuracy"] for r in res} for j, (_, res) in runs.items()}
    same = len({tuple(sorted(a.items())) for a in accuracies.values()}) == 1
    walls = [w for w, _ in runs.values()]
    lines = table(runs) + [
        "",
        f"Wall-clock ratio --jobs {args.jobs[0]} / --jobs {args.jobs[-1]}: "
        f"**{walls[0] / walls[-1]:.2f}×**. Test accuracies identical across --jobs values: "
        f"**{'yes' if same else 'NO'}**.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = (
            f"\n## Executors, local, {stamp}\n\n`{command('executors.py', argv)}`\n\nMachine: "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}.\n\n"
        )
        append(args.out, head + text)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
