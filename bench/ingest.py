"""Infini ingestion: throughput against the plain segment-by-segment forward, peak RSS, state size.

    python bench/ingest.py [--throughput-tokens 16384] [--rss-lengths 8k,64k,256k] [--segment-len 512]

Throughput: the same segments of real text go through the model with memory (read + write) and
without (the base model run segment by segment), alternating segment by segment so both see the
same machine load; the ratio is the figure. Peak RSS: one fresh process per length streams that
many tokens through InfiniReader.feed. Prints markdown tables; writes nothing.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from eval.runner import parse_length  # noqa: E402
from eval.tasks import language_reference  # noqa: E402
from infini.adapter import adapter_option  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402


def long_text(chars: int) -> str:
    text = language_reference()
    return "\n\n".join([text] * (chars // len(text) + 1))[:chars]


def throughput(pipeline: InfiniPipeline, tokens: int) -> dict:
    reader, model = pipeline.reader, pipeline.reader.model
    N = model.config.segment_len
    ids = reader.encode(long_text(tokens * 6))[: tokens // N * N]
    segments = torch.tensor(ids).view(-1, 1, N)
    memory = model.empty_memory(1)
    times = {"infini": 0.0, "plain": 0.0}
    with torch.no_grad():
        model.segment_hidden(segments[0], None)  # warm-up
        for segment in segments:
            started = time.perf_counter()
            _, memory = model.segment_hidden(segment, memory)
            times["infini"] += time.perf_counter() - started
            started = time.perf_counter()
            model.segment_hidden(segment, None)
            times["plain"] += time.perf_counter() - started
    n = segments.numel()
    return {"tokens": n, "infini_tok_s": n / times["infini"], "plain_tok_s": n / times["plain"],
            "ratio": times["plain"] / times["infini"]}


def rss_child(tokens: int, segment_len: int | None, adapter: str | None) -> None:
    pipeline = InfiniPipeline.load(adapter=adapter, segment_len=segment_len, device="cpu")
    reader = pipeline.reader
    state = reader.new_state()
    text = long_text(tokens * 6)
    position = 0
    while state.tokens_seen < tokens and position < len(text):
        reader.feed(state, text[position:position + 4_000])
        position += 4_000
    config = reader.model.lm.config
    element = next(reader.model.lm.parameters()).element_size()
    kv_bytes = 2 * config.num_hidden_layers * config.num_key_value_heads * reader.model.head_dim * state.tokens_seen * element
    print(json.dumps({"tokens": state.tokens_seen, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "state_bytes": state.nbytes(), "memory_bytes": state.memory_bytes(), "kv_cache_bytes": kv_bytes}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--throughput-tokens", type=parse_length, default=16_384)
    parser.add_argument("--rss-lengths", default="8k,64k,256k")
    parser.add_argument("--segment-len", type=int)
    parser.add_argument("--adapter", default="none",
                        help="trained artifact to ingest with (default none: the untrained conversion, as in the README)")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    adapter = adapter_option(args.adapter)
    if args.rss_child:
        return rss_child(args.rss_child, args.segment_len, adapter)

    torch.manual_seed(0)
    pipeline = InfiniPipeline.load(adapter=adapter, segment_len=args.segment_len, device="cpu")
    t = throughput(pipeline, args.throughput_tokens)
    print(f"Ingestion throughput, {t['tokens']:,} tokens, segments of {pipeline.reader.segment_len}, "
          f"{torch.get_num_threads()} threads\n")
    print("| path | tokens/s | ratio to plain |\n|---|---|---|")
    print(f"| plain forward, segment by segment | {t['plain_tok_s']:.0f} | 1.00 |")
    print(f"| Infini (memory read + write) | {t['infini_tok_s']:.0f} | {t['ratio']:.3f} |\n")
    del pipeline
    print("| tokens ingested | peak RSS (MB) | ratio to first | state bytes | full KV cache bytes |\n|---|---|---|---|---|")
    first = None
    for length in [parse_length(x) for x in args.rss_lengths.split(",")]:
        command = [sys.executable, __file__, "--rss-child", str(length), "--adapter", args.adapter]
        if args.segment_len:
            command += ["--segment-len", str(args.segment_len)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        row = json.loads(out)
        first = first or row["peak_rss_mb"]
        print(f"| {row['tokens']:,} | {row['peak_rss_mb']:.0f} | {row['peak_rss_mb'] / first:.2f} | "
              f"{row['state_bytes']:,} | {row['kv_cache_bytes']:,} |", flush=True)


if __name__ == "__main__":
    main()
