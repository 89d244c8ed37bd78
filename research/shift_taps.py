"""A key-convolution artifact with fixed taps: an artifact without key_conv, its memory's queries and keys
mixed with the previous tokens' by hand.

    python research/shift_taps.py ADAPTER OUT --taps 0.5,1

`--taps` lists the weights from the oldest token to the token's own (the last; 1 keeps its own vector as
it was): `0.5,1` makes every memory key k_t + 0.5 k_{t-1}, every query the same, in every layer, head and
channel (attention.causal_conv). Everything else (LoRA, gates, write strengths) is ADAPTER's, so OUT beside
ADAPTER measures what a previous-token shift does to retrieval without any training: keys of the two 5s of
55493 then differ by what precedes them. OUT also starts a stage (`init_adapter`) with those taps.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infini.adapter import read_card, write_derived_artifact  # noqa: E402


def parse_taps(text: str) -> list[float]:
    taps = [float(part) for part in text.split(",")]
    if len(taps) < 2:
        raise argparse.ArgumentTypeError("give at least two taps: earlier tokens' weights, then the token's own")
    return taps


def shifted_weights(weights: dict[str, torch.Tensor], taps: list[float], query_heads: int,
                    kv_heads: int, head_dim: int) -> dict[str, torch.Tensor]:
    """`weights` plus memory_conv_q (Hq, K, d) and memory_conv_k (G, K, d) holding `taps` in every layer with memory."""
    column = torch.tensor(taps).view(1, len(taps), 1)
    layers = sorted({name.rsplit(".memory_gate", 1)[0] for name in weights if name.endswith(".memory_gate")})
    taps_of = {"q": column.expand(query_heads, -1, head_dim), "k": column.expand(kv_heads, -1, head_dim)}
    added = {f"{layer}.memory_conv_{which}": t.contiguous().clone() for layer in layers for which, t in taps_of.items()}
    return {**weights, **added}


def head_layout(weights: dict[str, torch.Tensor], path: str) -> tuple[int, int, int]:
    """(query heads, KV heads, head dim) from an artifact's gates (one per query head) and its q/k LoRA outputs."""
    def first(suffix):
        found = next((t for n, t in weights.items() if n.endswith(suffix)), None)
        if found is None:
            raise SystemExit(f"{path} has no {suffix} (an artifact with gates and LoRA on q_proj and k_proj is needed)")
        return found

    query_heads = first(".memory_gate").numel()
    head_dim = first("q_proj.lora_B.default.weight").shape[0] // query_heads  # (Hq * d, rank)
    return query_heads, first("k_proj.lora_B.default.weight").shape[0] // head_dim, head_dim  # (G * d, rank)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter")
    parser.add_argument("out")
    parser.add_argument("--taps", type=parse_taps, required=True, help="e.g. 0.5,1 (oldest first, own token last)")
    args = parser.parse_args(argv)
    card = read_card(args.adapter)
    if card["infini"].get("key_conv"):
        raise SystemExit(f"{args.adapter} has a key convolution already")
    weights = load_file(args.adapter)
    weights = shifted_weights(weights, args.taps, *head_layout(weights, args.adapter))
    write_derived_artifact(args.out, weights, card,
                           f"{args.adapter} with fixed key-convolution taps {args.taps} (research/shift_taps.py)",
                           key_conv=len(args.taps))
    print(args.out)


if __name__ == "__main__":
    main()
