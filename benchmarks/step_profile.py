"""Where a training step's time goes: kernels per step, GPU-busy time, and the host's share.

    python benchmarks/step_profile.py --data-dir ../shared/sst5 --device cuda [--out FILE]

For the MiniLM and DistilBERT-base shapes (full fine-tuning, batch 32, SST-5 training
sentences padded to multiples of 16) and each precision, it times:
  - the eager step under torch.profiler: CUDA kernels launched per step and their summed time;
  - the captured step (protocol.cuda_graphs): wall time per step in a loop shaped like
    tuneoff's (collate, copy, replay, schedule), and GPU time per replay alone (CUDA events);
  - the host's own work per step (collate and the schedule), with no GPU work.
If the GPU time per replay is close to the loop's wall time, the step is GPU-bound on its
kernels, and fewer, larger kernels (batch, fusion) are what would speed it up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from results_file import append_section, command  # this folder is on sys.path when run as a script

from tuneoff.data import load_sst5
from tuneoff.models.sources import BundledMiniLM, RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.strategies import Full, setup_for
from tuneoff.training.batching import collate, encode, train_batches
from tuneoff.training.loop import linear_schedule, make_optimizer
from tuneoff.training.steps import CapturedStep, CudaGraphs, EagerStep

SHAPES = {"minilm": (BundledMiniLM, {}), "base": (RandomDistilBert, {"size": "base"})}


def build(shape: str, p: Protocol, device, captured: bool):
    cls, kwargs = SHAPES[shape]
    torch.manual_seed(p.seed)
    built = cls(**kwargs).build(5)
    model, setup = Full().apply(built.model, setup_for(built.model))
    model.to(device).train()
    optimizer = make_optimizer(model, p, Full().parameters(model, setup), capturable=captured)
    return model, built.tokenizer, optimizer, setup


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def eager_profile(model, optimizer, setup, p, data, batches, device) -> tuple[float, float, float]:
    """(kernels per step, GPU kernel ms per step, wall ms per step) of the eager step."""
    from torch.profiler import ProfilerActivity, profile

    step = EagerStep(model, model, optimizer, p, (Full(), setup))
    for index in batches[:10]:
        step(collate(data, index, device), index)
        step.end()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    chosen = batches[10:30]
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        for index in chosen:
            step(collate(data, index, device), index)
            step.end()
        sync(device)
    wall = (time.perf_counter() - started) / len(chosen)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.time_range.elapsed_us() for e in kernels) / 1e3  # microseconds -> ms
    return len(kernels) / len(chosen), busy / len(chosen), wall * 1e3


def captured_timing(model, optimizer, setup, p, data, batches, device) -> tuple[float, float, int]:
    """(wall ms per step in a tuneoff-shaped loop, GPU ms per replay, graphs) of the captured step."""
    step = CapturedStep(model, model, optimizer, p, (Full(), setup), CudaGraphs(device))
    scheduler = linear_schedule(optimizer, 10, 10 * len(batches))
    for index in batches:  # every shape captured
        step(collate(data, index, device), index)
        scheduler.step()
    sync(device)
    started = time.perf_counter()
    total = torch.zeros((), device=device)
    for index in batches:
        total += step(collate(data, index, device), index)
        scheduler.step()
    float(total)
    wall = (time.perf_counter() - started) / len(batches) * 1e3
    gpu = []
    for index in batches[:50]:
        static, replay = step.graphs[tuple(collate(data, index, device)["input_ids"].shape)]
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        replay()
        end.record()
        end.synchronize()
        gpu.append(start.elapsed_time(end))
    return wall, statistics.median(gpu), len(step.graphs)


def host_ms(data, batches, optimizer) -> float:
    """The host's own per-step work: collate on the CPU and a schedule step."""
    scheduler = linear_schedule(optimizer, 10, 10 * len(batches))
    started = time.perf_counter()
    for index in batches:
        collate(data, index)
        scheduler.step()
    return (time.perf_counter() - started) / len(batches) * 1e3


def measure(shape, precision, texts, labels, device) -> str:
    p = Protocol(batch_size=32, static_shapes=16, precision=precision, cuda_graphs=device.type == "cuda")
    model, tok, optimizer, setup = build(shape, p, device, captured=False)
    data = encode(tok, texts, labels, p.max_seq_len, p.static_shapes)
    batches = train_batches(data.lengths(), 32, p.bucket_batches, 1)[:200]
    kernels, busy, eager_wall = eager_profile(model, optimizer, setup, p, data, batches, device)
    host = host_ms(data, batches, optimizer)
    row = f"| {shape} | {precision} | {kernels:.0f} | {busy:.2f} | {eager_wall:.2f} | {32e3 / eager_wall:,.0f} |"
    if device.type != "cuda":
        return row + f" - | - | - | {host:.2f} |"
    del model, optimizer
    model, tok, optimizer, setup = build(shape, p, device, captured=True)
    wall, gpu, graphs = captured_timing(model, optimizer, setup, p, data, batches, device)
    return row + f" {gpu:.2f} | {wall:.2f} ({graphs} graphs) | {32e3 / wall:,.0f} | {host:.2f} |"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "sst5"))
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    sst = load_sst5(args.data_dir)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    lines = [
        f"## Where a training step's time goes ({where})",
        "",
        f"`{command('step_profile.py', argv)}`",
        "",
        "Full fine-tuning, batch 32, SST-5 training sentences padded to multiples of 16; 20 profiled eager steps, "
        "200 captured steps after capture.",
        "",
        "| shape | precision | kernels per eager step | their GPU ms | eager wall ms per step | eager samples/s | "
        "GPU ms per replay | captured wall ms per step | captured samples/s | "
        "host ms per step (collate, schedule) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for shape in SHAPES:
        for precision in args.precisions:
            row = measure(shape, precision, sst.train.texts, sst.train.labels, device)
            print(row, flush=True)
            lines.append(row)
    append_section(args.out, lines + [""])
    return 0


if __name__ == "__main__":
    sys.exit(main())
