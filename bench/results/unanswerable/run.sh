#!/bin/sh
# How often does a memory invent an answer to a question whose answer is not in the document? The held-out
# `facts_unanswerable` task (a fact about the entity is there, the asked-for one is not) at 8K tokens,
# 12 cases (depths 0 and 50, seed 50); the score is the share of replies that say the text does not tell.
# Usage: OMP_NUM_THREADS=1 sh bench/results/unanswerable/run.sh NAME ADAPTER   (about 8 minutes on one core)
set -e
name=$1; adapter=$2
python -m eval run --pipelines infini --adapter "$adapter" --tasks facts_unanswerable --lengths 8k --depths 0,50 \
  --samples 6 --seed 50 --max-new-tokens 32 --out bench/results/unanswerable/$name
