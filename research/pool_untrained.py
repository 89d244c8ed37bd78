"""A probe artifact: an artifact without pools, given the context_pool variant with every mix set by hand.

    python research/pool_untrained.py ADAPTER MIX OUT

Everything trained is kept; each layer's memory queries and keys get MIX times what the base model's local
attention gathers of them (attention.attention_pool), untrained. With a large MIX (10) the pooled part
dominates the unit vectors: `python research/key_margin.py --adapter OUT` then tells whether the base model's
attention pattern alone would let the early layers' queries tell the questions apart.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.loading import load_base_model  # noqa: E402
from infini.adapter import add_lora, load_trained_weights, read_card, trainable_state, write_derived_artifact  # noqa: E402
from infini.model import InfiniConfig, InfiniModel  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter")
    parser.add_argument("mix", type=float)
    parser.add_argument("out")
    parser.add_argument("--model")
    args = parser.parse_args(argv)
    card = read_card(args.adapter)
    if card["infini"].get("context_pool"):
        raise SystemExit(f"{args.adapter} has trained pools already")
    lm, _ = load_base_model(args.model)
    model = InfiniModel(lm, InfiniConfig(**{**card["infini"], "context_pool": True}))
    add_lora(model, card["lora"]["rank"], card["lora"]["alpha"], card["lora"]["targets"])
    load_trained_weights(model, args.adapter, fresh=["memory_pool"])
    with torch.no_grad():
        for name, param in model.lm.named_parameters():
            if "memory_pool" in name:
                param.fill_(args.mix)
    write_derived_artifact(args.out, trainable_state(model), card, f"{args.adapter} with untrained pools of mix "
                           f"{args.mix:g} (research/pool_untrained.py)", context_pool=True)
    print(args.out)


if __name__ == "__main__":
    main()
