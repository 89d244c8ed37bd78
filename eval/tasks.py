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
PASSKEY_QUESTION = "What is the pass key? The pass key is"

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
