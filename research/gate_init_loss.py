"""How much an untrained conversion's memory garbles text, by initial gate and value_shift.

    python research/gate_init_loss.py [--gates 0,-1,-2,-4] [--segment-len 128] [--segments 40]

Why: training starts from the untrained conversion, whose gates (Eq. 10) decide how much of each head's
output is the memory's read before anything is learned. A read of the next token's value
(value_shift) is not what the next layers expect from an attention head, so the same gate may hurt one
variant far more than the other. Prints the perplexity of a held-out segment read after the previous
one was written to memory (infini.perplexity), for the deltanet variant with and without value_shift,
against the base model, so a recipe's gate_init can be chosen from figures.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.loading import load_base_model  # noqa: E402
from infini.model import InfiniConfig, InfiniModel  # noqa: E402
from infini.perplexity import held_out_pairs, mean_nll  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--gates", default="0,-1,-2,-4", help="initial gate logits beta (sigmoid(beta) is the share read)")
    parser.add_argument("--segment-len", type=int, default=128)
    parser.add_argument("--segments", type=int, default=40)
    args = parser.parse_args(argv)
    lm, tokenizer = load_base_model(args.model, dtype=torch.float32, device="cpu")
    pairs = held_out_pairs(tokenizer, args.segment_len, args.segments)
    base = InfiniModel(copy.deepcopy(lm), InfiniConfig(segment_len=args.segment_len))
    base_ppl = math.exp(mean_nll(base, pairs, use_memory=False, with_previous=True))
    print(f"{pairs.shape[0]} held-out segment pairs of {args.segment_len} tokens; base model {base_ppl:.3f}\n")
    print("| gate_init | gate | deltanet | ratio to base | deltanet + value_shift | ratio to base |\n|---|---|---|---|---|---|")
    for gate in (float(g) for g in args.gates.split(",")):
        row = [f"{gate:g}", f"{1 / (1 + math.exp(-gate)):.3f}"]
        for shift in (False, True):
            model = InfiniModel(copy.deepcopy(lm), InfiniConfig(segment_len=args.segment_len, update_rule="deltanet",
                                                                gate_init=gate, value_shift=shift))
            ppl = math.exp(mean_nll(model, pairs, use_memory=True, with_previous=True))
            row += [f"{ppl:.3f}", f"{ppl / base_ppl:.3f}x"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
