"""Do a memory's keys tell facts apart? Where the query that answers a question meets the keys of several facts.

    python research/key_margin.py --adapter A [--samples 24 --segments 2,8 --seed 1000]

Draws `facts` samples of the adapter's own training generators (as research/training_answers.py: several facts per
document, a seed training never drew), writes each sample's memory segments as the reader does, and then asks each
question. In every memory layer and query head it compares the query at the prompt's last token (the one that
predicts the answer's first token) with the unit key the memory stored at the first token of each fact's answer in
the sample: the head "picks" the asked fact when that fact's key matches the query best. Only facts whose answer
sits in a memory segment count, and only samples with two or more of them.

Prints, per layer: the share of (question, head) pairs that pick the asked fact, the best head's share, and chance
(the mean of 1 / facts in memory); and the mean write strength the memory gave the facts' answer tokens beside its
mean over every token written (a fact never written cannot be picked, whatever the keys); and what the matching
loss (infini/train.py, match_loss) sees: of a softmax over every key the memory stored (temperature 0.1), the mass
on all the facts' answer keys and on the asked fact's, mean over heads. A memory whose reads
blend facts (training_answers: one reply to every question) picks near chance in every layer; one that separates
them picks well above it in some.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.contract import collect  # noqa: E402
from infini.train import DEFAULTS, logged_keys  # noqa: E402
from infini.train_data import REFUSALS  # noqa: E402
from research.training_answers import after_turn_opening, own_samples, questions_of  # noqa: E402


MATCH_TEMPERATURE = DEFAULTS["match_temperature"]  # the matching loss's softmax (infini/train.py, match_loss)


def answer_position(reader, ids: list[int], answer: str) -> int | None:
    """The index in `ids` of the first token of `answer` as written in a fact sentence (" answer" then more)."""
    first = reader.encode(" " + answer)[0]
    for i, token in enumerate(ids):
        if token == first and reader.tokenizer.decode(ids[i:i + 12]).startswith(" " + answer):
            return i
    return None


def answer_queries(log: list[dict]) -> dict[int, torch.Tensor]:
    """Per layer, the queries (Hq, d) at the prompt's last token: each layer's first logged read (the prompt pass)."""
    queries: dict[int, torch.Tensor] = {}
    for entry in log:
        queries.setdefault(entry["layer"], entry["queries"][0, :, -1])
    return queries


def main(argv=None) -> None:
    args, reader, maker, samples = own_samples(__doc__, argv, samples=24)
    if reader.model.config.update_rule != "deltanet" or reader.model.config.value_shift:
        raise SystemExit("key_margin reads the deltanet rule's unit keys, stored at their own token (no value_shift)")
    context = reader.model.context
    picks: dict[int, list[torch.Tensor]] = {}  # layer -> per question (Hq,) bool: the head picks the asked fact
    # layer -> per question (Hq, 2): of a softmax over every stored key, the mass on all facts' answer keys, on the asked one
    masses: dict[int, list[torch.Tensor]] = {}
    # layer -> per sample (write strength at the facts' answer tokens, mean over every written token), per KV head
    strengths: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    chance, questions = [], 0
    for _, sample in samples:
        asked = [questions_of(maker, final_ids, targets) for final_ids, targets in sample.finals()]
        memory_ids = list(sample.memory_ids)
        facts = [(question, answer_position(reader, memory_ids, trained.strip().rstrip(".")))
                 for _, question, trained in asked if trained not in REFUSALS]
        facts = [(question, position) for question, position in facts if position is not None]
        if len(facts) < 2:
            continue
        context.match_log = []
        try:
            state = reader.feed_ids(reader.new_state(), after_turn_opening(reader, memory_ids + list(asked[0][0])))
            keys = {layer: (k[0], b[0]) for layer, (k, b) in logged_keys(context.match_log, 1).items()}
            positions = torch.tensor([position for _, position in facts])
            for layer, (_, strength) in keys.items():  # strength (G, tokens)
                strengths.setdefault(layer, []).append((strength[:, positions].mean(dim=1), strength.mean(dim=1)))
            for number, (question, _) in enumerate(facts):
                context.match_log = []
                collect(reader.stream_answer(state, question, max_new_tokens=1))
                for layer, query in answer_queries(context.match_log).items():
                    k, _ = keys[layer]
                    R = query.shape[0] // k.shape[0]
                    at_answers = k[:, positions].repeat_interleave(R, dim=0)  # (Hq, facts, d): each head's KV group
                    scores = (at_answers @ query.unsqueeze(-1)).squeeze(-1)  # (Hq, facts)
                    picks.setdefault(layer, []).append(scores.argmax(dim=-1) == number)
                    chances = ((k.repeat_interleave(R, dim=0) @ query.unsqueeze(-1)).squeeze(-1) / MATCH_TEMPERATURE).softmax(dim=-1)
                    masses.setdefault(layer, []).append(torch.stack([chances[:, positions].sum(dim=-1), chances[:, positions[number]]], dim=-1))
                chance.append(1 / len(facts))
                questions += 1
        finally:
            context.match_log = None
    if not questions:
        raise SystemExit("no sample held two facts in memory segments: draw more samples or segments")
    print(f"{questions} questions, {args.adapter}; chance {sum(chance) / len(chance):.2f}")
    print("| layer | heads picking the asked fact | best head | write strength at answers / all tokens "
          "| match on the facts' answers / the asked one |")
    print("|---|---|---|---|---|")
    for layer in sorted(picks):
        share = torch.stack(picks[layer]).float()  # (questions, Hq)
        at_answers, overall = (torch.stack(parts).mean() for parts in zip(*strengths[layer]))
        on_facts, on_asked = torch.stack(masses[layer]).mean(dim=(0, 1))
        print(f"| {layer} | {share.mean():.2f} | {share.mean(dim=0).max():.2f} | {at_answers:.3f} / {overall:.3f} "
              f"| {on_facts:.3f} / {on_asked:.3f} |")


if __name__ == "__main__":
    main()
