"""Does the memory carry a held-out fact at all, even where greedy decoding misses it? The answer's
likelihood with the fact in memory against the same document without it.

    python research/fact_gain.py [--adapter A] [--cases 24] [--back 0,1,3,7,15] [--seed 60]

For each case, one held-out fact (eval/facts.py: templates training never used) opens a window of the
default haystack, so it sits in the first segment, `back` segments before the answering one (0: in the
answering segment itself, read by local attention). The same window without the fact is the control.
After the eval's question, the gold reply " ANSWER." is scored teacher-forced, both ways. The gain is
log p(reply | document with the fact) - log p(reply | document without it), in nats over the reply's
tokens: above 0, what the model read raised the right answer; 0, the fact did not get through. Greedy
exact match is coarse at the few cases a CPU affords; the gain moves before the answer flips.
Prints one markdown table: per distance, the mean gain with a 95% interval, the share of cases with a
gain, and the mean log-likelihood of the reply with the fact.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.facts import one_fact  # noqa: E402
from eval.tasks import FACTS_INSTRUCTION, language_reference  # noqa: E402
from infini.adapter import adapter_option  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402
from research.answer_likelihood import reply_log_likelihood  # noqa: E402


def reply_nats(reader, document: str, question: str, reply: str) -> float:
    """Sum of log p over the reply's tokens (and the end of turn), after ingesting `document` and asking."""
    log_probs, _ = reply_log_likelihood(reader, reader.ingest(document), question, "", reader.encode(reply))
    return sum(log_probs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="default", help="trained artifact (default: the shipped one; none: untrained)")
    parser.add_argument("--model")
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--back", default="0,1,3,7,15", help="segments between the fact's and the answering one's start")
    parser.add_argument("--seed", type=int, default=60)
    args = parser.parse_args(argv)

    reader = InfiniPipeline.load(model=args.model, adapter=adapter_option(args.adapter)).reader
    N = reader.segment_len
    haystack = reader.encode(language_reference())
    rng = random.Random(args.seed)
    cases = []
    for _ in range(args.cases):
        fact, question, answer = one_fact(rng)
        cases.append((fact, question + FACTS_INSTRUCTION, f" {answer}.", rng.randrange(N, len(haystack) - 20 * N)))
    print(f"adapter {args.adapter}, {args.cases} held-out facts, seed {args.seed}, segments of {N} tokens\n")
    print("| fact's segment, back from the answering one | mean gain, nats (95% interval) | cases with a gain "
          "| mean log p(reply), with the fact |\n|---|---|---|---|")
    for back in [int(b) for b in args.back.split(",")]:
        gains, with_fact = [], []
        for fact, question, reply, start in cases:
            fact_ids = reader.encode(fact + " ")
            # back full segments (the first opens with the fact), then a quarter segment the answering one
            # reads locally; at back 0 that quarter segment is all there is, fact included.
            length = back * N + N // 4
            filler = reader.tokenizer.decode(haystack[start:start + length - len(fact_ids)])
            plain = reader.tokenizer.decode(haystack[start - len(fact_ids):start + length - len(fact_ids)])  # the same length
            got = reply_nats(reader, fact + " " + filler, question, reply)
            gains.append(got - reply_nats(reader, plain, question, reply))
            with_fact.append(got)
        mean = statistics.fmean(gains)
        half = 1.96 * statistics.stdev(gains) / math.sqrt(len(gains)) if len(gains) > 1 else float("nan")
        share = sum(g > 0 for g in gains)
        print(f"| {back or 'the same segment'} | {mean:+.2f} ({mean - half:+.2f} to {mean + half:+.2f}) | "
              f"{share}/{len(gains)} | {statistics.fmean(with_fact):.2f} |", flush=True)


if __name__ == "__main__":
    main()
