"""Perplexity on held-out real text (the Language Reference's last 10%, never trained on).

    python -m infini.perplexity [--adapter PATH] [--segment-len N] [--segments 40]

Prints, per model, the perplexity of single segments read with an empty memory (what a short
question without a document sees) and of a segment read after the previous one was written to
memory. The base model reads both without memory. Writes JSON with --out.
"""
from __future__ import annotations

import argparse
import copy
import json
import math

import torch
import torch.nn.functional as F

from .adapter import DEFAULT_ADAPTER, adapter_option, read_card
from core.loading import default_dtype, load_base_model
from .model import InfiniConfig, InfiniModel
from .pipeline import build_infini_model
from .train_data import split_reference


@torch.no_grad()
def mean_nll(model: InfiniModel, segments: torch.Tensor, use_memory: bool, with_previous: bool) -> float:
    """segments (n, 2, N): mean next-token loss on each pair's second half (with_previous) or first."""
    total, count = 0.0, 0
    for pair in segments:
        first, second = pair[0:1], pair[1:2]
        memory = model.empty_memory(1, device=first.device) if use_memory else None
        target = first
        if with_previous:
            _, memory = model.segment_hidden(first, memory)
            target = second
        hidden, _ = model.segment_hidden(target, memory, write=False)
        logits = model.logits(hidden[0, :-1]).float()
        total += F.cross_entropy(logits, target[0, 1:], reduction="sum").item()
        count += target.shape[1] - 1
    return total / count


def held_out_pairs(tokenizer, segment_len: int, n_pairs: int, device="cpu") -> torch.Tensor:
    """(n, 2, N): consecutive segment pairs from the start of the held-out Language Reference text."""
    ids = tokenizer(split_reference()[1], add_special_tokens=False)["input_ids"]
    n = min(n_pairs, len(ids) // (2 * segment_len))
    return torch.tensor(ids[: n * 2 * segment_len], device=device).view(n, 2, segment_len)


def perplexities(model_path: str | None, adapter: str | None, segment_len: int, n_segments: int, device: str) -> dict:
    lm, tokenizer = load_base_model(model_path, dtype=default_dtype(device), device=device)
    segments = held_out_pairs(tokenizer, segment_len, n_segments, device)
    n = segments.shape[0]
    base = InfiniModel(copy.deepcopy(lm), InfiniConfig(segment_len=segment_len))
    models = {"base": (base, False), "untrained_conversion": (base, True)}
    if adapter:
        models["trained"] = (build_infini_model(lm, adapter, segment_len), True)
    out = {"segment_len": segment_len, "segments": n}
    for name, (model, use_memory) in models.items():
        out[name] = {
            "single_segment_ppl": round(math.exp(mean_nll(model, segments, use_memory, False)), 3),
            "after_previous_segment_ppl": round(math.exp(mean_nll(model, segments, use_memory, True)), 3),
        }
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--adapter", default="default", help="trained artifact ('none' to skip)")
    parser.add_argument("--segment-len", type=int,
                        help="tokens per segment (default: what the adapter was trained with, else 512)")
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    adapter = adapter_option(args.adapter)
    if adapter == "default":
        adapter = str(DEFAULT_ADAPTER) if DEFAULT_ADAPTER.exists() else None
    segment_len = args.segment_len or (read_card(adapter)["infini"]["segment_len"] if adapter else 512)
    result = perplexities(args.model, adapter, segment_len, args.segments, args.device)
    print(f"| model | single segment (empty memory) | segment after one in memory |\n|---|---|---|")
    for name in ("base", "untrained_conversion", "trained"):
        if name in result:
            r = result[name]
            print(f"| {name} | {r['single_segment_ppl']} | {r['after_previous_segment_ppl']} |")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
