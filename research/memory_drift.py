"""How the memory's size grows with the text written: ||M|| per layer against segments written.

    python research/memory_drift.py --adapter PATH [--tokens 8000] [--every 8]

Streams a passkey document (repeated filler) and prints, every few segments, the mean and the
largest Frobenius norm of M over layers, for the given artifact and the untrained conversion.
A memory whose norm keeps growing on filler it has already stored is drifting.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.tasks import TokenCounter, make_passkey  # noqa: E402
from core.loading import load_base_model  # noqa: E402
from infini.pipeline import build_infini_model  # noqa: E402


def norms_by_segment(model, ids: torch.Tensor, every: int) -> list[tuple[int, float, float, int]]:
    N = model.config.segment_len
    memory = model.empty_memory(1)
    rows = []
    with torch.no_grad():
        for index, segment in enumerate(ids.split(N, dim=1), start=1):
            _, memory = model.segment_hidden(segment, memory)
            if index % every == 0:
                norms = torch.stack([entry.M.norm() for entry in memory])
                rows.append((index, norms.mean().item(), norms.max().item(), int(norms.argmax())))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--tokens", type=int, default=8000)
    parser.add_argument("--every", type=int, default=8)
    args = parser.parse_args(argv)
    lm, tokenizer = load_base_model()
    case = make_passkey(TokenCounter(tokenizer), args.tokens, 50.0, random.Random("drift"))
    ids = tokenizer(case.document, return_tensors="pt", add_special_tokens=False).input_ids
    trained = build_infini_model(copy.deepcopy(lm), args.adapter)
    untrained = build_infini_model(copy.deepcopy(lm), None, trained.config.segment_len)
    columns = {name: norms_by_segment(model, ids, args.every) for name, model in
               (("trained", trained), ("untrained", untrained))}
    print(f"{ids.shape[1]} tokens, {trained.config.segment_len}-token segments, needle at 50%")
    print("| segments written | trained mean ||M|| | trained max (layer) | untrained mean ||M|| | untrained max (layer) |")
    print("|---|---|---|---|---|")
    for (n, tm, tx, tl), (_, um, ux, ul) in zip(columns["trained"], columns["untrained"]):
        print(f"| {n} | {tm:.2f} | {tx:.2f} ({tl}) | {um:.2f} | {ux:.2f} ({ul}) |")


if __name__ == "__main__":
    main()
