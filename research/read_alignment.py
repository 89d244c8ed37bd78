"""Which of the needle's tokens each answer step's memory query points at (deltanet artifacts).

    python research/read_alignment.py --seed 5 --cases niah_single-8000-0-s5-1,niah_single-8000-0-s5-0 \
        [--adapter A] [--lengths 8k --depths 0,25,50,75 --samples 5] [--task passkey]

For each case (regenerated from the eval options), the document is written into memory segment by
segment while the unit keys every layer writes are recorded; then the gold reply (" The special magic
number for KEY is NUMBER."; a passkey's: " NUMBER.", the form the trained models answer in) is read
teacher-forced and the unit queries of the memory branch are recorded. To predict the number's digit i,
the query sits on the token before it; a memory that reads the right association matches the key written
at the needle's digit i (keys have no position, so only their content can tell digit i from digit i+1).
The score of needle token j for step i is the cosine q.k summed over layers and query heads, each weighted
by its gate (the share of its output read from memory), over the sum of the gates. Prints one table per
case: rows are answer steps, columns the needle's tokens (" " and the number's digits), the bold cell the
step's best match, and the model's own teacher-forced probability of the gold digit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import infini.attention as attention  # noqa: E402
from eval.options import add_case_options, cases_from_options  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402


class Recorder:
    """Records the unit keys deltanet_update writes and the unit queries of reads, by patching the two
    module functions the layer calls (the layer looks them up at call time)."""

    def __init__(self):
        self.keys, self.queries, self.recording_queries = [], [], False
        self._update, self._unit = attention.deltanet_update, attention.unit

    def __enter__(self):
        def update(k_unit, v, beta, M):
            self.keys.append(k_unit[0].detach())  # (G, T, d)
            return self._update(k_unit, v, beta, M)

        def unit(x):
            out = self._unit(x)
            if self.recording_queries:  # answering writes nothing, so unit() is only called on queries
                self.queries.append(out[0].detach())  # (Hq, T, d)
            return out

        attention.deltanet_update, attention.unit = update, unit
        return self

    def __exit__(self, *exc):
        attention.deltanet_update, attention.unit = self._update, self._unit


def find(sequence: list[int], pattern: list[int], start: int = 0) -> int:
    for i in range(start, len(sequence) - len(pattern) + 1):
        if sequence[i:i + len(pattern)] == pattern:
            return i
    raise ValueError("pattern not found")


@torch.no_grad()
def alignment(reader, case) -> tuple[torch.Tensor, list[float], str]:
    """(7, 8) gate-weighted cosines: answer step i (digit i) against needle tokens (" ", digits 0-6),
    and the model's probability of each gold digit."""
    model, N = reader.model, reader.segment_len
    gold = case.answers[0]
    state = reader.new_state()
    reader._append_text(state, case.document)  # the tokens ingestion writes, exactly (no segment written yet)
    tokens = list(state.tail)
    number = reader.encode(" " + gold)  # " " then one token per digit (SmolLM2's tokenizer)
    start = find(tokens, number)
    full = len(tokens) // N * N  # what ingestion writes; the rest stays in the final segment
    if start + len(number) > full:
        raise SystemExit(f"{case.id}: the needle is in the last segment, not in memory")
    gates = model.gate_values()  # (layers, Hq)
    layers, Hq = gates.shape
    R = Hq // model.num_kv_heads
    # The reply the model gives when it reads the needle right (its greedy form on the hits).
    if case.task == "passkey":
        reply = reader.encode(" " + gold + ".")
    else:
        reply = reader.encode(" " + case.question.replace("What is the", "The").replace(" mentioned in the provided text?", " is")
                              + " " + gold + ".")
    with Recorder() as recorder:
        memory = model.empty_memory(1)
        needle_keys = [[] for _ in range(layers)]
        for s in range(0, full, N):
            recorder.keys.clear()
            _, memory = model.segment_hidden(torch.tensor([tokens[s:s + N]], device=reader.device), memory)
            assert len(recorder.keys) == layers, "one write per layer: every layer must hold memory"
            for position in range(start, start + len(number)):
                if s <= position < s + N:  # a needle token in this segment: keep every layer's key for it
                    for layer in range(layers):
                        needle_keys[layer].append(recorder.keys[layer][:, position - s])  # (G, d)
        state.tail = tokens[full:]
        prompt = reader.final_tokens(state, case.question, case.answer_prefix)
        recorder.queries.clear()
        recorder.recording_queries = True
        hidden, _ = model.segment_hidden(torch.tensor([prompt + reply], device=reader.device), memory, write=False)
        recorder.recording_queries = False
        assert len(recorder.queries) == layers, "one memory read per layer"
    digits_at = find(reply, number[1:])  # where the gold digits sit in the reply
    steps = [len(prompt) + digits_at + i - 1 for i in range(len(gold))]  # the query predicting digit i
    probabilities = torch.softmax(model.logits(hidden[0, steps]).float(), dim=-1)  # (7, vocab)
    scores = torch.zeros(len(gold), len(number))
    for layer in range(layers):
        keys = torch.stack(needle_keys[layer], dim=1)  # (G, 8, d)
        queries = recorder.queries[layer][:, steps]  # (Hq, 7, d)
        cosines = queries @ keys.repeat_interleave(R, dim=0).transpose(1, 2)  # (Hq, 7, 8)
        scores += (gates[layer].view(Hq, 1, 1) * cosines.cpu()).sum(0)
    scores /= gates.sum()
    gold_ids = number[1:]
    chances = [probabilities[i, gold_ids[i]].item() for i in range(len(gold))]
    return scores, chances, gold


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", required=True, help="comma-separated case ids")
    add_case_options(parser, tasks=None, lengths="8k", depths="0,25,50,75", samples=5, seed=None)
    parser.add_argument("--task", choices=["niah_single", "passkey"], default="niah_single")
    parser.add_argument("--adapter", default="default")
    parser.add_argument("--model")
    args = parser.parse_args(argv)
    reader = InfiniPipeline.load(model=args.model, adapter=args.adapter).reader
    if reader.model.config.update_rule != "deltanet":
        raise SystemExit("error: read_alignment reads deltanet memories (unit keys)")
    cases = {c.id: c for c in cases_from_options(reader.tokenizer, args, tasks=[args.task])}
    tally = {"own digit": 0, "next digit": 0, "previous digit": 0, "other": 0}
    margins = {True: [], False: []}  # own digit's score minus its neighbours' best, by whether the step reads right
    chances_by_kind = {True: [], False: []}  # p(gold digit) at steps whose digit repeats the previous one, and the rest
    case_ids = args.cases.split(",")
    unknown = [case_id for case_id in case_ids if case_id not in cases]
    if unknown:
        raise SystemExit(f"error: {unknown[0]} is not among the cases these options make (first: {next(iter(cases))})")
    for case_id in case_ids:
        scores, chances, gold = alignment(reader, cases[case_id])
        print(f"\n{case_id}, gold {gold}: gate-weighted cosine of step i's query with each needle token's key\n")
        print("| step: predicts | " + " | ".join(["' '"] + [f"{d} (#{i})" for i, d in enumerate(gold)]) + " | p(gold digit) |")
        print("|---" * (len(gold) + 3) + "|")
        for i, row in enumerate(scores):
            best = int(row.argmax())
            cells = [f"**{v:.3f}**" if j == best else f"{v:.3f}" for j, v in enumerate(row.tolist())]
            print(f"| {i}: {gold[i]} | " + " | ".join(cells) + f" | {chances[i]:.2f} |")
            digits = row[1:]  # the space before the number matches every query alike; among the digits:
            offset = int(digits.argmax()) - i
            tally["own digit" if offset == 0 else "next digit" if offset == 1 else "previous digit" if offset == -1 else "other"] += 1
            neighbours = [digits[j] for j in (i - 1, i + 1) if 0 <= j < len(digits)]
            margins[chances[i] > 0.5].append((digits[i] - max(neighbours)).item())
            chances_by_kind[i > 0 and gold[i] == gold[i - 1]].append(chances[i])
    print("\nbest-matching digit, over all steps: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    for read, label in ((True, "p(gold digit) > 0.5"), (False, "p(gold digit) <= 0.5")):
        values = margins[read]
        if values:
            print(f"own digit's score minus its best neighbour's, steps with {label}: mean {sum(values) / len(values):+.4f} "
                  f"over {len(values)} steps, {sum(v > 0 for v in values)} positive")
    for repeat, label in ((True, "repeating the previous digit"), (False, "not repeating it")):
        values = chances_by_kind[repeat]
        if values:
            print(f"steps {label}: p(gold digit) mean {sum(values) / len(values):.2f} over {len(values)} steps, "
                  f"<= 0.5 in {sum(v <= 0.5 for v in values)}")


if __name__ == "__main__":
    main()
