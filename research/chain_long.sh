#!/usr/bin/env bash
# A stage of the key-convolution chain (research/conv_chain.sh) at the lengths the 2K measures of
# research/chain_compare.sh do not reach, on cases stage 9 (the default) has already read: passkey at 32K
# (seed 1, depths 0 and 50, 3 samples: bench/results/fresh-seed1/stage9-passkey32k, 6/6) and niah_single at
# 8K (seed 4, depths 0-75, 5 samples: bench/results/gpu-2026-11-29/stage9-niah8k-s4), each compared case by
# case with stage 9's (`eval compare`, sign test). One torch thread by default, to run beside training.
#
#   research/chain_long.sh ADAPTER OUT [READ_CAP]
#
# READ_CAP: eval run's --read-cap (on, off or a multiple of the local read's RMS); default: as trained.
# Writes OUT/passkey32k/, OUT/niah8k-s4/ and OUT/compare.md.
set -eu
ADAPTER=$1
OUT=$2
CAP=()
[ -n "${3:-}" ] && CAP=(--read-cap "$3")
PY=${PY:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
$PY -m eval run --tasks passkey --lengths 32k --depths 0,50 --samples 3 --seed 1 --max-new-tokens 16 \
  --pipelines infini --adapter "$ADAPTER" "${CAP[@]}" --out "$OUT/passkey32k"
$PY -m eval run --tasks niah_single --lengths 8k --depths 0,25,50,75 --samples 5 --seed 4 --max-new-tokens 32 \
  --pipelines infini --adapter "$ADAPTER" "${CAP[@]}" --out "$OUT/niah8k-s4"
{
  $PY -m eval compare bench/results/fresh-seed1/stage9-passkey32k "$OUT/passkey32k" --by task
  $PY -m eval compare bench/results/gpu-2026-11-29/stage9-niah8k-s4 "$OUT/niah8k-s4" --by task
} > "$OUT/compare.md"
cat "$OUT/compare.md"
