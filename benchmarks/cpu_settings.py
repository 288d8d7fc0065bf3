"""CPU thread and allocator settings: tuneoff's loop under each, in fresh processes.

Each setting is an environment (thread count, OpenMP binding, a preloaded malloc)
that only takes effect at process start, so every measurement is its own process;
settings are interleaved and the order reverses between repeats. Prints samples/s
and the speed relative to the default, and appends a table to benchmarks/RESULTS.md.

    python benchmarks/cpu_settings.py --data-dir ../shared/sst5 --sentences 960 --repeats 2

Allocators come from Debian's libjemalloc2 and libtcmalloc-minimal4; a setting whose
library is missing is skipped and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from results_file import append_section  # this folder is on sys.path when run as a script

LIB = Path("/usr/lib/x86_64-linux-gnu")
SETTINGS = {  # id: (what it is, environment)
    "default": ("torch's default threads (one per core), glibc malloc", {}),
    "1-thread": ("torch.set_num_threads(1)", {"TUNEOFF_BENCH_THREADS": "1"}),
    "omp-bind": ("OMP_PROC_BIND=close, OMP_PLACES=cores", {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"}),
    "jemalloc": ("LD_PRELOAD=libjemalloc.so.2", {"LD_PRELOAD": str(LIB / "libjemalloc.so.2")}),
    "tcmalloc": ("LD_PRELOAD=libtcmalloc_minimal.so.4", {"LD_PRELOAD": str(LIB / "libtcmalloc_minimal.so.4")}),
    # glibc then keeps freed blocks up to 32 MiB in its heap instead of unmapping them
    "glibc-tuned": (
        "MALLOC_MMAP_THRESHOLD_=32 MiB, MALLOC_TRIM_THRESHOLD_=1 TiB",
        {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)},
    ),
}

CHILD = """
import json, os, sys, torch
sys.path.insert(0, {here!r})
import throughput as t
from tuneoff.plan.config import Protocol
from tuneoff.data import load_sst5
if os.environ.get("TUNEOFF_BENCH_THREADS"):
    torch.set_num_threads(int(os.environ["TUNEOFF_BENCH_THREADS"]))
sst = load_sst5({data!r})
p = Protocol(epochs=1, batch_size=32, learning_rate=1e-4, warmup_ratio=0.06, device="cpu")
r = t.run_tuneoff({player!r}, sst.train.texts[:{n}], sst.train.labels[:{n}], p)
print(json.dumps({{"sps": r["samples"] / r["seconds"], "loss": r["loss"], "threads": torch.get_num_threads()}}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "sst5"))
    ap.add_argument("--sentences", type=int, default=960)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--player", default="minilm-full")
    ap.add_argument("--only", nargs="+", choices=list(SETTINGS), help="these settings (the first is the reference)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args()

    here = str(Path(__file__).resolve().parent)
    code = CHILD.format(here=here, data=args.data_dir, player=args.player, n=args.sentences)
    usable = {}
    for name, (_, env) in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        lib = env.get("LD_PRELOAD")
        if lib and not Path(lib).exists():
            print(f"skipped {name}: {lib} is not installed")
        else:
            usable[name] = env
    runs = {name: [] for name in usable}
    for rep in range(args.repeats):
        for name, env in list(usable.items()) if rep % 2 == 0 else list(usable.items())[::-1]:
            done = subprocess.run(
                [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
            )
            r = json.loads(done.stdout.strip().splitlines()[-1])
            runs[name].append(r)
            print(
                f"{name} rep {rep}: {r['sps']:.1f} samples/s, loss {r['loss']:.4f}, {r['threads']} threads", flush=True
            )

    base = statistics.median(r["sps"] for r in runs[next(iter(runs))])
    lines = [
        f"## CPU thread and allocator settings, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{shlex.join(['python', *sys.argv])}`",
        "",
        f"{args.player}, tuneoff's loop, {args.sentences} sentences, one fresh process per measurement, "
        f"{args.repeats} repeats interleaved; medians.",
        "",
        "| setting | samples/s | loss after steps | vs first row |",
        "|---|---:|---:|---:|",
    ]
    for name, rs in runs.items():
        sps = statistics.median(r["sps"] for r in rs)
        loss = statistics.median(r["loss"] for r in rs)
        lines.append(f"| {name}: {SETTINGS[name][0]} | {sps:.1f} | {loss:.4f} | {sps / base:.2f}× |")
    append_section(Path(args.out), lines + [""])
    return 0


if __name__ == "__main__":
    sys.exit(main())
