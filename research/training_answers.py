"""Does a memory answer its own training questions, and refuse its own unanswerable ones? Greedy replies to
fresh samples of the training generators (a seed training never drew), beside the held-out eval's.

    python research/training_answers.py --adapter A [--samples 12 --segments 2,8 --seed 1000]

Draws `facts` samples with the adapter card's recipe (its text, needles, segment length), every one with an
unanswerable question too (infini.train_data.SampleMaker, unanswerable_share 1), writes each sample's memory
segments as the reader does, and decodes the greedy reply to each question after the sample's last segment.
Prints, for the answerable questions, right / refused / another fact's answer (the reply names what the sample
states about another subject: the memory retrieved by relation, not by subject) / other; for the unanswerable
ones, refused / another fact's answer / answered otherwise.
If a memory refuses its training unanswerables but not the eval's, the gap is one of generalisation; if it
refuses neither, training did not teach it.
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.contract import collect  # noqa: E402
from eval.scorers import abstains, phrase  # noqa: E402
from infini.adapter import read_card  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402
from infini.train_data import IGNORE, REFUSALS, SampleMaker  # noqa: E402


def questions_of(maker: SampleMaker, final_ids: list[int], targets: list[int]) -> tuple[list[int], str, str]:
    """(the last segment's document tokens, the question, the trained reply) of one final segment."""
    start = next(i for i, t in enumerate(targets) if t != IGNORE)  # final_ids[start] is the prompt's last token
    gap = maker.encode("\n") * 2  # "\n\n" + question (SampleMaker._qa_tail) tokenizes as two line breaks
    question_start = max(i for i in range(start) if final_ids[i:i + len(gap)] == gap)
    prompt = maker.tok.decode(final_ids[question_start:start + 1])
    question = prompt.removeprefix("\n\n").removesuffix(maker.turn_close)
    reply = maker.tok.decode([t for t in targets[start:] if t != IGNORE], skip_special_tokens=True)
    return final_ids[:question_start], question, reply


def after_turn_opening(reader, ids: list[int]) -> list[int]:
    """A training sample's tokens without the chat turn's opening it starts with (a new state holds it already)."""
    opening = reader.encode(reader.turn_open)
    assert ids[:len(opening)] == opening, "training samples start with the chat turn's opening"
    return ids[len(opening):]


def own_samples(description: str, argv, samples: int, unanswerable_share: float = 0.0):
    """The command line of the probes on a memory's own training samples, and what it loads: (args, reader, and a
    generator of (S, sample): `--samples` fresh `facts` samples drawn with the adapter card's recipe)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--model")
    parser.add_argument("--samples", type=int, default=samples)
    parser.add_argument("--segments", default="2,8", help="memory segments per sample, drawn from this range")
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)
    reader = InfiniPipeline.load(model=args.model, adapter=args.adapter).reader
    recipe = read_card(args.adapter)["recipe"]
    maker = SampleMaker(reader.tokenizer, reader.turn_open, reader.turn_close, reader.segment_len, recipe["niah_needles"],
                        recipe["niah_ask_all"], text=recipe["text"], unanswerable_share=unanswerable_share)
    low, high = (int(s) for s in args.segments.split(","))

    def draw():
        rng = random.Random(args.seed)
        for _ in range(args.samples):
            S = rng.randint(low, high)
            yield S, maker.facts(rng, S, rng.randint(recipe["tail_min"], reader.segment_len // 2), 0.0)

    return args, reader, maker, draw()


def main(argv=None) -> None:
    _, reader, maker, samples = own_samples(__doc__, argv, samples=12, unanswerable_share=1.0)
    tally = Counter()
    for number, (S, sample) in enumerate(samples):
        asked = [questions_of(maker, final_ids, targets) for final_ids, targets in sample.finals()]
        stated = {trained.strip().rstrip(".") for _, _, trained in asked if trained not in REFUSALS}
        tails = {tuple(tail) for tail, _, _ in asked}
        assert len(tails) == 1, "the questions of a sample follow the same document"
        # the sample's S segments written as ingestion writes them, its last segment's text kept; answering leaves it as is
        state = reader.feed_ids(reader.new_state(), after_turn_opening(reader, list(sample.memory_ids) + list(tails.pop())))
        for _, question, trained in asked:
            reply = collect(reader.stream_answer(state, question, max_new_tokens=32)).text
            answer = trained.strip().rstrip(".")
            another = phrase(reply, sorted(stated - {answer}))  # the answer of another fact in this sample
            if trained in REFUSALS:
                kind = ("unanswerable: refused" if abstains(reply, []) else
                        "unanswerable: another fact's answer" if another else "unanswerable: answered otherwise")
            else:
                kind = ("answerable: right" if phrase(reply, [answer]) else "answerable: refused" if abstains(reply, [])
                        else "answerable: another fact's answer" if another else "answerable: other")
            tally[kind] += 1
            print(f"{number} S={S} {kind}: {question!r} -> {reply!r} (trained: {trained!r})", flush=True)
    print()
    for kind in sorted(tally):
        print(f"{kind}: {tally[kind]}")


if __name__ == "__main__":
    main()
