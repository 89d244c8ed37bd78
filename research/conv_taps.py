"""How far training moved the key convolution's taps from the identity (InfiniConfig.key_conv).

    python research/conv_taps.py ARTIFACT.safetensors

Reads the artifact's weights only (no model). Per layer and for queries and keys: the mean absolute
weight of each tap over heads and channels. Tap K-1 is the token's own vector (1 at the start), taps
0..K-2 the earlier tokens' (0 at the start): how much they hold is how much of a key is its neighbours.
Then, over all layers: each tap's signed mean (a learned shift has one; a random walk stays near 0) and
the correlation of query and key taps channel by channel (query heads averaged per KV head): keys and
queries that learned to match n-grams move together.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch
from safetensors.torch import load_file


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact")
    args = parser.parse_args(argv)
    if not Path(args.artifact).is_file():
        raise SystemExit(f"no artifact at {args.artifact}")
    weights = load_file(args.artifact)
    taps = {}  # (layer, "q" or "k") -> (heads, K, d)
    for name, tensor in weights.items():
        found = re.search(r"layers\.(\d+)\..*memory_conv_([qk])", name)
        if found:
            taps[int(found[1]), found[2]] = tensor
    if not taps:
        raise SystemExit(f"{args.artifact} has no key convolution (trained without key_conv)")
    rows = [(layer, which, t.abs().mean(dim=(0, 2)).tolist()) for (layer, which), t in taps.items()]
    K = len(rows[0][2])
    print("| layer | of | " + " | ".join(f"tap t-{K - 1 - j}" for j in range(K)) + " |")
    print("|---|---|" + "---|" * K)
    for layer, which, means in sorted(rows):
        print(f"| {layer} | {'queries' if which == 'q' else 'keys'} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    for which in "qk":
        own = [means[-1] for _, w, means in rows if w == which]
        earlier = [sum(means[:-1]) for _, w, means in rows if w == which]
        print(f"{'queries' if which == 'q' else 'keys'}: own tap {sum(own) / len(own):.3f}, "
              f"earlier taps together {sum(earlier) / len(earlier):.3f} (mean over layers; identity: 1 and 0)")
    # (layers, Hq, K, d), (layers, G, K, d)
    queries, keys = (torch.stack([t for (_, w), t in sorted(taps.items()) if w == which]) for which in "qk")
    queries = queries.view(queries.shape[0], keys.shape[1], -1, K, queries.shape[-1]).mean(dim=2)  # per KV head
    for j in range(K - 1):
        pair = torch.stack([queries[:, :, j].flatten(), keys[:, :, j].flatten()])
        print(f"tap t-{K - 1 - j}: signed mean queries {queries[:, :, j].mean():+.3f}, keys {keys[:, :, j].mean():+.3f}; "
              f"corr(queries, keys) {torch.corrcoef(pair)[0, 1]:+.3f}")


if __name__ == "__main__":
    main()
