"""An ablation artifact: some layers' memories written (almost) nothing, their gates kept.

    python research/silent_layers.py ADAPTER LAYERS OUT        # LAYERS as in --memory-layers: 0-13

In the given layers the write strength is set to sigmoid(-20) = 2e-9 (deltanet rule: weight 0, bias -20), so their
memory stays within 1e-9 of empty and every read returns almost nothing, but not exactly nothing: the gate stays on
(attention.py switches it off only for an all-zero memory), so those layers still give (1 - g) A_dot (Eq. 10).
Measured beside the artifact and beside `--memory-layers` without those layers (base attention there), it tells
whether those layers matter through what their memory holds or through the gate's scaling of the local read.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.__main__ import parse_layers  # noqa: E402
from infini.adapter import read_card, write_derived_artifact  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter")
    parser.add_argument("layers")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    card = read_card(args.adapter)
    if card["infini"]["update_rule"] != "deltanet":
        raise SystemExit("only the deltanet rule has a write strength to silence")
    layers = {f"layers.{i}." for i in parse_layers(args.layers)}  # as adapter.load_trained_weights names a layer
    weights = load_file(args.adapter)
    silenced = 0
    for name in list(weights):
        if ".memory_beta." in name and any(layer in name for layer in layers):
            weights[name] = torch.full_like(weights[name], -20.0) if name.endswith("bias") else torch.zeros_like(weights[name])
            silenced += name.endswith("bias")
    write_derived_artifact(args.out, weights, card, f"{args.adapter} with layers {args.layers} writing nothing "
                           "(research/silent_layers.py)")
    print(f"{args.out}: {silenced} layers silenced")


if __name__ == "__main__":
    main()
