"""Gate statistics of a trained artifact: which heads became memory heads, local heads or mixers.

    python -m infini.gates [ADAPTER] [--out gates.png]

The paper's Figure 3 as a picture: sigmoid(beta) per query head, one row per layer, beside the
count of each kind per layer. Reads the gates straight from the safetensors file (no model load).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

MEMORY_HEAD = 0.9  # sigmoid(beta) above this: the head reads (almost) only memory
LOCAL_HEAD = 0.1  # below this: the head reads (almost) only its local segment


def gate_matrix(adapter: str | Path) -> torch.Tensor:
    """(layers, query heads) sigmoid(beta) from an adapter file."""
    weights = load_file(str(adapter))
    layer_of = {}
    for name in weights:
        match = re.search(r"layers\.(\d+)\..*memory_gate$", name)
        if match:
            layer_of[int(match.group(1))] = name
    if not layer_of:
        raise ValueError(f"{adapter} holds no memory gates")
    return torch.stack([torch.sigmoid(weights[layer_of[i]].float()) for i in sorted(layer_of)])


def head_kinds(gates: torch.Tensor) -> dict[str, int]:
    memory = int((gates > MEMORY_HEAD).sum())
    local = int((gates < LOCAL_HEAD).sum())
    return {"memory_heads": memory, "local_heads": local, "mixers": gates.numel() - memory - local}


def gate_heatmap(fig, ax, values) -> None:
    """(layers, heads) gate values as a heatmap on `ax` (shared with the app's memory picture)."""
    image = ax.imshow(values, aspect="auto", cmap="coolwarm", vmin=0, vmax=1)
    ax.set_xlabel("query head")
    ax.set_ylabel("layer")
    ax.set_title("gate sigmoid(beta): 1 = memory, 0 = local")
    fig.colorbar(image, ax=ax, fraction=0.05)


def gate_figure(gates: torch.Tensor, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = gates.numpy()
    kinds = [((row > MEMORY_HEAD).sum(), (row < LOCAL_HEAD).sum()) for row in values]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 5), gridspec_kw={"width_ratios": [3, 2]})
    gate_heatmap(fig, left, values)
    layers = range(len(values))
    memory = [m for m, _ in kinds]
    local = [lo for _, lo in kinds]
    mixers = [values.shape[1] - m - lo for m, lo in kinds]
    right.barh(layers, memory, color="tab:red", label=f"memory (>{MEMORY_HEAD})")
    right.barh(layers, mixers, left=memory, color="tab:gray", label="mixer")
    right.barh(layers, local, left=[m + x for m, x in zip(memory, mixers)], color="tab:blue", label=f"local (<{LOCAL_HEAD})")
    right.invert_yaxis()
    right.set_xlabel("heads")
    right.set_title("kind of head per layer")
    right.legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    from .adapter import DEFAULT_ADAPTER

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter", nargs="?", default=str(DEFAULT_ADAPTER))
    parser.add_argument("--out", help="write the figure here (PNG)")
    args = parser.parse_args(argv)
    try:
        gates = gate_matrix(args.adapter)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    kinds = head_kinds(gates)
    print("| heads | memory (>0.9) | mixers | local (<0.1) | gate mean | min | max |\n|---|---|---|---|---|---|---|")
    print(f"| {gates.numel()} | {kinds['memory_heads']} | {kinds['mixers']} | {kinds['local_heads']} | "
          f"{gates.mean():.3f} | {gates.min():.3f} | {gates.max():.3f} |")
    if args.out:
        gate_figure(gates, Path(args.adapter).name).savefig(args.out, dpi=110)
        print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
