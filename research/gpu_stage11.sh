#!/usr/bin/env bash
# One prepared GPU session (one H200, ~9 minutes): stage 11, trained from the default artifact (stage 9) on
# 2-128 segments of 128 tokens, batch 8 (infini/recipes/cuda-deltanet-stage11.json), and the eval module's cases for
# stage 9 and stage 11, in float32 as on the CPU, the evaluations side by side (each reads batch 1).
#   Phase A: training; meanwhile stage 9 on the CPU's cases (seeds 1, 2: does the GPU reproduce them?),
#            on fresh cases (seed 4), and at 1M tokens.
#   Phase B: stage 11 on the same cases.
# Usage: research/gpu_stage11.sh OUT_DIR MODEL [BUDGET_SECONDS]   (MODEL: the .gguf or a converted folder)
# Knobs (env): PHASE_B (seconds kept for phase B), TRAIN_SET (more recipe overrides), PY,
#   STAGE and RECIPE (another stage from stage 9, e.g. STAGE=15 RECIPE=infini/recipes/cuda-deltanet-stage15.json),
#   ONE_M=0 (leave out the 1M cases, which need a call of their own),
#   BASE and BASE_NAME (the artifact measured beside the new stage; default stage 9, named stage9). The key-convolution
#   chain at batch 8, from the default: BASE=research/artifacts/smollm2-135m-deltanet-keyconv4-cpu.safetensors
#   BASE_NAME=chain9 STAGE=10 ONE_M=0 TRAIN_SET="key_conv=4 read_cap=false init_adapter=" followed by the same path.
# Output: OUT_DIR/{log.txt, train_log.csv, adapter.safetensors, adapter.json, results.tar.gz}
set -u
OUT=$1; MODEL=$2; BUDGET=${3:-540}
PY=${PY:-python3}
T0=$(date +%s)
R=/tmp/gpu-results; mkdir -p "$R" "$OUT"
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/log.txt"; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
export OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
BASE=${BASE:-research/artifacts/smollm2-135m-deltanet-stage9-cpu.safetensors}; BASE_NAME=${BASE_NAME:-stage9}
STAGE=${STAGE:-11}; RECIPE=${RECIPE:-infini/recipes/cuda-deltanet-stage11.json}
TRAINED=/tmp/s$STAGE/adapter.safetensors  # the stage trained here
# ev NAME ADAPTER SECONDS ARGS...: one eval run in the background, killed after SECONDS (finished cases are kept).
ev() {
  local name=$1 adapter=$2 limit=$3; shift 3
  timeout "$limit" $PY -m eval run --model "$MODEL" --dtype float32 --pipelines infini --adapter "$adapter" \
    --out "$R/$name" "$@" > "$R/$name.log" 2>&1 &
}
# The case sets: the CPU's fresh-case commands in the README (seeds 1, 2), and seed 4, new.
cases() {  # cases PREFIX ADAPTER SECONDS
  ev $1-niah8k-s1 $2 $3 --seed 1 --max-new-tokens 32 --tasks niah_single --lengths 8k --depths 0,50 --samples 4
  ev $1-niah8k-s2 $2 $3 --seed 2 --max-new-tokens 32 --tasks niah_single --lengths 8k --depths 0,25,50,75 --samples 5
  ev $1-niah8k-s4 $2 $3 --seed 4 --max-new-tokens 32 --tasks niah_single --lengths 8k --depths 0,25,50,75 --samples 5
  ev $1-passkey32k-s1 $2 $3 --seed 1 --max-new-tokens 16 --tasks passkey --lengths 32k --depths 0,50 --samples 3
  ev $1-passkey32k-s2 $2 $3 --seed 2 --max-new-tokens 16 --tasks passkey --lengths 32k --depths 0,50 --samples 3
  ev $1-passkey32k-s4 $2 $3 --seed 4 --max-new-tokens 16 --tasks passkey --lengths 32k --depths 0,25,50,75 --samples 3
  ev $1-niah-s4 $2 $3 --seed 4 --max-new-tokens 32 --tasks niah_single --lengths 4k,16k,32k --depths 0,50 --samples 2
  ev $1-passkey128k-s4 $2 $3 --seed 4 --max-new-tokens 16 --tasks passkey --lengths 128k --depths 0,50,100 --samples 1
}

stamp "convert the model into the cache once"
$PY -c "import sys; from core.loading import load_base_model; load_base_model(sys.argv[1])" "$MODEL" >> "$OUT/log.txt" 2>&1 \
  || { stamp "model conversion failed"; exit 1; }
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv >> "$OUT/log.txt"

PHASE_B=${PHASE_B:-170}
TRAIN_S=$(( $(left) - PHASE_B - 40 ))
stamp "phase A: train stage $STAGE for $TRAIN_S s; $BASE_NAME measured meanwhile"
TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 $PY -m infini.train --recipe "$RECIPE" --out /tmp/s$STAGE \
  --model "$MODEL" --set max_minutes=$($PY -c "print(round($TRAIN_S / 60, 2))") ${TRAIN_SET:-} > "$R/train.log" 2>&1 &
TRAIN=$!
# The 1M cases did not finish in the 2026-11-29 session: ingestion ran at ~72 ms a segment alone (research/gpu_smoke.py),
# so one 1M case needs ~9.4 minutes, more beside the other processes. Run them as a session of their own.
[ "${ONE_M:-1}" = 1 ] && ev $BASE_NAME-passkey1m-d0 $BASE $(( $(left) - 30 )) --seed 4 --max-new-tokens 16 --tasks passkey --lengths 1m --depths 0 --samples 1
[ "${ONE_M:-1}" = 1 ] && ev $BASE_NAME-passkey1m-d50 $BASE $(( $(left) - 30 )) --seed 4 --max-new-tokens 16 --tasks passkey --lengths 1m --depths 50 --samples 1
cases $BASE_NAME $BASE $(( TRAIN_S + 20 ))
wait $TRAIN; stamp "training exit $?"; tail -3 /tmp/s$STAGE/train_log.csv >> "$OUT/log.txt" 2>/dev/null
cp /tmp/s$STAGE/adapter.safetensors /tmp/s$STAGE/adapter.json /tmp/s$STAGE/train_log.csv "$OUT/" 2>/dev/null

if [ -f "$TRAINED" ]; then
  stamp "phase B: stage $STAGE on the same cases"
  cases stage$STAGE $TRAINED $(( $(left) - 25 ))
fi
wait
stamp "done"
for f in "$R"/*/results.jsonl; do echo "$(basename "$(dirname "$f")"): $(wc -l < "$f") cases"; done >> "$OUT/log.txt"
tail -n 3 "$R"/*.log >> "$OUT/log.txt" 2>/dev/null
tar -czf "$OUT/results.tar.gz" -C "$R" .
