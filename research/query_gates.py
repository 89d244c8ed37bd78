"""Where the memory is read: the mean gate over ordinary text and over a question, per artifact.

    python research/query_gates.py --adapter A [--adapter B ...] [--length 4k] [--cases 3]

Static gates (Eq. 10) give every token of a head the same share of memory, so both columns are
equal. Query gates (InfiniConfig.query_gate) can differ: a useful one reads less over ordinary
text (what the perplexity with a segment in memory pays for) and more where a question asks for
what memory holds. Rows:
- held-out text: the second of two 128-token segments of held-out Language Reference text, the first in
  memory (the perplexity measurement's setting), mean gate over its tokens;
- passkey question: a passkey document of --length tokens ingested, then the final segment (document
  tail, question, end of the user's turn): mean gate over its last 16 tokens, where the answer starts.
Means over layers with memory, query heads and tokens; gates are 0 where memory is empty.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.runner import parse_length  # noqa: E402
from eval.tasks import TokenCounter, make_passkey  # noqa: E402
from core.loading import load_base_model  # noqa: E402
from infini.perplexity import held_out_pairs  # noqa: E402
from infini.pipeline import build_infini_model  # noqa: E402
from infini.stream import InfiniReader  # noqa: E402

QUESTION_TAIL = 16


def logged_gates(model, ids: torch.Tensor, memory) -> torch.Tensor:
    """Read `ids` (1, T) against `memory` without writing; (memory layers, Hq, T) gates."""
    model.context.gate_log = []
    try:
        with torch.no_grad():
            model.segment_hidden(ids, memory, write=False)
        return torch.stack([g[0] for g in model.context.gate_log])
    finally:
        model.context.gate_log = None


def text_gate(model, tokenizer, pairs: int) -> float:
    means = []
    for pair in held_out_pairs(tokenizer, model.config.segment_len, pairs):
        with torch.no_grad():
            _, memory = model.segment_hidden(pair[0:1], model.empty_memory(1))
        means.append(logged_gates(model, pair[1:2], memory).mean())
    return torch.stack(means).mean().item()


def question_gate(reader: InfiniReader, length: int, cases: int) -> float:
    means = []
    for index in range(cases):
        case = make_passkey(TokenCounter(reader.tokenizer), length, 0.5, random.Random(f"query-gates-{index}"))
        state = reader.ingest(case.document)
        prompt = torch.tensor([reader.final_tokens(state, case.question)])
        means.append(logged_gates(reader.model, prompt, state.memory)[:, :, -QUESTION_TAIL:].mean())
    return torch.stack(means).mean().item()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", action="append", required=True, help="an artifact (repeat to compare)")
    parser.add_argument("--length", default="4k", help="passkey document length")
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=10, help="held-out text segment pairs")
    args = parser.parse_args(argv)
    lm, tokenizer = load_base_model()
    print(f"| artifact | query gates | mean gate, held-out text after a segment | mean gate, passkey question ({args.length}) |")
    print("|---|---|---|---|")
    for adapter in args.adapter:
        model = build_infini_model(copy.deepcopy(lm), adapter)
        reader = InfiniReader(model, tokenizer)
        text = text_gate(model, tokenizer, args.pairs)
        question = question_gate(reader, parse_length(args.length), args.cases)
        print(f"| {Path(adapter).stem} | {'yes' if model.config.query_gate else 'no'} | {text:.3f} | {question:.3f} |", flush=True)


if __name__ == "__main__":
    main()
