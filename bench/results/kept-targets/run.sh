#!/bin/sh
# The targets a candidate default must keep (issue 36, "Kept"), on cases the shipped default already ran,
# so the two compare case by case (`python -m eval compare`):
#   perplexity within one segment; niah_single 8K (seed 6: bench/results/fresh-seed6/chain-stage9-niah8k);
#   passkey 32K (seeds 11, 12: bench/results/fresh-seed1{1,2}/chain-stage9-passkey32k);
#   the needle in the last segment at 8K, 32K and 128K.
# Usage: OMP_NUM_THREADS=1 sh bench/results/kept-targets/run.sh NAME ADAPTER   (about 80 minutes on one core)
set -e
name=$1; adapter=$2; out=bench/results/kept-targets/$name
mkdir -p $out
python -m infini.perplexity --adapter "$adapter" --out $out/perplexity.json
python -m eval run --pipelines infini --adapter "$adapter" --tasks niah_single --lengths 8k --depths 0,25,50,75 \
  --samples 5 --seed 6 --out $out/niah8k-s6
for seed in 11 12; do
  python -m eval run --pipelines infini --adapter "$adapter" --tasks passkey --lengths 32k --depths 0,25,50,75 \
    --samples 2 --seed $seed --out $out/passkey32k-s$seed
done
python -m eval run --pipelines infini --adapter "$adapter" --tasks passkey --lengths 8k,32k,128k --depths 100 \
  --samples 1 --seed 0 --out $out/last-segment
