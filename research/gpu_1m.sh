#!/usr/bin/env bash
# A prepared GPU call (one H200, ~8 minutes): the default artifact's passkey at 1M tokens (ADAPTER), BATCH cases ingested together
# (`eval run --ingest-batch`): one 1M case took ~9.4 minutes alone (72 ms a 128-token segment, the GPU mostly
# idle), so a batch of 8 should cost about the same wall time for 8 cases. 9.4 minutes do not fit one call
# (10 minutes, model conversion and tokenizing included), so the segments are read 256 tokens long by default
# (SEGMENT_LEN; the artifacts were trained with 128: README "Longer segments at inference" has what 256 reads on the CPU with
# stage 9: the same; the key-convolution default was not measured at 256, so SEGMENT_LEN=128 is the safer reading), about
# half the steps. First a short bench (research/ingest_batch.py) logs the step time at batch 1 and BATCH.
# Usage (after research/gpu_prepare.sh's two calls): research/gpu_1m.sh OUT_DIR MODEL [BUDGET_SECONDS]
# Knobs (env): ADAPTER (default: infini/adapter.py's DEFAULT_ADAPTER; a path or 'none'), BATCH (8), SEED (4), DEPTHS (0,25,50,75), SAMPLES (2; BATCH = depths x samples keeps it one batch),
#   LENGTH (1m; e.g. 4k for a smoke test on the CPU), SEGMENT_LEN (256), BENCH_TOKENS (4k), DEVICE (cuda), PY.
# Output: OUT_DIR/{log.txt, ingest_batch.md, passkey1m/ (results.jsonl, report.md)}
set -u
OUT=$1; MODEL=$2; BUDGET=${3:-560}
PY=${PY:-python3}; DEVICE=${DEVICE:-cuda}
T0=$(date +%s); mkdir -p "$OUT"
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/log.txt"; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
export OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
ADAPTER=${ADAPTER:-default}  # eval run and ingest_batch.py resolve 'default' through infini/adapter.py
stamp "convert the model into the cache once"
$PY -c "import sys; from core.loading import load_base_model; load_base_model(sys.argv[1])" "$MODEL" >> "$OUT/log.txt" 2>&1 \
  || { stamp "model conversion failed"; exit 1; }
stamp "batched ingestion bench"
timeout 90 $PY research/ingest_batch.py --model "$MODEL" --device "$DEVICE" --adapter "$ADAPTER" --documents "${BATCH:-8}" \
  --segment-len "${SEGMENT_LEN:-256}" --tokens "${BENCH_TOKENS:-4k}" --batches "1,${BATCH:-8}" > "$OUT/ingest_batch.md" 2>> "$OUT/log.txt"
cat "$OUT/ingest_batch.md" >> "$OUT/log.txt"
stamp "passkey at ${LENGTH:-1m}, segments of ${SEGMENT_LEN:-256}, ${BATCH:-8} documents at once, $(( $(left) - 20 )) s left for it"
timeout $(( $(left) - 20 )) $PY -m eval run --model "$MODEL" --device "$DEVICE" --dtype float32 --pipelines infini \
  --adapter "$ADAPTER" --segment-len "${SEGMENT_LEN:-256}" --seed "${SEED:-4}" --max-new-tokens 16 --tasks passkey --lengths "${LENGTH:-1m}" \
  --depths "${DEPTHS:-0,25,50,75}" --samples "${SAMPLES:-2}" --ingest-batch "${BATCH:-8}" \
  --out "$OUT/passkey1m" > "$OUT/passkey1m.log" 2>&1
stamp "eval exit $? ($(wc -l < "$OUT/passkey1m/results.jsonl" 2>/dev/null || echo 0) cases)"
$PY -m eval report "$OUT/passkey1m" > /dev/null 2>> "$OUT/log.txt" && grep -A12 '^| task' "$OUT/passkey1m/report.md" | head -14 >> "$OUT/log.txt"
stamp "done"
