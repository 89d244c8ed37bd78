#!/usr/bin/env bash
# One stage of the key-convolution chain (research/conv_chain.sh) against stage 9's lineage at the same stage,
# measured the way stage 2 was (README, "Next"): answer loss with own / another sample's memory, then exact
# match on passkey and niah_single at 2K (depths 0-75, 3 samples, seed 1) and the per-case comparison with
# its sign test. One torch thread by default, so that it can run beside the chain's training.
#
#   research/chain_compare.sh CHAIN_ADAPTER LINEAGE_ADAPTER OUT
#
# Writes OUT/answer_loss_swapped.md, OUT/niah-passkey2k-plain/ (the lineage), OUT/niah-passkey2k-conv/
# (the chain) and OUT/compare.md.
set -eu
CHAIN=$1
LINEAGE=$2
OUT=$3
PY=${PY:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
$PY research/answer_loss.py --swapped "$LINEAGE" "$CHAIN" > "$OUT/answer_loss_swapped.md"
for pair in "plain:$LINEAGE" "conv:$CHAIN"; do
  $PY -m eval run --tasks niah_single,passkey --lengths 2k --depths 0,25,50,75 --samples 3 --seed 1 \
    --pipelines infini --adapter "${pair#*:}" --out "$OUT/niah-passkey2k-${pair%%:*}"
done
$PY -m eval compare "$OUT/niah-passkey2k-plain" "$OUT/niah-passkey2k-conv" --by task > "$OUT/compare.md"
cat "$OUT/answer_loss_swapped.md" "$OUT/compare.md"
