"""How loud each artifact's memory read is beside its local read, and what the read cap leaves of it.

    python bench/read_loudness.py ADAPTER [ADAPTER ...] [--tokens 2000]

Streams one passkey document (needle at 50%) and, in every layer, head and token after the first
segment, takes r = RMS(memory read) / RMS(local read) (the ratio `attention.cap_to` clamps to 1). The
read enters the output as g * read (Eq. 10), so g * r is the memory's weight in the mix relative to the
local read's scale; with the cap it is g * min(r, 1). Each model runs as its card says (capped or not).
Written for the key-convolution chain, whose gates sit near sigmoid(-1): a memory trained uncapped that
makes up for a small gate with a loud read loses that under the cap.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import infini.attention as attention  # noqa: E402
from eval.tasks import TokenCounter, make_passkey  # noqa: E402
from infini.loading import load_base_model  # noqa: E402
from infini.pipeline import build_infini_model  # noqa: E402


def loudness(model, ids: torch.Tensor) -> torch.Tensor:
    """r for every (layer, head, token) of the segments after the first: (L, Hq, tokens)."""
    trained_cap = model.config.read_cap  # 0.0: trained without the cap
    calls: list[torch.Tensor] = []
    original = attention.cap_to

    def record(memory_attn, local_attn, limit):  # (B, Hq, T, d) each; limit unused: the trained cap applies
        calls.append((attention.head_rms(memory_attn) / attention.head_rms(local_attn))[0, ..., 0])  # (Hq, T)
        return original(memory_attn, local_attn, trained_cap) if trained_cap else memory_attn

    for layer in model.attention_layers():  # every layer passes its read through cap_to: recorded, then as trained
        layer.read_cap = 1.0
    attention.cap_to = record
    segments, memory = [], model.empty_memory(1)
    try:
        with torch.no_grad():
            for index, segment in enumerate(ids.split(model.config.segment_len, dim=1)):
                calls.clear()
                _, memory = model.segment_hidden(segment, memory)
                if index:  # the first segment reads an empty memory (its gate is shut)
                    segments.append(torch.stack(calls))  # (L, Hq, T)
    finally:
        attention.cap_to = original
    return torch.cat(segments, dim=-1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapters", nargs="+")
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args(argv)
    lm, tokenizer = load_base_model()
    case = make_passkey(TokenCounter(tokenizer), args.tokens, 50.0, random.Random("loudness"))
    ids = tokenizer(case.document, return_tensors="pt", add_special_tokens=False).input_ids
    print(f"{ids.shape[1]} tokens, needle at 50%; r = RMS(memory read) / RMS(local read), g the head's gate; "
          "medians over layers, heads and tokens after the first segment\n")
    print("| artifact | trained capped | median r | share r > 1 | mean g | median g*r | median g*min(r,1) |")
    print("|---|---|---|---|---|---|---|")
    for adapter in args.adapters:
        model = build_infini_model(copy.deepcopy(lm), adapter)
        capped = model.config.read_cap
        gates = model.gate_values().float().unsqueeze(-1)  # (L, Hq, 1)
        r = loudness(model, ids)
        print(f"| {adapter} | {capped} | {r.median():.2f} | {(r > 1).float().mean():.2f} | {gates.mean():.3f} "
              f"| {(gates * r).median():.3f} | {(gates * r.clamp(max=1.0)).median():.3f} |")


if __name__ == "__main__":
    main()
