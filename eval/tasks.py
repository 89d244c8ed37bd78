"""Text-level task generators shared by training data and the eval (same formats in both).

Formats follow ../shared/reference/long-context-eval.md: the Landmark/Infini-attention passkey and
RULER's needle sentence. Every generator is a pure function of its random generator.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from functools import lru_cache

PASSKEY_PREAMBLE = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there."
)
PASSKEY_FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
PASSKEY_NEEDLE = "The pass key is {key}. Remember it. {key} is the pass key."
PASSKEY_QUESTION = "What is the pass key?"
PASSKEY_ANSWER_PREFIX = "The pass key is"  # the Landmark prompt ends with it; here it opens the reply

NIAH_NEEDLE = "One of the special magic numbers for {key} is: {value}."
NIAH_QUESTION = "What is the special magic number for {key} mentioned in the provided text?"

KEY_WORDS = (
    "amber", "brisk", "cobalt", "dusty", "eager", "fabled", "gentle", "hollow", "ivory", "jolly", "keen",
    "lucky", "mellow", "nimble", "olive", "proud", "quiet", "rapid", "silent", "tidy", "urban", "vivid",
    "witty", "young", "zesty", "anchor", "banjo", "candle", "dragon", "falcon", "garden", "harbor",
    "island", "jacket", "kettle", "lantern", "meadow", "needle", "orchid", "pepper", "quartz", "ribbon",
    "saddle", "tunnel", "violin", "walnut", "yarrow", "zephyr",
)


@dataclass
class Case:
    id: str
    task: str
    document: str
    question: str
    answers: list[str]
    metric: str
    length: int = 0  # target length in base-model tokens
    depth: float = 0.0  # needle position, percent of the document
    answer_prefix: str = ""  # text the reply starts with (the model continues it)
    meta: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def language_reference() -> str:
    """Python's Language Reference (pydoc_data.topics, ~465K characters), shipped with every Python."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def random_key(rng: random.Random) -> str:
    return f"{rng.choice(KEY_WORDS)}-{rng.choice(KEY_WORDS)}"


def random_number(rng: random.Random, digits: int) -> str:
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


def passkey_document(key: str, blocks_before: int, blocks_after: int) -> str:
    """Preamble, filler, the needle, more filler: the Landmark format (the question is asked separately)."""
    filler = " ".join([PASSKEY_FILLER] * blocks_before)
    rest = " ".join([PASSKEY_FILLER] * blocks_after)
    parts = [PASSKEY_PREAMBLE, filler, PASSKEY_NEEDLE.format(key=key), rest]
    return " ".join(p for p in parts if p)


def sentence_starts(text: str) -> list[int]:
    """Offsets where a sentence or paragraph begins: after '. ' or a newline."""
    starts = [0]
    for i in range(1, len(text)):
        if text[i - 1] == "\n" or (text[i - 1] == " " and text[i - 2:i] == ". "):
            starts.append(i)
    return starts


def insert_at_depth(haystack: str, needles: list[str], depths: list[float]) -> str:
    """Insert each needle sentence at its depth (percent), moved back to the nearest sentence start."""
    starts = sentence_starts(haystack)
    placed = []
    for needle, depth in zip(needles, depths):
        target = int(len(haystack) * depth / 100)
        position = max(s for s in starts if s <= target) if depth < 100 else len(haystack)
        placed.append((position, needle))
    out, previous = [], 0
    for position, needle in sorted(placed):
        out.append(haystack[previous:position])
        joiner = "" if position == 0 or haystack[position - 1] in " \n" else " "
        out.append(joiner + needle + (" " if position < len(haystack) else ""))
        previous = position
    out.append(haystack[previous:])
    return "".join(out)


# ---- generators: (tokenizer, length in tokens, depth in percent, rng) -> Case ----------------------
class TokenCounter:
    """Counts base-model tokens; every length in the eval is measured with it."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]


def make_passkey(count: TokenCounter, length: int, depth: float, rng: random.Random, case_id: str = "") -> Case:
    key = random_number(rng, 5)
    block = count(" " + PASSKEY_FILLER)
    fixed = count(passkey_document(key, 0, 0))
    blocks = max(0, round((length - fixed) / block))
    before = round(blocks * depth / 100)
    document = passkey_document(key, before, blocks - before)
    return Case(case_id or f"passkey-{length}-{depth:g}-{key}", "passkey", document, PASSKEY_QUESTION, [key],
                "passkey", length, depth, PASSKEY_ANSWER_PREFIX, {"key": key})


def haystack_window(count: TokenCounter, haystack: str, tokens: int, rng: random.Random) -> str:
    """A window of real text, `tokens` long, starting and ending on sentence boundaries (wraps around)."""
    if not haystack.strip():
        raise ValueError("the haystack text is empty")
    chars_per_token = max(1.0, len(haystack[:200_000]) / max(1, count(haystack[:200_000])))
    need = int(tokens * chars_per_token * 1.2) + 200
    repeats = need // len(haystack) + 2
    looped = "\n\n".join([haystack] * repeats)
    starts = sentence_starts(haystack)
    start = rng.choice(starts)
    window = looped[start:start + need]
    offsets = count.offsets(window)
    end = offsets[min(tokens, len(offsets)) - 1][1]
    cut = [s for s in sentence_starts(window[:end + 1]) if s > 0]
    return window[: cut[-1]].rstrip() if cut and cut[-1] > end * 0.9 else window[:end]


def make_niah_single(count: TokenCounter, length: int, depth: float, rng: random.Random,
                     haystack: str | None = None, case_id: str = "") -> Case:
    key, value = random_key(rng), random_number(rng, 7)
    needle = NIAH_NEEDLE.format(key=key, value=value)
    hay = haystack_window(count, haystack or language_reference(), length - count(" " + needle), rng)
    document = insert_at_depth(hay, [needle], [depth])
    return Case(case_id or f"niah_single-{length}-{depth:g}-{key}", "niah_single", document,
                NIAH_QUESTION.format(key=key), [value], "string_match_all", length, depth, meta={"key": key})


GENERATORS = {"passkey": make_passkey, "niah_single": make_niah_single}
