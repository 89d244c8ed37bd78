"""Answer loss of artifacts on the same fixed samples: retrieval that exact match cannot see yet.

    python research/answer_loss.py ADAPTER [ADAPTER ...] [--segments 1,2,4] [--samples 8] [--seed 1000] [--swapped]

ADAPTER is a trained artifact, or `none@GATE` for the untrained deltanet conversion with gates at
sigmoid(GATE) (`none@-4`: memory nearly shut, what an answer costs without retrieval). For each
number of memory segments S, draws passkey and niah samples the way training does (infini.train_data,
the needle in an earlier segment, a seed training never used), and prints the mean loss per answer
token (nats; a uniformly guessed digit costs ln 10 = 2.30). A short probe whose exact-match score is
0 can still show its memory starting to retrieve here. --swapped scores the same questions again with
another sample's memory: a memory that retrieves loses its advantage there, one that does not is unmoved.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.loading import load_base_model  # noqa: E402
from infini.model import InfiniConfig, InfiniModel  # noqa: E402
from infini.pipeline import build_infini_model  # noqa: E402
from infini.stream import chat_turn  # noqa: E402
from infini.train import batch_loss  # noqa: E402
from infini.train_data import SampleMaker, collate  # noqa: E402

SEGMENT_LEN = 128  # what every deltanet artifact so far was trained with


def build(lm, name: str) -> InfiniModel:
    if name.startswith("none@"):
        return InfiniModel(copy.deepcopy(lm), InfiniConfig(segment_len=SEGMENT_LEN, update_rule="deltanet",
                                                           gate_init=float(name[len("none@"):])))
    return build_infini_model(copy.deepcopy(lm), name, SEGMENT_LEN)


def draw_samples(maker: SampleMaker, kind: str, S: int, samples: int, seed: int) -> list:
    """The cell's fixed samples: the same for every artifact, and for the matched and the swapped score."""
    rng = random.Random(f"{seed}|{kind}|{S}")
    return [getattr(maker, kind)(rng, S, rng.randint(48, SEGMENT_LEN // 2), 0.0)  # needle never in the last segment
            for _ in range(samples)]


@torch.no_grad()
def mean_answer_loss(model: InfiniModel, drawn: list, S: int, device: str, swapped: bool = False) -> float:
    """Mean over the drawn samples of the loss per answer token. swapped: each sample's questions read the
    next sample's memory instead of their own (same questions, same tokens scored), so the difference from
    the matched loss is what the right memory is worth: ~0 for a memory that does not retrieve."""
    losses = []
    for i, sample in enumerate(drawn):
        memory_ids, final_ids, targets, owner = collate([sample], 0, device)
        if swapped:  # only the partner's memory tokens are needed
            memory_ids = collate([drawn[(i + 1) % len(drawn)]], 0, device)[0]
        loss, _ = batch_loss(model, memory_ids, final_ids, targets, S, owner=owner)
        losses.append(loss.item())
    return sum(losses) / len(losses)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapters", nargs="+")
    parser.add_argument("--model")
    parser.add_argument("--segments", default="1,2,4")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--swapped", action="store_true",
                        help="also score every sample with another sample's memory: matched / swapped per cell")
    args = parser.parse_args(argv)
    if args.swapped and args.samples < 2:
        parser.error("--swapped needs --samples 2 or more (a sample's partner is the next one)")
    lm, tokenizer = load_base_model(args.model, dtype=torch.float32, device=args.device)
    counts = [int(s) for s in args.segments.split(",")]
    columns = [(kind, S) for kind in ("passkey", "niah") for S in counts]
    print(f"mean loss per answer token (nats), {args.samples} samples a cell, seed {args.seed}"
          + (": own memory / another sample's memory" if args.swapped else "") + "\n")
    print("| artifact | " + " | ".join(f"{kind} S={S}" for kind, S in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    maker = SampleMaker(tokenizer, *chat_turn(tokenizer), SEGMENT_LEN)
    drawn = {(kind, S): draw_samples(maker, kind, S, args.samples, args.seed) for kind, S in columns}
    for name in args.adapters:
        model = build(lm, name).eval()
        cells = []
        for kind, S in columns:
            matched = mean_answer_loss(model, drawn[kind, S], S, args.device)
            if args.swapped:
                other = mean_answer_loss(model, drawn[kind, S], S, args.device, swapped=True)
                cells.append(f"{matched:.3f} / {other:.3f}")
            else:
                cells.append(f"{matched:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
