"""The Ray executor at scale, simulated on one machine: many trivial jobs on a local cluster of three raylets
(a head that holds the driver and no CPUs, and two worker raylets), one worker raylet killed midway.

    python benchmarks/ray_scale.py [--data-dir ../shared/sst5] [--jobs 200] [--cpus-per-node 1] [--kill-at 0.5]
        [--out benchmarks/RESULTS.md]

Every job is a real task of tuneoff's Ray executor (the data from the object store, the version check, the
start report, the job's files packed and sent back to the driver, which writes them), but on the workers the
training inside it is replaced by a copy of one real tiny job's result and checkpoint (that job is trained
first, once, by `tuneoff run`), so what is measured is the executor, not training. Without --data-dir the
data is a tiny SST-5-shaped set written here. It reports:

- per-job overhead: the worker slots' seconds per job spent outside the job itself (scheduling, shipping,
  packing, writing), counting one slot fewer after the kill;
- the driver's RSS as the results come in, and its peak: flat in the number of jobs if the driver holds one
  job's files at a time;
- exactly once: with a raylet killed (its running jobs are retried by Ray elsewhere), the driver records each
  job's end exactly once, completed or failed, and the run folder holds one result per job.

Ray's cluster_utils.Cluster starts the raylets (Ray's own way to fake a multi-node cluster on one host).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from results_file import append_section, command  # this folder is on sys.path when run as a script

from tuneoff.store.runfolder import JobFolder, RunFolder

CONFIG = """
[tournament]
name = "ray-scale"
[protocol]
epochs = 1
batch_size = 16
eval_batch_size = 32
learning_rate = 5e-3
max_seq_len = 16
threads = 1
seed = 1
[data]
verify = false
max_train = 32
max_eval = 32
[[players]]
name = "tiny"
model = { kind = "random", size = "tiny" }
strategy = { name = "full" }
"""


def tiny_data(folder: Path) -> str:
    """An SST-5-shaped data set of a few sentences (PTB trees whose root is the label)."""
    words = ["awful", "dull", "film", "good", "superb"]
    folder.mkdir(parents=True)
    for split, n in (("train", 60), ("dev", 25), ("test", 25)):
        lines = [f"({i % 5} (2 the) ({i % 5} {words[i % 5]}))" for i in range(n)]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return str(folder)


def template(config: Path, data_dir: str, folder: Path) -> tuple[dict, bytes]:
    """One real tiny job, trained by `tuneoff run`: its result and its packed checkpoint, which every simulated
    job returns as its own."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tuneoff.cli",
            "run",
            str(config),
            "--data-dir",
            data_dir,
            "--out",
            str(folder),
            "--no-report",
            "--set",
            "tournament.seeds=[1]",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    job = JobFolder(folder / "players" / "tiny" / "seed-1")
    return job.result(), job.pack()["checkpoint"]


def stub_training(result: dict, checkpoint: bytes):
    """A Ray worker setup hook: the executor's task body runs as ever, but its job, instead of training, writes
    the template's result (with this job's identity) and checkpoint."""

    def setup() -> None:
        import tuneoff.run.ray_executor as executor

        def trivial_job(task, console=None, live=True) -> dict:
            from tuneoff.store.record import Record

            record = Record.new(task.job, task.folder, task.data[0].labels)
            record.doc = {**result, **record.doc}
            task.folder.unpack({"files": {}, "checkpoint": checkpoint})
            return record.complete()

        executor.run_task = trivial_job

    return setup


class Watch:
    """While the executor runs: the driver's RSS at each quarter of the results, and the kill of one raylet
    once ``kill_after`` results are on disk (the driver writes each as its task returns)."""

    def __init__(self, run: Path, jobs: int, kill_after: int, kill):
        self.run, self.jobs, self.kill_after, self.kill = run, jobs, kill_after, kill
        self.rss: dict[int, int] = {}
        self.killed_at: float | None = None
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        marks = [round(self.jobs * q / 4) for q in (1, 2, 3, 4)]
        while not self.stop.is_set():
            done = len(list(self.run.glob("players/*/*/result.json")))
            for mark in (m for m in marks if done >= m and m not in self.rss):
                self.rss[mark] = rss_bytes()
            if self.killed_at is None and done >= self.kill_after:
                say(f"{done} results on disk: killing a worker raylet")
                self.kill()
                self.killed_at = time.monotonic() - self.started
            time.sleep(0.1)  # a sampling period; no figure depends on it


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def count_writes(executor_module) -> Counter:
    """How many times the driver records each job's end: every completed or failed record goes through
    ``settle`` (a returned task) or ``not_returned`` (a task that failed every try)."""
    writes = Counter()
    settle, not_returned = executor_module.settle, executor_module.not_returned

    def counted_settle(task, payload):
        writes[task.job.name, task.job.label] += 1
        return settle(task, payload)

    def counted_failure(task, why):
        writes[task.job.name, task.job.label] += 1
        return not_returned(task, why)

    executor_module.settle, executor_module.not_returned = counted_settle, counted_failure
    return writes


def simulate(args, tmp: Path) -> dict:
    """Start the cluster, run the tournament on it, kill a raylet midway; return the measures."""
    import ray
    from ray.cluster_utils import Cluster
    from rich.console import Console

    import tuneoff.run.ray_executor as executor_module
    from tuneoff.plan.loading import load_config
    from tuneoff.run import tournament

    config = tmp / "scale.toml"
    config.write_text(CONFIG)
    data_dir = args.data_dir or tiny_data(tmp / "data")
    say("training the template job")
    result, checkpoint = template(config, data_dir, tmp / "template")
    say(f"starting 3 raylets; the template checkpoint is {len(checkpoint)} bytes")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=args.cpus_per_node) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        runtime_env={"worker_process_setup_hook": stub_training(result, checkpoint)},
        log_to_driver=False,
    )
    writes = count_writes(executor_module)
    executor = executor_module.RayExecutor("auto", num_cpus=1, max_retries=2, console=Console(file=io.StringIO()))
    watch = Watch(
        tmp / "run",
        args.jobs,
        round(args.jobs * args.kill_at),
        lambda: cluster.remove_node(workers[1], allow_graceful=False),
    )
    run, spans = executor.run, {}

    def timed(tasks):
        watch.started = time.monotonic()
        watch.thread.start()
        out = run(tasks)
        spans["wall"] = time.monotonic() - watch.started
        return out

    executor.run = timed
    say(f"running {args.jobs} jobs")
    seeds = f"tournament.seeds=[{', '.join(str(s) for s in range(1, args.jobs + 1))}]"
    try:
        tournament.run(
            load_config(config, [seeds]), tmp / "run", data_dir, console=Console(file=io.StringIO()), executor=executor
        )
    finally:
        watch.stop.set()
        ray.shutdown()
        cluster.shutdown()
    return {"wall": spans["wall"], "watch": watch, "writes": writes, "results": RunFolder(tmp / "run").results()}


def figures(args, measured: dict) -> dict:
    results, watch, wall = measured["results"], measured["watch"], measured["wall"]
    inside = sum(
        (datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["started_at"])).total_seconds()
        for r in results
        if r["status"] == "completed"
    )
    killed = watch.killed_at if watch.killed_at is not None else wall
    slot_seconds = 2 * args.cpus_per_node * killed + args.cpus_per_node * (wall - killed)
    statuses = Counter(r["status"] for r in results)
    writes = measured["writes"]
    return {
        "overhead": (slot_seconds - inside) / args.jobs,
        "wall": wall,
        "killed_at": watch.killed_at,
        "rss": watch.rss,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "statuses": dict(statuses),
        "results": len(results),
        "once": len(writes) == args.jobs and set(writes.values()) == {1} and len(results) == args.jobs,
        "writes": Counter(writes.values()),
    }


def section(args, f: dict) -> list[str]:
    mib = 2**20
    rss = ", ".join(f"{n}: {v / mib:.0f}" for n, v in sorted(f["rss"].items()))
    killed = f"{f['killed_at']:.1f} s" if f["killed_at"] is not None else "never (the run ended first)"
    return [
        f"## Ray executor at scale, simulated ({datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f})",
        "",
        f"`{command('ray_scale.py')}`",
        "",
        f"{args.jobs} trivial jobs on 3 local raylets (a head with the driver and 0 CPUs, 2 workers with "
        f"{args.cpus_per_node} CPU each), one worker raylet killed after {round(args.jobs * args.kill_at)} results "
        f"(at {killed}).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| executor wall clock | {f['wall']:.1f} s |",
        f"| per-job overhead (slot-seconds outside the job) | {f['overhead']:.3f} s |",
        f"| driver RSS (MiB) after n results | {rss} |",
        f"| driver peak RSS | {f['peak'] / mib:.0f} MiB |",
        f"| results on disk | {f['results']} ({', '.join(f'{n} {s}' for s, n in sorted(f['statuses'].items()))}) |",
        f"| driver records per job | {dict(sorted(f['writes'].items()))} (records: jobs) |",
        f"| every job ended exactly once | {'yes' if f['once'] else '**no**'} |",
        "",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="SST-5 files (default: a tiny set written here)")
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--cpus-per-node", type=int, default=1, help="CPUs each worker raylet declares (job slots)")
    ap.add_argument("--kill-at", type=float, default=0.5, help="kill a worker raylet after this share of results")
    ap.add_argument("--out", type=Path, default=None, help="append the figures to this Markdown file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tuneoff-ray-scale-") as tmp:
        f = figures(args, simulate(args, Path(tmp)))
    lines = section(args, f)
    if args.out:
        append_section(args.out, lines)
    else:
        print("\n".join(lines))
    return 0 if f["once"] else 1


if __name__ == "__main__":
    sys.exit(main())
