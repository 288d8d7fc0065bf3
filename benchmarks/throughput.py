"""Training and inference throughput: tuneoff's loop against the Hugging Face Trainer.

Same player, same SST-5 sentences, same number of steps, batch size, learning
rate, optimizer and threads, run one after the other in this process (the
order alternates between repeats). Prints samples/s, tokens/s, the training loss
after the steps, peak memory, model-FLOPs utilisation against this machine's
measured fp32 matmul peak, and the ratio tuneoff / Trainer; appends a Markdown
section to benchmarks/RESULTS.md (or --out).

    python benchmarks/throughput.py --data-dir ../shared/sst5 --sentences 960 --repeats 3

Uses only the project's own dependencies.
"""

from __future__ import annotations

import argparse
import gc
import platform
import shlex
import statistics
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from results_file import append_section  # this folder is on sys.path when run as a script

from tuneoff.data import load_sst5
from tuneoff.models.sources import BundledMiniLM, RandomDistilBert
from tuneoff.plan.config import Protocol
from tuneoff.strategies import Full, Lora, setup_for
from tuneoff.training.batching import encode
from tuneoff.training.evaluate import score
from tuneoff.training.loop import matmul_precision, train
from tuneoff.training.steps import CapturedForward, CudaGraphs, autocast
from tuneoff.training.system import PeakMemory, cpu_model, pick_device

PLAYERS = {
    "minilm-full": (BundledMiniLM, {}, Full),
    "minilm-lora": (BundledMiniLM, {}, Lora),
    "base-random-full": (RandomDistilBert, {"size": "base"}, Full),
    "base-random-lora": (RandomDistilBert, {"size": "base"}, Lora),
}
# all-MiniLM-L6-v2's shape as a random DistilBERT (--random-weights): the same speed
# without the 90 MB weights package, for machines that cannot install it.
MINILM_SHAPE = {"n_layers": 6, "dim": 384, "n_heads": 12, "hidden_dim": 1536}


def matmul_peak(device: torch.device, dtype=torch.float32, seconds: float = 3.0) -> float:
    """Sustained GFLOP/s of a large square matmul on this device (fp32 unless bf16 is asked)."""
    n = 2048 if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if count % 10 == 0:
            sync()
    sync()
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def model_flops(model, tokens: int, seq_lens: np.ndarray, train: bool) -> float:
    """Forward 2·N·T; backward 2·N·T for input gradients plus 2·N·T for weight
    gradients of trainable weights only (frozen weights need none); attention
    QK^T and AV add 4·L·d·s² per sequence forward."""
    cfg = model.config if hasattr(model, "config") else model.base_model.config
    frozen = trainable = 0
    for name, p in model.named_parameters():
        if "embeddings" in name or p.ndim < 2:
            continue
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    n = frozen + trainable
    attention = 4 * cfg.n_layers * cfg.dim * float(np.sum(seq_lens.astype(np.float64) ** 2))
    if not train:
        return 2 * n * tokens + attention
    return 6 * n * tokens - 2 * frozen * tokens + 3 * attention


SOURCE_OPTIONS = {"random_weights": False, "tokenizer": "bundled"}  # set from the command line


def build(name: str, seed: int):
    source_cls, kwargs, strategy_cls = PLAYERS[name]
    if source_cls is BundledMiniLM and SOURCE_OPTIONS["random_weights"]:
        source_cls, kwargs = RandomDistilBert, MINILM_SHAPE
    if source_cls is RandomDistilBert:
        kwargs = {**kwargs, "tokenizer": SOURCE_OPTIONS["tokenizer"]}
    torch.manual_seed(seed)
    built = source_cls(**kwargs).build(5)
    model, _ = strategy_cls().apply(built.model, setup_for(built.model))
    return model, built.tokenizer


def run_tuneoff(name, texts, labels, p: Protocol, fused: bool = True):
    import tuneoff.training.loop as loop

    model, tok = build(name, p.seed)
    if not fused:  # the ablation's "before": the multi-tensor (foreach) AdamW
        real = loop.make_optimizer
        loop.make_optimizer = lambda m, q, params=None, capturable=False: torch.optim.AdamW(
            real(m, q, params).param_groups, lr=q.learning_rate, foreach=True
        )
    data = encode(tok, texts, labels, p.max_seq_len, p.static_shapes)
    dev = encode(tok, texts[:32], labels[:32], p.max_seq_len, p.static_shapes)
    try:
        device = pick_device(p.device)
        model.to(device)
        with PeakMemory(device) as mem, matmul_precision(p, device):
            out = train(model, data, dev, p, device)
    finally:
        if not fused:
            loop.make_optimizer = real
    lengths = data.lengths()
    return {
        "seconds": out.train_seconds,
        "samples": len(data),
        "tokens": int(lengths.sum()),
        "loss": out.epochs[-1]["train_loss"],
        "peak_rss": mem.peak_gpu() or mem.peak_rss,
        "flops": model_flops(model, int(lengths.sum()), lengths, True),
        "path": out.step.get("path", "eager"),
    }


def run_trainer(name, texts, labels, p: Protocol, workdir: Path):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    model, tok = build(name, p.seed)
    enc = tok(list(texts), truncation=True, max_length=p.max_seq_len)
    rows = [
        {"input_ids": ids, "attention_mask": m, "labels": y}
        for ids, m, y in zip(enc["input_ids"], enc["attention_mask"], labels)
    ]
    # transformers 5 replaced group_by_length=True with train_sampling_strategy="group_by_length"
    fields = TrainingArguments.__dataclass_fields__
    grouping = (
        {"train_sampling_strategy": "group_by_length"}
        if "train_sampling_strategy" in fields
        else {"group_by_length": True}
    )
    args = TrainingArguments(
        **grouping,
        output_dir=str(workdir),
        per_device_train_batch_size=p.batch_size,
        learning_rate=p.learning_rate,
        weight_decay=p.weight_decay,
        warmup_steps=round(p.warmup_ratio * len(rows) / p.batch_size),
        lr_scheduler_type="linear",
        num_train_epochs=1,
        max_grad_norm=p.max_grad_norm,
        optim="adamw_torch_fused",
        save_strategy="no",
        report_to=[],
        logging_strategy="no",
        disable_tqdm=True,
        seed=p.seed,
        use_cpu=p.device == "cpu",
        bf16=p.precision == "bf16",
        tf32=True if p.precision == "tf32" and p.device == "cuda" else None,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tok))
    device = pick_device(p.device)
    with PeakMemory(device) as mem:
        start = time.perf_counter()
        metrics = trainer.train().metrics
        seconds = time.perf_counter() - start
    lengths = np.array([len(r["input_ids"]) for r in rows])
    return {
        "seconds": seconds,
        "samples": len(rows),
        "tokens": int(lengths.sum()),
        "loss": metrics["train_loss"],
        "peak_rss": mem.peak_gpu() or mem.peak_rss,
        "flops": model_flops(model, int(lengths.sum()), lengths, True),
    }


def run_inference(name, texts, labels, p: Protocol, loop: str):
    """Sentences/s of one inference loop over the test sentences, after one untimed pass (kernel
    choice, allocator growth and, for the captured loop, capture happen there)."""
    model, tok = build(name, p.seed)
    device = pick_device(p.device)
    model.to(device).eval()
    data = encode(tok, texts, labels, p.max_seq_len, p.static_shapes if loop == "captured" else 0)
    lengths = data.lengths()
    amp = torch.bfloat16 if p.precision == "bf16" else None
    forward = CapturedForward(model, CudaGraphs(device), amp) if loop == "captured" else None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with matmul_precision(p, device):
        if device.type == "cuda":
            _infer(model, tok, data, texts, p, device, amp, loop, forward)
        sync()
        start = time.perf_counter()
        _infer(model, tok, data, texts, p, device, amp, loop, forward)
        sync()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "samples": len(texts),
        "tokens": int(lengths.sum()),
        "flops": model_flops(model, int(lengths.sum()), lengths, False),
    }


INFERENCE_LOOPS = {
    "plain": "plain loop, batch 32",
    "tuneoff": "tuneoff score()",
    "captured": "tuneoff score(), captured forward",
}


def _infer(model, tok, data, texts, p: Protocol, device, amp, loop: str, forward=None) -> None:
    if loop != "plain":
        score(model, data, p.eval_batch_size, device, amp, forward=forward)
    else:  # the plain loop: batches of 32 in file order, padded to their longest, no_grad
        with torch.no_grad(), autocast(device.type, amp):
            for i in range(0, len(texts), 32):
                batch = tok(
                    list(texts[i : i + 32]),
                    padding=True,
                    truncation=True,
                    max_length=p.max_seq_len,
                    return_tensors="pt",
                )
                model(**batch.to(device)).logits.softmax(-1).cpu()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "sst5"))
    ap.add_argument("--sentences", type=int, default=960, help="first N training sentences (N/32 steps)")
    ap.add_argument("--test-sentences", type=int, default=2210)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--players", nargs="+", default=list(PLAYERS), choices=list(PLAYERS))
    ap.add_argument("--no-inference", action="store_true")
    ap.add_argument("--ablation", action="store_true", help="also time the loop's techniques one by one (minilm-full)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "tf32", "bf16"],
        help="tf32 (CUDA only): the peak and both loops use TF32 matmuls",
    )
    ap.add_argument(
        "--random-weights",
        action="store_true",
        help="MiniLM players get random weights of MiniLM's shape (no weights package needed)",
    )
    ap.add_argument(
        "--tokenizer", default="bundled", help="tokenizer of random models: 'bundled', a hub id or a folder"
    )
    ap.add_argument(
        "--compile", action="store_true", help="tuneoff's loop with protocol.compile (compile time counted)"
    )
    ap.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="tuneoff's loop with protocol.cuda_graphs and static_shapes = 16 (captured steps; CUDA only)",
    )
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args()

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    SOURCE_OPTIONS.update(random_weights=args.random_weights, tokenizer=args.tokenizer)
    torch.set_num_threads(torch.get_num_threads())
    p = Protocol(
        epochs=1,
        batch_size=32,
        learning_rate=1e-4,
        warmup_ratio=0.06,
        weight_decay=0.01,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
    )
    # --cuda-graphs adds the captured loop beside the eager one (and the Trainer), in the same call
    loops = {"tuneoff": p}
    if args.cuda_graphs:
        loops["tuneoff-captured"] = p.model_copy(update={"cuda_graphs": True, "static_shapes": 16})
    sst = load_sst5(args.data_dir)
    texts, labels = sst.train.texts[: args.sentences], sst.train.labels[: args.sentences]
    with matmul_precision(p, pick_device(args.device)):
        peak = matmul_peak(pick_device(args.device), torch.bfloat16 if args.precision == "bf16" else torch.float32)
    print(
        f"{args.precision} matmul peak: {peak:.1f} GFLOP/s on {cpu_model()}, {torch.get_num_threads()} threads",
        flush=True,
    )
    lines = header(args, peak) + training_table(args, loops, texts, labels, peak)
    if args.ablation:
        lines += ablation_table(args, p, texts, labels)
    if not args.no_inference:
        test_texts, test_labels = sst.test.texts[: args.test_sentences], sst.test.labels[: args.test_sentences]
        lines += inference_table(args, loops, test_texts, test_labels, peak)
    append_section(Path(args.out), lines)
    return 0


def header(args, peak: float) -> list[str]:
    return [
        f"## Throughput, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{shlex.join(['python', *sys.argv])}`",
        "",
        f"Machine: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}; device {args.device}"
        f"{' (' + torch.cuda.get_device_name() + ')' if args.device == 'cuda' else ''}, {args.precision}; "
        f"{args.precision} matmul peak {peak:.1f} GFLOP/s. "
        f"{'MiniLM players: random weights of MiniLM shape. ' if args.random_weights else ''}"
        f"{args.sentences} training sentences = {-(-args.sentences // 32)} steps of batch 32, lr 1e-4, fused AdamW; "
        f"{args.repeats} repeats, order alternating; medians. Peak memory: "
        + ("allocated GPU memory." if args.device == "cuda" else "process RSS.")
        + " Every loop warms up untimed first (tuneoff's loop by itself; the Trainer by a run over "
        + ("the same sentences)." if args.device == "cuda" else "the 32 longest).")
        + (
            " tuneoff-captured: protocol.cuda_graphs with static_shapes = 16 (capture counted in its time)."
            if args.cuda_graphs
            else ""
        ),
        "",
        "| player | loop | samples/s | tokens/s | loss after steps | peak memory MiB | MFU |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]


def training_table(args, loops: dict, texts, labels, peak: float) -> list[str]:
    """Each player trained by every tuneoff loop and by the Trainer, in alternating order."""
    import tempfile

    p = loops["tuneoff"]
    lines, ratios = [], {}
    # tuneoff's loop warms up untimed before its first epoch (every batch width on CUDA,
    # the widest batch on CPU); the Trainer gets the same, as an untimed run first.
    warm = range(len(texts)) if args.device == "cuda" else np.argsort([-len(t) for t in texts], kind="stable")[:32]
    for name in args.players:
        runs = {loop: [] for loop in [*loops, "hf-trainer"]}
        with tempfile.TemporaryDirectory() as tmp:
            run_trainer(name, [texts[i] for i in warm], [labels[i] for i in warm], p, Path(tmp))
        for rep in range(args.repeats):
            for loop in list(runs) if rep % 2 == 0 else list(runs)[::-1]:
                gc.collect()
                if loop in loops:
                    try:
                        r = run_tuneoff(name, texts, labels, loops[loop])
                    except Exception:  # noqa: BLE001 - a loop that breaks (the captured one, first run on a GPU) is reported
                        traceback.print_exc()
                        continue
                else:
                    with tempfile.TemporaryDirectory() as tmp:
                        r = run_trainer(name, texts, labels, p, Path(tmp))
                runs[loop].append(r)
                print(
                    f"{name} {loop} rep {rep}: {r['samples'] / r['seconds']:.1f} samples/s loss {r['loss']:.4f}"
                    f"{' (' + r['path'] + ' step)' if 'path' in r else ''}",
                    flush=True,
                )
        for loop in (x for x in loops if len(runs[x]) == len(runs["hf-trainer"])):
            ratios[f"{name} {loop}"] = statistics.median(
                b["seconds"] / a["seconds"] for a, b in zip(runs[loop], runs["hf-trainer"])
            )
        for loop, rs in runs.items():
            if not rs:
                lines.append(f"| {name} | {loop} | failed (traceback in the log) | | | | |")
                continue
            sps = statistics.median(r["samples"] / r["seconds"] for r in rs)
            tps = statistics.median(r["tokens"] / r["seconds"] for r in rs)
            mfu = statistics.median(r["flops"] / r["seconds"] / 1e9 / peak for r in rs)
            loss = statistics.median(r["loss"] for r in rs)
            rss = statistics.median(r["peak_rss"] for r in rs) / 2**20
            shown = loop if "path" not in rs[0] or loop == "tuneoff" else f"{loop} ({rs[0]['path']} step)"
            lines.append(f"| {name} | {shown} | {sps:.1f} | {tps:.0f} | {loss:.4f} | {rss:.0f} | {mfu:.0%} |")
    return lines + [
        "",
        "Training speed ratio tuneoff / HF Trainer (median of per-repeat ratios): "
        + ", ".join(f"{k} **{v:.2f}×**" for k, v in ratios.items()),
        "",
    ]


def ablation_table(args, p: Protocol, texts, labels) -> list[str]:
    variants = {
        "random batches, foreach AdamW (the plain loop)": (1, False),
        "length-bucketed batches, foreach AdamW": (20, False),
        "length-bucketed batches, fused AdamW (tuneoff now)": (20, True),
    }
    times = {v: [] for v in variants}
    for rep in range(args.repeats):
        for v, (bucket, fused) in list(variants.items()) if rep % 2 == 0 else list(variants.items())[::-1]:
            r = run_tuneoff("minilm-full", texts, labels, p.model_copy(update={"bucket_batches": bucket}), fused)
            times[v].append(r)
            print(f"ablation {v} rep {rep}: {r['samples'] / r['seconds']:.1f} samples/s", flush=True)
    base = statistics.median(r["seconds"] for r in times[next(iter(variants))])
    lines = [
        "| minilm-full, tuneoff loop variant | samples/s | loss after steps | speed-up vs plain |",
        "|---|---:|---:|---:|",
    ]
    for v, rs in times.items():
        sec = statistics.median(r["seconds"] for r in rs)
        loss = statistics.median(r["loss"] for r in rs)
        lines.append(f"| {v} | {rs[0]['samples'] / sec:.1f} | {loss:.4f} | {base / sec:.2f}× |")
    return lines + [""]


def inference_table(args, loops: dict, texts, labels, peak: float) -> list[str]:
    """The full-fine-tuning players' test-set inference: the plain loop, score(), and captured score()."""
    names = ["plain", "tuneoff"] + (["captured"] if "tuneoff-captured" in loops and args.device == "cuda" else [])
    p = loops.get("tuneoff-captured", loops["tuneoff"])  # static_shapes for the captured loop only
    lines, ratios = ["| player | inference loop | sentences/s | MFU |", "|---|---|---:|---:|"], {}
    for name in (n for n in args.players if n.endswith("full")):
        res = {loop: [] for loop in names}
        for rep in range(max(1, min(2, args.repeats))):
            for loop in names if rep % 2 == 0 else names[::-1]:
                try:
                    res[loop].append(run_inference(name, texts, labels, p, loop))
                except Exception:  # noqa: BLE001 - reported, and the other loops go on
                    traceback.print_exc()
        for loop, rs in ((k, v) for k, v in res.items() if v):
            sps = statistics.median(r["samples"] / r["seconds"] for r in rs)
            mfu = statistics.median(r["flops"] / r["seconds"] / 1e9 / peak for r in rs)
            lines.append(f"| {name} | {INFERENCE_LOOPS[loop]} | {sps:.1f} | {mfu:.0%} |")
            print(f"{name} inference {loop}: {sps:.1f} sentences/s", flush=True)
            if loop != "plain":
                ratios[f"{name} {loop}"] = statistics.median(
                    b["seconds"] / a["seconds"] for a, b in zip(rs, res["plain"])
                )
    return lines + [
        "",
        "Inference ratio against the plain loop: " + ", ".join(f"{k} **{v:.2f}×**" for k, v in ratios.items()),
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
