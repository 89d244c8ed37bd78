"""The passkey and needle formats (Landmark / Infini-attention passkey, RULER's needle sentence) and their
random keys and values: used by the eval's generators (eval/tasks.py) and, today, by the training data
(infini/train_data.py). Sharing them is why the reports mark passkey and niah tasks "seen in training";
training data with formats of its own is the next step (issue 36).
"""
from __future__ import annotations

import random

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


def random_key(rng: random.Random) -> str:
    return f"{rng.choice(KEY_WORDS)}-{rng.choice(KEY_WORDS)}"


def random_number(rng: random.Random, digits: int) -> str:
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


def has_adjacent_repeat(number: str) -> bool:
    """1656671: yes (66, 77); 8294681: no. The memory misreads the first kind more often (research/digit_misses.py)."""
    return any(a == b for a, b in zip(number, number[1:]))
