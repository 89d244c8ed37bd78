"""How loud each artifact's memory read is beside its local read, and what the read cap leaves of it.

    python research/read_loudness.py ADAPTER [ADAPTER ...] [--tokens 2000]

Streams one passkey document (needle at 50%) and, in every layer, head and token after the first
segment, takes r = RMS(memory read) / RMS(local read) (the ratio `attention.cap_to` clamps to 1). The
read enters the output as g * read (Eq. 10), so g * r is the memory's weight in the mix relative to the
local read's scale; with the cap it is g * min(r, 1). Each model runs as its card says (capped or not).
Written for the key-convolution chain, whose gates sit near sigmoid(-1): a memory trained uncapped that
makes up for a small gate with a loud read loses that under the cap.

    python research/read_loudness.py ADAPTER [ADAPTER ...] --parts --tokens 2000,8000,32000 [--depth 50]

--parts: which part of the read carries the needle. Two passkey documents that differ only in the key
(the same filler, the same token count) are written to memory, then the question is read; at its last
token (where the first digit is predicted) each head's read, as it enters Eq. 10 (after the trained
cap, if any), splits into the needle's part n = (read_A - read_B) / 2 and the common part c =
(read_A + read_B) / 2 (filler, the needle's template, the question). Both are given as RMS over the
local read's RMS; summed over heads weighted by the gate, they are the memory's two contributions to
the layer's output. If c grows with length while n holds, what drowns the needle is the filler's
read; if n shrinks, the needle itself is lost (overwritten) and no bound on the read brings it back.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import infini.attention as attention  # noqa: E402
from eval.tasks import PASSKEY_ANSWER_PREFIX, PASSKEY_QUESTION, TokenCounter, make_passkey  # noqa: E402
from core.loading import load_base_model  # noqa: E402
from infini.pipeline import build_infini_model  # noqa: E402
from infini.stream import InfiniReader  # noqa: E402


@contextlib.contextmanager
def recorded_reads(model):
    """Every layer's (raw memory read, the read as it enters Eq. 10, local read), each (B, Hq, T, d), appended
    to the list yielded, in layer order; the model computes as its card says (capped or not)."""
    trained_cap = model.config.read_cap  # 0.0: trained without the cap
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    original = attention.cap_to

    def record(memory_attn, local_attn, limit):  # limit unused: the trained cap applies
        read = original(memory_attn, local_attn, trained_cap) if trained_cap else memory_attn
        calls.append((memory_attn, read, local_attn))
        return read

    saved = [layer.read_cap for layer in model.attention_layers()]
    for layer in model.attention_layers():  # every layer passes its read through cap_to: recorded, then as trained
        layer.read_cap = 1.0
    attention.cap_to = record
    try:
        yield calls
    finally:
        attention.cap_to = original
        for layer, cap in zip(model.attention_layers(), saved):
            layer.read_cap = cap


def loudness(model, ids: torch.Tensor) -> torch.Tensor:
    """r (before any cap) for every (layer, head, token) of the segments after the first: (L, Hq, tokens)."""
    segments, memory = [], model.empty_memory(1)
    with recorded_reads(model) as calls, torch.no_grad():
        for index, segment in enumerate(ids.split(model.config.segment_len, dim=1)):
            calls.clear()
            _, memory = model.segment_hidden(segment, memory)
            if index:  # the first segment reads an empty memory (its gate is shut)
                segments.append(torch.stack([(attention.head_rms(m) / attention.head_rms(local))[0, ..., 0]
                                             for m, _, local in calls]))  # (L, Hq, T)
    return torch.cat(segments, dim=-1)


def question_reads(reader: InfiniReader, document: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The memory read (as it enters Eq. 10) and the local read at the question's last token: (L, Hq, d) each."""
    state = reader.ingest(document)
    prompt = reader.final_tokens(state, PASSKEY_QUESTION, PASSKEY_ANSWER_PREFIX)
    with recorded_reads(reader.model) as calls, torch.no_grad():
        reader.model.segment_hidden(torch.tensor([prompt]), state.memory, write=False)
        return (torch.stack([read[0, :, -1] for _, read, _ in calls]),
                torch.stack([local[0, :, -1] for _, _, local in calls]))


def needle_parts(reader: InfiniReader, count: TokenCounter, tokens: int, depth: float) -> dict[str, float]:
    case = make_passkey(count, tokens, depth, random.Random(f"parts-{tokens}"))
    key = case.meta["key"]
    twin_key = "".join(str((int(digit) + 5) % 10) for digit in key)  # every digit differs, same token count
    read_a, local = question_reads(reader, case.document)
    read_b, _ = question_reads(reader, case.document.replace(key, twin_key))
    scale = attention.head_rms(local)[..., 0]  # (L, Hq)
    needle = attention.head_rms((read_a - read_b) / 2)[..., 0] / scale
    common = attention.head_rms((read_a + read_b) / 2)[..., 0] / scale
    gates = reader.model.gate_values().float()  # (L, Hq)
    return {"n": needle.median().item(), "c": common.median().item(),
            "gn": (gates * needle).sum().item(), "gc": (gates * common).sum().item(),
            "top": (gates * needle).flatten().topk(10).values.sum().item()}


def parts_table(lm, tokenizer, adapters: list[str], lengths: list[int], depth: float) -> None:
    print(f"passkey at depth {depth:g}%, read at the question's last token; n, c = RMS of the needle's and the "
          "common part of the memory read over the local read's RMS (medians over layer-heads); "
          "sum g*n, sum g*c over all heads with memory; top-10 g*n the ten largest\n")
    print("| artifact | tokens | median n | median c | sum g*n | sum g*c | g*n / g*c | top-10 g*n |")
    print("|---|---|---|---|---|---|---|---|")
    count = TokenCounter(tokenizer)
    for adapter in adapters:
        reader = InfiniReader(build_infini_model(copy.deepcopy(lm), adapter), tokenizer)
        for tokens in lengths:
            p = needle_parts(reader, count, tokens, depth)
            print(f"| {adapter} | {tokens} | {p['n']:.3f} | {p['c']:.3f} | {p['gn']:.2f} | {p['gc']:.2f} "
                  f"| {p['gn'] / p['gc']:.3f} | {p['top']:.2f} |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapters", nargs="+")
    parser.add_argument("--tokens", default="2000", help="a length, or with --parts a comma-separated list")
    parser.add_argument("--parts", action="store_true", help="the needle's and the common part of the read")
    parser.add_argument("--depth", type=float, default=50.0, help="with --parts: the needle's depth, percent")
    args = parser.parse_args(argv)
    lengths = [int(t) for t in args.tokens.split(",")]
    if len(lengths) > 1 and not args.parts:
        parser.error("--tokens takes one length without --parts")
    lm, tokenizer = load_base_model()
    if args.parts:
        parts_table(lm, tokenizer, args.adapters, lengths, args.depth)
        return
    case = make_passkey(TokenCounter(tokenizer), lengths[0], 50.0, random.Random("loudness"))
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
