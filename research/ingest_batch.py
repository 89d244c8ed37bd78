"""Batched ingestion (InfiniReader.ingest_many, `eval run --ingest-batch N`) against one document at a time.

    python research/ingest_batch.py [--documents 4] [--tokens 2k] [--batches 1,2,4] [--adapter default]
        [--segment-len N] [--device cuda]

The same documents (different stretches of the Language Reference, each about --tokens long) are
ingested once per batch size, batch 1 first (the baseline, measured in the same run, after a warm-up);
prints tokens/s, the ratio to batch 1, and how far each document's memory is from its batch-1 memory
(largest absolute difference over all layers: batching changes only the matmul shapes). The 1M-token
cases of the GPU session are what it is for: one 128-token segment leaves an H200 mostly idle.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from eval.runner import parse_length  # noqa: E402
from eval.tasks import language_reference  # noqa: E402
from infini.adapter import adapter_option  # noqa: E402
from core.loading import default_dtype, load_base_model  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402


def documents(count: int, tokens: int) -> list[str]:
    text = language_reference()
    chars = tokens * 4  # ~4 characters a token in this text; the table prints the tokens actually read
    return [(text * 3)[i * len(text) // count:][:chars] for i in range(count)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=4)
    parser.add_argument("--tokens", type=parse_length, default=2_000)
    parser.add_argument("--batches", default="1,2,4")
    parser.add_argument("--adapter", default="default")
    parser.add_argument("--segment-len", type=int, help="default: the adapter's")
    parser.add_argument("--model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    if batches[0] != 1:
        raise SystemExit("error: --batches must start with 1 (the baseline)")
    lm, tokenizer = load_base_model(args.model, dtype=default_dtype(args.device), device=args.device)
    reader = InfiniPipeline.load(adapter=adapter_option(args.adapter), segment_len=args.segment_len,
                                base=(lm, tokenizer), device=args.device).reader
    texts = documents(args.documents, args.tokens)
    reader.ingest(texts[0][:2_000])  # warm-up
    print(f"{args.documents} documents, {args.device}, {next(lm.parameters()).dtype}, segments of {reader.segment_len}, "
          f"{torch.get_num_threads()} threads\n")
    print("| documents at once | tokens | seconds | tokens/s | ratio to one at a time | largest memory difference |")
    print("|---|---|---|---|---|---|")
    baseline, reference = None, None
    for batch in batches:
        states = []
        if args.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            states += reader.ingest_many(texts[start:start + batch])
        seconds = time.perf_counter() - started
        tokens = sum(state.tokens_seen for state in states)
        reference = reference or states
        difference = max((a - b).abs().max().item() for one, many in zip(reference, states)
                         for entry_one, entry_many in zip(one.memory, many.memory) for a, b in zip(entry_one, entry_many))
        baseline = baseline or tokens / seconds
        print(f"| {batch} | {tokens:,} | {seconds:.1f} | {tokens / seconds:.0f} | {tokens / seconds / baseline:.2f} | "
              f"{difference:.1e} |", flush=True)


if __name__ == "__main__":
    main()
