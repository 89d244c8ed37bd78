#!/usr/bin/env bash
# One prepared GPU session: train the CUDA recipe, then measure with the eval module.
# Usage: bench/gpu_train_eval.sh OUT_DIR [MODEL_PATH]
# Scale knobs (env): TRAIN_SET (recipe overrides), LINEAR_SET (the linear-rule run; "skip" to skip),
# PASSKEY_LENGTHS, NIAH_LENGTHS, LONG_LENGTHS, SAMPLES, PY.
set -u
OUT=${1:?out dir}; MODEL=${2:-}
PY=${PY:-python3}
MODEL_ARG=${MODEL:+--model $MODEL}
mkdir -p "$OUT" /tmp/runs
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/log.txt"; }

stamp "convert + train (delta) and train (linear) side by side"
$PY -m infini.train --recipe infini/recipes/cuda.json --out /tmp/runs/delta $MODEL_ARG --set ${TRAIN_SET:-} > /tmp/runs/delta.log 2>&1 &
DELTA=$!
if [ "${LINEAR_SET:-}" != "skip" ]; then
  sleep 40  # let the first process convert the GGUF into the shared cache
  $PY -m infini.train --recipe infini/recipes/cuda.json --out /tmp/runs/linear $MODEL_ARG --set update_rule='"linear"' ${LINEAR_SET:-} > /tmp/runs/linear.log 2>&1 &
  LINEAR=$!
fi
wait $DELTA; stamp "delta training exit $?"; tail -3 /tmp/runs/delta.log | tee -a "$OUT/log.txt"
cp /tmp/runs/delta/adapter.safetensors /tmp/runs/delta/adapter.json /tmp/runs/delta/train_log.csv "$OUT/" 2>/dev/null
if [ -n "${LINEAR:-}" ]; then
  wait $LINEAR; stamp "linear training exit $?"; tail -2 /tmp/runs/linear.log | tee -a "$OUT/log.txt"
  cp /tmp/runs/linear/adapter.safetensors "$OUT/linear_adapter.safetensors" 2>/dev/null
  tail -4 /tmp/runs/linear/train_log.csv >> "$OUT/log.txt" 2>/dev/null
fi

EV="$PY -m eval run $MODEL_ARG --samples ${SAMPLES:-4} --seed 0"
A=/tmp/runs/delta/adapter.safetensors
stamp "passkey, trained delta"
timeout 150 $EV --tasks passkey --lengths ${PASSKEY_LENGTHS:-8k,32k,128k} --depths 0,50,100 --pipelines infini --adapter $A --out /tmp/ev/trained > /tmp/ev_trained.log 2>&1
stamp "niah_single, trained delta"
timeout 90 $EV --samples 2 --tasks niah_single --lengths ${NIAH_LENGTHS:-4k,8k,16k,32k} --depths 0,25,50,75,100 --pipelines infini --adapter $A --out /tmp/ev/trained > /tmp/ev_niah.log 2>&1
stamp "perplexity"
timeout 40 $PY -m infini.perplexity $MODEL_ARG --adapter $A --segments 20 --out "$OUT/perplexity.json" >> "$OUT/log.txt" 2>&1
stamp "untrained conversions and trained linear"
timeout 60 $EV --samples 2 --tasks passkey --lengths ${PASSKEY_LENGTHS:-8k,32k,128k} --depths 0,50,100 --pipelines infini_untrained,infini_untrained_linear --out /tmp/ev/untrained > /tmp/ev_untrained.log 2>&1
[ -f /tmp/runs/linear/adapter.safetensors ] && timeout 60 $EV --samples 2 --tasks passkey --lengths ${PASSKEY_LENGTHS:-8k,32k,128k} --depths 0,50,100 --pipelines infini --adapter /tmp/runs/linear/adapter.safetensors --out /tmp/ev/linear > /tmp/ev_linear.log 2>&1
stamp "1M tokens, trained delta"
timeout 100 $EV --samples 1 --tasks passkey --lengths ${LONG_LENGTHS:-1m} --depths 0,50,100 --pipelines infini --adapter $A --out /tmp/ev/long > /tmp/ev_long.log 2>&1
stamp "done"
# At most 8 files come back: one results file, each line tagged with its run.
for d in trained untrained linear long; do
  [ -f /tmp/ev/$d/results.jsonl ] && sed "s/^{/{\"run\": \"$d\", /" /tmp/ev/$d/results.jsonl
done > "$OUT/results_all.jsonl"
tail -c 2000 /tmp/ev_*.log /tmp/runs/delta.log >> "$OUT/log.txt" 2>/dev/null
