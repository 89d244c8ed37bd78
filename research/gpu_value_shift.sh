#!/usr/bin/env bash
# A prepared GPU call (~7 minutes on one H200): does a value-shift memory learn to retrieve faster than an
# unshifted one? Both trained from the untrained conversion at the same gate (sigmoid(-1)), same recipe and
# samples (infini/recipes/cuda-deltanet-value-shift.json, 3.5 minutes each, side by side on the one GPU),
# then judged on the same cases: niah and passkey at 512-2K (seed 21, the CPU probes' cases) and the
# answer loss with its own and another sample's memory (research/answer_loss.py --swapped), each beside the CPU probes' figures in README "Value shift".
# Usage (after research/gpu_prepare.sh's two calls): research/gpu_value_shift.sh OUT_DIR MODEL
# Knobs (env): TRAIN_SET (more recipe overrides, e.g. "device=cpu steps=1" for a smoke test), EVAL_SET (eval
#   overrides, e.g. "--samples 1 --lengths 512"), LOSS_SET (answer_loss overrides, e.g. "--samples 1 --segments 1"), PY.
# Output: OUT_DIR/{log.txt, shift/, plain/ (adapter + train_log.csv), *-niah, *-passkey, answer_loss.md}
set -u
OUT=$1; MODEL=$2; PY=${PY:-python3}
T0=$(date +%s); mkdir -p "$OUT"
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/log.txt"; }
export OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
RECIPE=infini/recipes/cuda-deltanet-value-shift.json
stamp "convert the model into the cache once (the two trainings would race to write it)"
$PY -c "import sys; from core.loading import load_base_model; load_base_model(sys.argv[1])" "$MODEL" >> "$OUT/log.txt" 2>&1 \
  || { stamp "model conversion failed"; exit 1; }
stamp "train both from the conversion"
for name in shift plain; do
  shift_set=$([ $name = shift ] && echo value_shift=true || echo value_shift=false)
  $PY -m infini.train --recipe $RECIPE --model "$MODEL" --out "$OUT/$name" --set $shift_set ${TRAIN_SET:-} \
    > "$OUT/$name.train.log" 2>&1 &
done
wait; stamp "trained: $(tail -qn1 "$OUT"/shift/train_log.csv "$OUT"/plain/train_log.csv | tr '\n' ' ')"
for name in shift plain; do
  A="$OUT/$name/adapter.safetensors"
  $PY -m eval run --model "$MODEL" --dtype float32 --pipelines infini --adapter "$A" --seed 21 --tasks niah_single \
    --lengths 512,1k,2k --depths 0,25,50 --samples 4 --out "$OUT/$name-niah" ${EVAL_SET:-} > "$OUT/$name-niah.log" 2>&1 &
  $PY -m eval run --model "$MODEL" --dtype float32 --pipelines infini --adapter "$A" --seed 21 --tasks passkey \
    --lengths 512,1k,2k --depths 0,50 --samples 3 --out "$OUT/$name-passkey" ${EVAL_SET:-} > "$OUT/$name-passkey.log" 2>&1 &
done
$PY research/answer_loss.py --model "$MODEL" --swapped none@-1 "$OUT/plain/adapter.safetensors" "$OUT/shift/adapter.safetensors" \
  ${LOSS_SET:-} > "$OUT/answer_loss.md" 2>&1
wait; stamp "evaluated"
for d in "$OUT"/*-niah "$OUT"/*-passkey; do $PY -m eval report "$d" > /dev/null 2>&1; done  # report.md beside each results.jsonl
grep -h "|" "$OUT"/*-niah/report.md "$OUT"/*-passkey/report.md 2>/dev/null | head -60 >> "$OUT/log.txt"
grep "|" "$OUT/answer_loss.md" >> "$OUT/log.txt"
