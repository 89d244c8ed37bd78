#!/bin/sh
# How far back can the memory reach? The held-out `facts` task with the fact at depth 0 (the document's
# first segment) and documents of 100 .. 8K tokens: the fact 0, 1, 3, 7, 15 or 62 segments of 128 tokens back from
# the answering segment (100 tokens: in the answering segment itself).
# `full` reads the same documents in its context window: the base model's own ceiling.
# Usage: sh bench/results/fact-distance/run.sh NAME [ADAPTER|full]   (one core: OMP_NUM_THREADS=1)
set -e
name=$1; adapter=${2:-default}
common="--tasks facts --lengths 100,200,400,1k,2k,8k --depths 0 --samples 12 --seed 50 --max-new-tokens 32"
if [ "$adapter" = full ]; then
  python -m eval run --pipelines full $common --out bench/results/fact-distance/$name
else
  python -m eval run --pipelines infini --adapter "$adapter" $common --out bench/results/fact-distance/$name
fi
