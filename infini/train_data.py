"""Training samples, generated on the fly at the token level (fast enough to feed a GPU).

A sample is a document written to memory in S full segments, then a final segment holding the
document's tail, the question (with the chat turn's end and the assistant's opening) and the
answer, the only tokens with a loss. The same layout as InfiniReader at answer time.

Two families of tasks. passkey and niah use core.formats, which the eval's passkey and niah tasks use
too: recipes with them make those tasks "seen in training" (every artifact up to the key-convolution chain),
and read the Language Reference's first 90%. facts, facts_2hop and recall have generators of their own
(infini/train_facts.py) and read the standard library's docstrings (infini/train_text.py, recipe key
"text": "stdlib_docstrings"), which the eval never uses: the eval's fact, bAbI and recall tasks stay held out.
"""
from __future__ import annotations

import bisect
import random
import re
from dataclasses import dataclass, field

import torch

from core.documents import language_reference
from core.formats import (
    NIAH_NEEDLE, NIAH_QUESTION, PASSKEY_ANSWER_PREFIX, PASSKEY_FILLER, PASSKEY_NEEDLE, PASSKEY_PREAMBLE,
    PASSKEY_QUESTION,
    has_adjacent_repeat, random_key, random_number,
)
from .train_facts import RELATIONS, ask, fact_set, new_subject, two_hop
from .train_text import training_text

# What the training questions end with (none: the question alone); the eval's instruction is not among them.
INSTRUCTIONS = ("", "", " Reply in a few words.", " Keep it short, and say so if the text above lacks it.",
                " Use only the text above.", " A short reply, please; if it is not there, tell me.")
REFUSALS = (" The text does not say.", " That is not stated in the text.", " The text gives no information about that.",
            " I cannot find that in the text.")
RECALL_QUESTIONS = ("Finish this line from the text: \"{start}\"", "Continue the quotation \"{start}\" as the text has it.",
                    "How does the text go on after \"{start}\"?")
TEXTS = {"language_reference": lambda: split_reference()[0], "stdlib_docstrings": training_text}

IGNORE = -100
HELD_OUT_FRACTION = 0.1  # the Language Reference's last 10% is never trained on (perplexity check)


def split_reference() -> tuple[str, str]:
    text = language_reference()
    cut = text.rfind("\n\n", 0, int(len(text) * (1 - HELD_OUT_FRACTION)))
    return text[:cut], text[cut + 2:]


@dataclass
class Sample:
    memory_ids: list[int]  # S * segment_len tokens, written to memory
    final_ids: list[int]  # tail + question + answer
    targets: list[int]  # next-token targets for final_ids, IGNORE where there is no loss
    # Further questions on the same memory ((final_ids, targets) pairs; SampleMaker's niah_ask_all):
    # each is answered from its own copy of the memory, so one long ingestion trains several reads.
    more_finals: list[tuple[list[int], list[int]]] = field(default_factory=list)
    # Where each answer of finals() was written (recipe key match_loss): (the index in memory_ids of the answer's
    # first token, how many of its tokens the memory holds as the reply gives them), None where it is not in a
    # memory segment (a refusal, a fact in the tail, tasks that do not record it). Empty: none recorded.
    answer_spans: list[tuple[int, int] | None] = field(default_factory=list)

    def finals(self) -> list[tuple[list[int], list[int]]]:
        return [(self.final_ids, self.targets), *self.more_finals]


class SampleMaker:
    def __init__(self, tokenizer, turn_open: str, turn_close: str, segment_len: int,
                 niah_needles: int = 3, niah_ask_all: bool = False, repeat_digit_share: float = 0.0,
                 text: str = "language_reference", unanswerable_share: float = 0.0):
        self.tok = tokenizer
        self.N = segment_len
        self.niah_needles = niah_needles  # at most this many needles per niah sample
        self.niah_ask_all = niah_ask_all  # ask for every needle (each placed like the asked one), not the first only
        # Share of needle numbers drawn with a repeated adjacent digit (0: as the eval draws them, ~47% at 7 digits).
        self.repeat_digit_share = repeat_digit_share
        self.unanswerable_share = unanswerable_share  # facts samples with a further, unanswerable question
        self.turn_open = self.encode(turn_open)
        self.turn_close = turn_close
        self.end_of_turn = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
        self.preamble = self.encode(PASSKEY_PREAMBLE)
        self.filler_block = self.encode(" " + PASSKEY_FILLER)
        self.haystack = self.encode(TEXTS[text]())
        # Token indices that start a sentence or line: needles go there.
        pieces = tokenizer.convert_ids_to_tokens(self.haystack)
        self.boundaries = [i + 1 for i, p in enumerate(pieces[:-1]) if p.endswith(".") or "Ċ" in p]

    def encode(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _qa_tail(self, question: str, answer: str, answer_prefix: str = "") -> tuple[list[int], list[int]]:
        prompt = self.encode("\n\n" + question + self.turn_close + answer_prefix)
        answer_ids = self.encode(answer) + self.end_of_turn
        ids = prompt + answer_ids
        targets = [IGNORE] * (len(prompt) - 1) + answer_ids + [IGNORE]
        return ids, targets

    def _finish(self, doc: list[int], S: int, question: str, answer: str, answer_prefix: str = "") -> Sample:
        cut = S * self.N
        qa_ids, qa_targets = self._qa_tail(question, answer, answer_prefix)
        tail = doc[cut:]
        return Sample(doc[:cut], tail + qa_ids, [IGNORE] * len(tail) + qa_targets)

    def _needle_position(self, rng: random.Random, S: int, doc_len: int, last_segment_share: float) -> int:
        start = len(self.turn_open)
        end = max(doc_len, start + 1)
        if S == 0 or rng.random() < last_segment_share:
            return rng.randrange(min(max(start, S * self.N), end - 1), end)
        return rng.randrange(start, max(start + 1, min(S * self.N, end)))

    def number(self, rng: random.Random, digits: int) -> str:
        # share 0 draws nothing more from rng, so the recipes without the key keep their data.
        if self.repeat_digit_share and rng.random() < self.repeat_digit_share:
            while not has_adjacent_repeat(value := random_number(rng, digits)):
                pass
            return value
        return random_number(rng, digits)

    def passkey(self, rng: random.Random, S: int, tail_len: int, last_segment_share: float) -> Sample:
        key = self.number(rng, 5)
        needle = self.encode(" " + PASSKEY_NEEDLE.format(key=key))
        # A short draw still holds the whole preamble and needle (the final segment grows instead).
        doc_len = max(S * self.N + tail_len, len(self.turn_open) + len(self.preamble) + len(needle))
        body = self.turn_open + self.preamble
        while len(body) < doc_len:
            body += self.filler_block
        body = body[: max(doc_len - len(needle), len(self.turn_open) + len(self.preamble))]
        position = self._needle_position(rng, S, len(body), last_segment_share)
        # Snap to the start of a filler block (a sentence boundary).
        offset = len(self.turn_open) + len(self.preamble)
        position = max(offset, offset + (position - offset) // len(self.filler_block) * len(self.filler_block))
        doc = body[:position] + needle + body[position:]
        return self._finish(doc[:doc_len], S, PASSKEY_QUESTION, f" {key}.", PASSKEY_ANSWER_PREFIX)

    def _with_needles(self, rng: random.Random, S: int, tail_len: int, last_segment_share: float,
                      needles: list[list[int]], asked: int) -> list[int]:
        """A window of the training text, doc_len tokens, with the needles inserted at sentence starts: the
        first `asked` placed like an asked needle (_needle_position), the rest anywhere."""
        doc_len = max(S * self.N + tail_len, len(self.turn_open) + sum(map(len, needles)) + 8)
        room = doc_len - len(self.turn_open) - sum(map(len, needles))
        start = rng.randrange(0, len(self.haystack) - room)
        first = bisect.bisect_left(self.boundaries, start)
        start = self.boundaries[first] if first < len(self.boundaries) else start
        hay = self.haystack[start:start + room]
        doc = self.turn_open + hay
        positions = [self._needle_position(rng, S, doc_len - sum(map(len, needles)), last_segment_share) for _ in range(asked)]
        positions += [rng.randrange(len(self.turn_open), max(len(self.turn_open) + 1, len(doc))) for _ in needles[asked:]]
        inserts = []
        for position, needle in zip(positions, needles):
            snapped = bisect.bisect_right(self.boundaries, start + position - len(self.turn_open)) - 1
            if snapped >= 0:
                position = max(len(self.turn_open), self.boundaries[snapped] - start + len(self.turn_open))
            inserts.append((position, needle))
        for position, needle in sorted(inserts, key=lambda item: -item[0]):
            doc = doc[:position] + needle + doc[position:]
        return doc[:doc_len]

    def _asking(self, doc: list[int], S: int, pairs: list[tuple[str, str]], spans: list | None = None) -> Sample:
        """One sample over `doc` answering each (question, answer) pair from its own copy of the memory;
        `spans`: where the first answers were written (Sample.answer_spans), the rest unknown."""
        samples = [self._finish(doc, S, question, answer) for question, answer in pairs]
        samples[0].more_finals = [(s.final_ids, s.targets) for s in samples[1:]]
        if spans is not None:
            samples[0].answer_spans = spans + [None] * (len(pairs) - len(spans))
        return samples[0]

    def _answer_span(self, memory: list[int], sentence: list[int], answer: str) -> tuple[int, int] | None:
        """Where the fact `sentence`'s `answer` sits in `memory`: (index of its first token, how many of its first
        tokens the reply " {answer}." shares), or None where the sentence is not wholly in memory."""
        written, replied = self.encode(" " + answer), self.encode(f" {answer}.")
        shared = next((i for i, (a, b) in enumerate(zip(written, replied)) if a != b), min(len(written), len(replied)))
        offset, start = find_run(sentence, written[:shared]), find_run(memory, sentence)
        if not shared or offset is None or start is None:
            return None
        return start + offset, shared

    def niah(self, rng: random.Random, S: int, tail_len: int, last_segment_share: float) -> Sample:
        keys = []
        while len(keys) < 1 + rng.randrange(self.niah_needles):  # the asked key plus distractors (all asked: niah_ask_all)
            key = random_key(rng)
            if key not in keys:
                keys.append(key)
        values = [self.number(rng, 7) for _ in keys]
        needles = [self.encode(" " + NIAH_NEEDLE.format(key=k, value=v)) for k, v in zip(keys, values)]
        asked = len(needles) if self.niah_ask_all else 1
        doc = self._with_needles(rng, S, tail_len, last_segment_share, needles, asked)
        return self._asking(doc, S, [(NIAH_QUESTION.format(key=key), f" The special magic number for {key} is {value}.")
                                     for key, value in list(zip(keys, values))[:asked]])

    # ---- retrieval in general: generators of their own (infini/train_facts.py), none of the eval's formats ----
    def _question(self, rng: random.Random, question: str) -> str:
        return question + rng.choice(INSTRUCTIONS)

    def facts(self, rng: random.Random, S: int, tail_len: int, last_segment_share: float) -> Sample:
        """Several facts in real text, some sharing a subject or a relation; each asked in other words, and
        (unanswerable_share) a question about a subject or relation the text never states."""
        stated = fact_set(rng, 1 + rng.randrange(self.niah_needles))
        needles = [self.encode(" " + f.sentence) for f in stated]
        asked = len(stated) if self.niah_ask_all else 1
        doc = self._with_needles(rng, S, tail_len, last_segment_share, needles, asked)
        pairs = [(self._question(rng, ask(rng, f.subject, f.relation)), f" {f.answer}.") for f in stated[:asked]]
        if rng.random() < self.unanswerable_share:
            pairs.append((self._question(rng, self._unstated(rng, stated)), rng.choice(REFUSALS)))
        spans = [self._answer_span(doc[:S * self.N], sentence, f.answer) for sentence, f in zip(needles, stated[:asked])]
        return self._asking(doc, S, pairs, spans)

    def _unstated(self, rng: random.Random, stated) -> str:
        """A question the document cannot answer: a stated relation of a new subject, or a stated subject's
        relation that is not stated."""
        taken = {f.subject for f in stated}
        fact = rng.choice(stated)
        others = [i for i, r in enumerate(RELATIONS) if fact.kind in r.subjects
                  and not any(f.subject == fact.subject and f.relation == i for f in stated)]
        if others and rng.random() < 0.5:
            return ask(rng, fact.subject, rng.choice(others))
        subject, _ = new_subject(rng, RELATIONS[fact.relation].subjects, taken)
        return ask(rng, subject, fact.relation)

    def facts_2hop(self, rng: random.Random, S: int, tail_len: int, last_segment_share: float) -> Sample:
        """A link (A's engineer is B) and a fact about B, apart; the question asks through the link."""
        taken: set[str] = set()
        (link, fact), question, answer = two_hop(rng, taken)
        distractors = fact_set(rng, rng.randrange(self.niah_needles), taken)
        needles = [self.encode(" " + f.sentence) for f in (link, fact, *distractors)]
        doc = self._with_needles(rng, S, tail_len, last_segment_share, needles, 2)
        pairs = [(self._question(rng, question), f" {answer}.")]
        if rng.random() < self.unanswerable_share:
            _, stranger_question, _ = two_hop(rng, taken)  # a link the document never states
            pairs.append((self._question(rng, stranger_question), rng.choice(REFUSALS)))
        return self._asking(doc, S, pairs)

    def recall(self, rng: random.Random, S: int, tail_len: int, last_segment_share: float) -> Sample:
        """A sentence of the text, quoted by its first half; the answer is the rest, word for word."""
        doc = self._with_needles(rng, S, tail_len, last_segment_share, [], 0)
        text = self.tok.decode(doc[len(self.turn_open):S * self.N] if S else doc[len(self.turn_open):])
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text)]
        sentences = [s for s in sentences if 8 <= len(s.split()) <= 40 and "\"" not in s]
        if not sentences:
            return self.facts(rng, S, tail_len, last_segment_share)
        words = rng.choice(sentences).split()
        cut = len(words) // 2
        return self._finish(doc, S, rng.choice(RECALL_QUESTIONS).format(start=" ".join(words[:cut])),
                            " " + " ".join(words[cut:]))

    def language_modelling(self, rng: random.Random, S: int, tail_len: int, _share: float) -> Sample:
        """Continuation of real text: loss on every token of the final segment (continual pre-training)."""
        total = S * self.N + self.N
        start = rng.randrange(0, len(self.haystack) - total)
        window = self.haystack[start:start + total]
        final = window[S * self.N:]
        return Sample(window[: S * self.N], final[:-1], final[1:])


def find_run(tokens: list[int], run: list[int]) -> int | None:
    """The first index where `run` occurs in `tokens` as consecutive items, None where it does not."""
    return next((i for i in range(len(tokens) - len(run) + 1) if tokens[i:i + len(run)] == run), None) if run else None


def answer_spans(samples: list[Sample]) -> list[tuple[int, int] | None]:
    """Sample.answer_spans for each row of collate's final segments, in its order (None where unrecorded)."""
    return [span for s in samples for span in (s.answer_spans or [None] * len(s.finals()))]


def collate(samples: list[Sample], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Memory tokens (B, S * N); every final segment of every sample, right-padded: (F, T) and their
    targets (F, T); owner (F,): the sample (row of the memory) each final segment reads."""
    S_tokens = len(samples[0].memory_ids)
    assert all(len(s.memory_ids) == S_tokens for s in samples), "a batch shares its segment count"
    rows = [(i, ids, tg) for i, s in enumerate(samples) for ids, tg in s.finals()]
    width = max(len(ids) for _, ids, _ in rows)
    memory = torch.tensor([s.memory_ids for s in samples], dtype=torch.long)
    final = torch.full((len(rows), width), pad_id, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for row, (_, ids, tg) in enumerate(rows):
        final[row, : len(ids)] = torch.tensor(ids)
        targets[row, : len(tg)] = torch.tensor(tg)
    owner = torch.tensor([i for i, _, _ in rows], dtype=torch.long)
    return memory.to(device), final.to(device), targets.to(device), owner.to(device)
