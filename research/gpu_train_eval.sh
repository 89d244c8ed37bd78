#!/usr/bin/env bash
# One prepared GPU session: train the CUDA recipe (delta, and linear beside it), then measure with
# the eval module, the evaluations running side by side (each reads batch 1, so the GPU has room).
# Usage: research/gpu_train_eval.sh OUT_DIR [MODEL_PATH]
# Knobs (env): TRAIN_SET / LINEAR_SET (recipe overrides; LINEAR_SET=skip skips it), PASSKEY_LENGTHS,
# NIAH_LENGTHS, LONG_LENGTHS, SAMPLES, EVAL_TIMEOUT, PY.
set -u
OUT=${1:?out dir}; MODEL=${2:-}
PY=${PY:-python3}
MODEL_ARG=${MODEL:+--model $MODEL}
EVAL_TIMEOUT=${EVAL_TIMEOUT:-150}
mkdir -p "$OUT" /tmp/runs /tmp/ev
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/log.txt"; }
EV="$PY -m eval run $MODEL_ARG --seed 0"
PK=${PASSKEY_LENGTHS:-8k,32k,128k}

stamp "train delta; untrained conversions evaluated meanwhile; linear training starts once the cache exists"
$PY -m infini.train --recipe infini/recipes/cuda.json --out /tmp/runs/delta $MODEL_ARG --set ${TRAIN_SET:-} > /tmp/runs/delta.log 2>&1 &
DELTA=$!
sleep 35  # the first process converts the GGUF into the shared cache
timeout $((EVAL_TIMEOUT + 60)) $EV --samples 2 --tasks passkey --lengths $PK --depths 0,50,100 --pipelines infini_untrained,infini_untrained_linear --out /tmp/ev/untrained > /tmp/ev_untrained.log 2>&1 &
if [ "${LINEAR_SET:-}" != "skip" ]; then
  $PY -m infini.train --recipe infini/recipes/cuda.json --out /tmp/runs/linear $MODEL_ARG --set update_rule='"linear"' ${LINEAR_SET:-} > /tmp/runs/linear.log 2>&1 &
  LINEAR=$!
fi
wait $DELTA; stamp "delta training exit $?"; tail -2 /tmp/runs/delta/train_log.csv | tee -a "$OUT/log.txt"
cp /tmp/runs/delta/adapter.safetensors /tmp/runs/delta/adapter.json /tmp/runs/delta/train_log.csv "$OUT/" 2>/dev/null

A=/tmp/runs/delta/adapter.safetensors
stamp "evaluations side by side"
timeout $EVAL_TIMEOUT $EV --samples ${SAMPLES:-3} --tasks passkey --lengths $PK --depths 0,50,100 --pipelines infini --adapter $A --out /tmp/ev/trained > /tmp/ev_trained.log 2>&1 &
timeout $EVAL_TIMEOUT $EV --samples 2 --tasks niah_single --lengths ${NIAH_LENGTHS:-4k,8k,16k,32k} --depths 0,25,50,75,100 --pipelines infini --adapter $A --out /tmp/ev/niah > /tmp/ev_niah.log 2>&1 &
timeout $EVAL_TIMEOUT $EV --samples 1 --tasks passkey --lengths ${LONG_LENGTHS:-1m} --depths 0,50,100 --pipelines infini --adapter $A --out /tmp/ev/long > /tmp/ev_long.log 2>&1 &
timeout 60 $PY -m infini.perplexity $MODEL_ARG --adapter $A --segments 20 --out "$OUT/perplexity.json" > /tmp/ev_ppl.log 2>&1 &
if [ -n "${LINEAR:-}" ]; then
  wait $LINEAR; stamp "linear training exit $?"; tail -2 /tmp/runs/linear/train_log.csv >> "$OUT/log.txt"
  cp /tmp/runs/linear/adapter.safetensors "$OUT/linear_adapter.safetensors" 2>/dev/null
  timeout $EVAL_TIMEOUT $EV --samples 2 --tasks passkey --lengths $PK --depths 0,50,100 --pipelines infini --adapter /tmp/runs/linear/adapter.safetensors --out /tmp/ev/linear > /tmp/ev_linear.log 2>&1 &
fi
wait
stamp "done"
# At most 8 files come back: one results file, each line tagged with its run.
for d in trained niah long untrained linear; do
  [ -f /tmp/ev/$d/results.jsonl ] && sed "s/^{/{\"run\": \"$d\", /" /tmp/ev/$d/results.jsonl
done > "$OUT/results_all.jsonl"
cat /tmp/ev_ppl.log >> "$OUT/log.txt"
tail -c 1500 /tmp/ev_*.log /tmp/runs/delta.log /tmp/runs/linear.log >> "$OUT/log.txt" 2>/dev/null
