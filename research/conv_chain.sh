#!/usr/bin/env bash
# Stage 9's lineage again, from the conversion, with the key convolution (`key_conv: 4`) and gates at
# sigmoid(-1): the chain the 100-step screen ("The key convolution from the conversion") asked for.
# Each stage runs the recipe stage 9's lineage ran, for the steps it reached there, on the same seeded
# samples, starting from the stage before. max_minutes is lifted so that the step count drives the
# learning-rate and length schedule: stage 9's stages were time-boxed, so theirs followed the clock (close
# to the same, not identical; stage 2 ended at 90% of its schedule, this one at 100%).
# Resumable: a finished stage (OUT/stageN/adapter.safetensors) is skipped, a stopped one resumes from its
# checkpoint. About 7 hours on 2 CPU cores in all.
#
#   research/conv_chain.sh OUT [STAGES]
#
# STAGES: space-separated stage numbers, default "1 2 3 4 5 7 8 9" (stage 6, query gates, was not in
# stage 9's lineage); each starts from the one listed before it, so "1 7 8 9" is a shorter route. A list
# that does not start at 1 starts from INIT (an adapter trained with key_conv 4). Judge the result with `python research/answer_loss.py --swapped` and with `eval run` on
# stage 9's niah 8K cases (seeds 1, 2, 4, 5).
# EXTRA: more recipe overrides for every stage, e.g. EXTRA="read_cap=false": the route taken after stage 3
# (README, "Next"): the read cap cancels this chain's memory read, since its gates sit at sigmoid(-1).
set -eu
OUT=$1
STAGES=${2:-1 2 3 4 5 7 8 9}
PY=${PY:-python}
declare -A RECIPE=([1]=cpu-deltanet [2]=cpu-deltanet-long [3]=cpu-deltanet-capped [4]=cpu-deltanet-24k
                   [5]=cpu-deltanet-selective [7]=cpu-deltanet-short [8]=cpu-deltanet-short-stage8 [9]=cpu-deltanet-stage9)
declare -A STEPS=([1]=450 [2]=118 [3]=103 [4]=74 [5]=71 [7]=303 [8]=237 [9]=131)  # stage 9's card, "stages"
previous=${INIT:-}
for stage in $STAGES; do
  [ -n "${RECIPE[$stage]:-}" ] || { echo "no stage $stage in stage 9's lineage" >&2; exit 2; }
  [ "$stage" = 1 ] || [ -n "$previous" ] || { echo "stage $stage needs INIT=ADAPTER or an earlier stage" >&2; exit 2; }
  run="$OUT/stage$stage"
  if [ ! -f "$run/adapter.safetensors" ]; then
    init=()
    [ -n "$previous" ] && init=("init_adapter=$previous")
    $PY -m infini.train --recipe "infini/recipes/${RECIPE[$stage]}.json" --out "$run" \
      --set key_conv=4 gate_init=-1.0 steps="${STEPS[$stage]}" max_minutes=1000 stage="$stage" "${init[@]}" ${EXTRA:-}
  fi
  previous="$run/adapter.safetensors"
done
echo "chain in $OUT; last stage: $previous"
