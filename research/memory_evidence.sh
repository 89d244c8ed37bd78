#!/usr/bin/env bash
# Evidence for a trained memory (issue #6), measured with the eval module on this machine's CPU.
# Every step resumes (eval runs skip cases already in results.jsonl): rerun after an interruption.
#
#   research/memory_evidence.sh [ADAPTER] [OUT] [STEPS]
#
# STEPS (comma-separated, default all): gates, perplexity, short, passkey, untrained, niah, passkey128k, last64k, more8k16k.
# Run one step at a time on a 2-core machine; parallel runs slow each other several-fold.
set -eu
ADAPTER=${1:-research/artifacts/smollm2-135m-deltanet-cpu.safetensors}
OUT=${2:-bench/results/memory-cpu}
STEPS=${3:-gates,perplexity,short,passkey,untrained,niah,passkey128k,last64k,more8k16k}
PY=${PY:-python}
SAMPLES=${SAMPLES:-3}
mkdir -p "$OUT"
has() { [[ ",$STEPS," == *",$1,"* ]]; }

if has gates; then  # the paper's Figure 3 as a picture, and the head counts
  $PY -m infini.gates "$ADAPTER" --out "$OUT/gates.png" | tee "$OUT/gates.md"
fi
if has perplexity; then  # held-out text, at the segment length the adapter reads with (its card's)
  $PY -m infini.perplexity --adapter "$ADAPTER" --segments 20 --out "$OUT/perplexity.json" | tee "$OUT/perplexity.md"
fi
EVAL="$PY -m eval run --seed 0 --max-new-tokens 16"
# The trained model on passkey, and on niah_single in the Language Reference (where the model restates the
# question before the 7-digit value, which takes more than 16 tokens); extra arguments pick lengths and cases.
passkey() { $EVAL --tasks passkey --pipelines infini --adapter "$ADAPTER" --out "$OUT/passkey" "$@"; }
niah() { $PY -m eval run --seed 0 --max-new-tokens 32 --tasks niah_single --pipelines infini --adapter "$ADAPTER" --out "$OUT/niah" "$@"; }
if has short; then  # the lengths the CPU recipe trained on (up to 24 x 128 tokens) and just beyond
  passkey --lengths 1k,2k,4k --depths 0,50,100 --samples 2
fi
if has passkey; then  # Table 3 of the paper: needle at the start, middle and end
  passkey --lengths 8k --depths 0,50,100 --samples "$SAMPLES"
  passkey --lengths 32k --depths 0,50,100 --samples 2
fi
if has untrained; then  # the conversions before training, the paper's two update rules
  $EVAL --tasks passkey --lengths 8k --depths 0,50,100 --samples "$SAMPLES" --pipelines infini_untrained,infini_untrained_linear --out "$OUT/untrained"
fi
if has niah; then
  niah --lengths 4k,8k,16k,32k --depths 0,50,100 --samples 1
fi
if has passkey128k; then
  passkey --lengths 128k --depths 0,50,100 --samples 1
fi
if has last64k; then  # between 32K and 128K: does the last segment's answer still hold?
  passkey --lengths 64k --depths 100 --samples 2
fi
if has more8k16k; then  # more cases where the targets are: niah at 8K (3 per depth), passkey at 16K
  passkey --lengths 16k --depths 0,50,100 --samples 2
  niah --lengths 8k --depths 0,50,100 --samples 3
fi
for dir in passkey untrained niah; do
  [ -f "$OUT/$dir/results.jsonl" ] && $PY -m eval report "$OUT/$dir" > /dev/null
done
echo "results in $OUT"
