"""Training samples, generated on the fly at the token level (fast enough to feed a GPU).

A sample is a document written to memory in S full segments, then a final segment holding the
document's tail, the question (with the chat turn's end and the assistant's opening) and the
answer, the only tokens with a loss. The same layout as InfiniReader at answer time. Formats come
from core.formats, which the eval's passkey and niah tasks use too: those tasks are "seen in training".
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

import torch

from core.documents import language_reference
from core.formats import (
    NIAH_NEEDLE, NIAH_QUESTION, PASSKEY_ANSWER_PREFIX, PASSKEY_FILLER, PASSKEY_NEEDLE, PASSKEY_PREAMBLE,
    PASSKEY_QUESTION,
    has_adjacent_repeat, random_key, random_number,
)

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

    def finals(self) -> list[tuple[list[int], list[int]]]:
        return [(self.final_ids, self.targets), *self.more_finals]


class SampleMaker:
    def __init__(self, tokenizer, turn_open: str, turn_close: str, segment_len: int,
                 niah_needles: int = 3, niah_ask_all: bool = False, repeat_digit_share: float = 0.0):
        self.tok = tokenizer
        self.N = segment_len
        self.niah_needles = niah_needles  # at most this many needles per niah sample
        self.niah_ask_all = niah_ask_all  # ask for every needle (each placed like the asked one), not the first only
        # Share of needle numbers drawn with a repeated adjacent digit (0: as the eval draws them, ~47% at 7 digits).
        self.repeat_digit_share = repeat_digit_share
        self.turn_open = self.encode(turn_open)
        self.turn_close = turn_close
        self.end_of_turn = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
        self.preamble = self.encode(PASSKEY_PREAMBLE)
        self.filler_block = self.encode(" " + PASSKEY_FILLER)
        train_text, _ = split_reference()
        self.haystack = self.encode(train_text)
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

    def niah(self, rng: random.Random, S: int, tail_len: int, last_segment_share: float) -> Sample:
        keys = []
        while len(keys) < 1 + rng.randrange(self.niah_needles):  # the asked key plus distractors (all asked: niah_ask_all)
            key = random_key(rng)
            if key not in keys:
                keys.append(key)
        values = [self.number(rng, 7) for _ in keys]
        needles = [self.encode(" " + NIAH_NEEDLE.format(key=k, value=v)) for k, v in zip(keys, values)]
        doc_len = max(S * self.N + tail_len, len(self.turn_open) + sum(map(len, needles)) + 8)
        room = doc_len - len(self.turn_open) - sum(map(len, needles))
        start = rng.randrange(0, len(self.haystack) - room)
        first = bisect.bisect_left(self.boundaries, start)
        start = self.boundaries[first] if first < len(self.boundaries) else start
        hay = self.haystack[start:start + room]
        doc = self.turn_open + hay
        asked = len(needles) if self.niah_ask_all else 1
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
        samples = [self._finish(doc[:doc_len], S, NIAH_QUESTION.format(key=key), f" The special magic number for {key} is {value}.")
                   for key, value in list(zip(keys, values))[:asked]]
        samples[0].more_finals = [(s.final_ids, s.targets) for s in samples[1:]]
        return samples[0]

    def language_modelling(self, rng: random.Random, S: int, tail_len: int, _share: float) -> Sample:
        """Continuation of real text: loss on every token of the final segment (continual pre-training)."""
        total = S * self.N + self.N
        start = rng.randrange(0, len(self.haystack) - total)
        window = self.haystack[start:start + total]
        final = window[S * self.N:]
        return Sample(window[: S * self.N], final[:-1], final[1:])


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
