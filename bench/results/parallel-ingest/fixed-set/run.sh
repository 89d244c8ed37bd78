#!/bin/bash
# The fixed set every ingestion option is judged on: the same 12 cases, greedy.
cd "$(dirname "$0")/../../../.."
set -e
common="--pipelines infini --tasks passkey,niah_single --lengths 8k --depths 10,50,90 --samples 2 --seed 5"
.venv/bin/python -m eval run $common --segments-per-pass 1 --out bench/results/parallel-ingest/fixed-set/sequential-fp32
.venv/bin/python -m eval run $common --out bench/results/parallel-ingest/fixed-set/parallel-fp32
.venv/bin/python -m eval run $common --dtype bfloat16 --out bench/results/parallel-ingest/fixed-set/parallel-bf16
.venv/bin/python -m eval run $common --dtype int8 --out bench/results/parallel-ingest/fixed-set/parallel-int8
