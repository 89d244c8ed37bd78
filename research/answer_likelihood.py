"""Would a wider search find the needle greedy decoding missed? The gold answer's likelihood against the greedy one's.

    python research/answer_likelihood.py RESULTS_DIR --seed 5 --tasks niah_single --lengths 8k \
        --depths 0,25,50,75 --samples 5 [--adapter A] [--max-depth 75] [--misses-only]

RESULTS_DIR is an `eval run` folder made with the same case options (so the cases regenerate exactly).
For each Infini case read from an earlier segment, ingests the document again and scores two replies
under the model, teacher-forced: the greedy reply it recorded, and the same reply with its first number
replaced by the gold answer (so only the number differs). Prints, per case, both log-likelihoods (sum
over the reply's tokens, nats) and where the two first part. When the gold reply is the likelier of the
two, greedy decoding lost it at one step and a beam search could recover it; when it is not, the model
itself prefers the wrong number and no decoding fixes that.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.report import read_results  # noqa: E402
from eval.options import add_case_options, cases_from_options  # noqa: E402
from eval.tasks import has_adjacent_repeat  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402


@torch.no_grad()
def reply_log_likelihood(reader, state, question: str, answer_prefix: str, reply_ids: list[int]) -> tuple[list[float], bool]:
    """Per-token log-probabilities of reply_ids (then the end of turn) after the question, teacher-forced,
    and whether every one of those tokens was the argmax (true of the greedy reply, a check of this pass).

    One forward of the final segment plus the reply: the same local attention and memory reads as
    stream_answer's token-by-token decoding (memory is not written while answering).
    """
    prompt = reader.final_tokens(state, question, answer_prefix)
    targets = reply_ids + [min(reader.stop_ids)]
    memory = [entry.map(lambda t: t.to(reader.device)) for entry in state.memory]
    ids = torch.tensor([prompt + targets[:-1]], device=reader.device)
    hidden, _ = reader.model.segment_hidden(ids, memory, write=False)
    logits = reader.model.logits(hidden[0, len(prompt) - 1:])  # (len(targets), vocab)
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    targets = torch.tensor(targets)
    return log_probs[torch.arange(len(targets)), targets].tolist(), bool((log_probs.argmax(-1) == targets).all())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir")
    add_case_options(parser, tasks="niah_single", lengths="8k", depths="0,25,50,75", samples=5, seed=None)
    parser.add_argument("--adapter", default="default")
    parser.add_argument("--model")
    parser.add_argument("--max-depth", type=float, default=75.0)
    parser.add_argument("--misses-only", action="store_true")
    parser.add_argument("--limit", type=int, help="score only the first N cases")
    args = parser.parse_args(argv)

    pipeline = InfiniPipeline.load(model=args.model, adapter=args.adapter)
    reader = pipeline.reader
    cases = {c.id: c for c in cases_from_options(reader.tokenizer, args)}
    recorded = [r for r in read_results(Path(args.results_dir)) if r["pipeline"] == "infini"]
    rows = [r for r in recorded if r["depth"] <= args.max_depth and r["id"] in cases and (r["score"] < 1.0 or not args.misses_only)]
    missing = [r["id"] for r in recorded if r["id"] not in cases]
    rows = rows[:args.limit] if args.limit else rows
    if missing:
        raise SystemExit(f"error: {len(missing)} recorded cases do not regenerate with these options (first: {missing[0]})")

    print("| case | gold | greedy | gold reply (nats) | greedy reply (nats) | first differing token: gold / greedy (nats) | likelier |")
    print("|---|---|---|---|---|---|---|")
    tally = {"gold": 0, "greedy": 0, "same": 0}
    for row in rows:
        case = cases[row["id"]]
        state = reader.ingest(case.document)
        gold = row["answers"][0]
        greedy_text = row["prediction"]
        numbers = re.findall(r"\d+", greedy_text)
        gold_text = greedy_text.replace(numbers[0], gold, 1) if numbers else greedy_text + " " + gold
        greedy_ids, gold_ids = reader.encode(greedy_text), reader.encode(gold_text)
        greedy_lp, greedy_is_argmax = reply_log_likelihood(reader, state, case.question, case.answer_prefix, greedy_ids)
        gold_lp, _ = reply_log_likelihood(reader, state, case.question, case.answer_prefix, gold_ids)
        if not greedy_is_argmax:
            print(f"warning: {row['id']}: the recorded reply is not this model's greedy reply (another adapter?)")
        split = next((i for i, (a, b) in enumerate(zip(gold_ids, greedy_ids)) if a != b), min(len(gold_ids), len(greedy_ids)))
        at_split = f"{gold_lp[split]:.2f} / {greedy_lp[split]:.2f}"
        verdict = "same" if gold_text == greedy_text else ("gold" if sum(gold_lp) > sum(greedy_lp) else "greedy")
        tally[verdict] += 1
        repeat = " (repeat)" if has_adjacent_repeat(gold) else ""
        print(f"| {row['id']} | {gold}{repeat} | {numbers[0] if numbers else '-'} | {sum(gold_lp):.2f} | "
              f"{sum(greedy_lp):.2f} | {at_split} | {verdict} |", flush=True)
    print(f"\nlikelier reply: gold {tally['gold']}, greedy {tally['greedy']}, already gold {tally['same']} "
          f"(of {len(rows)} cases)")


if __name__ == "__main__":
    main()
