#!/usr/bin/env bash
# Which layers does a trained memory retrieve through? The same passkey cases (needle in an earlier
# segment: depths 0 and 50, at lengths the artifact retrieves at) with the memory kept in some layers
# only (eval run --memory-layers); the other layers read as the base model.
#
#   research/memory_layers.sh ADAPTER OUT [LAYER-SETS]
#
# LAYER-SETS: space-separated, default "0-9 10-19 20-29 10-29 0-9,20-29 0-19". Results: OUT/layers-SET/.
set -eu
ADAPTER=$1
OUT=$2
SETS=${3:-0-9 10-19 20-29 10-29 0-9,20-29 0-19}
PY=${PY:-python}
for layers in $SETS; do
  $PY -m eval run --seed 0 --max-new-tokens 16 --tasks passkey --lengths 1k,2k --depths 0,50 --samples 2 \
    --pipelines infini --adapter "$ADAPTER" --memory-layers "$layers" --out "$OUT/layers-${layers//,/+}"
  $PY -m eval report "$OUT/layers-${layers//,/+}" > /dev/null
done
echo "results in $OUT"
