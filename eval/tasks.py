"""The eval's task generators. passkey and niah share their formats (core.formats) with the older training
recipes; every other task is held out from all training.

Formats follow ../shared/reference/long-context-eval.md: the Landmark/Infini-attention passkey and
RULER's needle sentence. Every generator is a pure function of its random generator.
"""
from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import facts

from core.documents import language_reference  # noqa: F401  (the default haystack)
from core.formats import (  # noqa: F401  (the task formats, shared with today's training data)
    KEY_WORDS, NIAH_NEEDLE, NIAH_QUESTION, PASSKEY_ANSWER_PREFIX, PASSKEY_FILLER, PASSKEY_NEEDLE, PASSKEY_PREAMBLE,
    PASSKEY_QUESTION, has_adjacent_repeat, random_key, random_number,
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
    return window[: cut[-1]].rstrip() if cut and cut[-1] > end * 0.995 else window[:end]  # lengths within 1%


def make_niah_single(count: TokenCounter, length: int, depth: float, rng: random.Random,
                     haystack: str | None = None, case_id: str = "") -> Case:
    key, value = random_key(rng), random_number(rng, 7)
    needle = NIAH_NEEDLE.format(key=key, value=value)
    hay = haystack_window(count, haystack or language_reference(), length - count(" " + needle), rng)
    document = insert_at_depth(hay, [needle], [depth])
    return Case(case_id or f"niah_single-{length}-{depth:g}-{key}", "niah_single", document,
                NIAH_QUESTION.format(key=key), [value], "string_match_all", length, depth, meta={"key": key})


NIAH_MULTIVALUE_QUESTION = "What are all the special magic numbers for {key} mentioned in the provided text?"
NIAH_MULTIQUERY_QUESTION = "What are all the special magic numbers for {keys} mentioned in the provided text?"
VARIABLE_TRACKING_QUESTION = (
    "Find all variables that are assigned the value {value} in the text above, directly or through other variables."
)
PEOPLE = ("Mary", "John", "Daniel", "Sandra")
PLACES = ("bathroom", "hallway", "garden", "office", "bedroom", "kitchen")
OBJECTS = ("football", "apple", "milk")
MOVES = ("moved to", "went to", "journeyed to", "travelled to")


def other_depths(rng: random.Random, n: int) -> list[float]:
    return [rng.uniform(0, 100) for _ in range(n)]


def needles_case(count: TokenCounter, task: str, length: int, depth: float, rng: random.Random, needles: list[str],
                 depths: list[float], question: str, answers: list[str], metric: str, haystack: str | None,
                 case_id: str, meta: dict | None = None) -> Case:
    """Real-text haystack of `length` tokens (needles included) with each needle at its depth."""
    room = length - sum(count(" " + n) for n in needles)
    hay = haystack_window(count, haystack or language_reference(), room, rng)
    document = insert_at_depth(hay, needles, depths)
    return Case(case_id or f"{task}-{length}-{depth:g}-{rng.random():.6f}", task, document, question, answers, metric,
                length, depth, meta=meta or {})


def distinct_keys(rng: random.Random, n: int) -> list[str]:
    keys: list[str] = []
    while len(keys) < n:
        key = random_key(rng)
        if key not in keys:
            keys.append(key)
    return keys


def make_niah_multikey(count, length, depth, rng, haystack=None, case_id=""):
    """One asked needle and three distractor needles with other keys."""
    keys, values = distinct_keys(rng, 4), [random_number(rng, 7) for _ in range(4)]
    needles = [NIAH_NEEDLE.format(key=k, value=v) for k, v in zip(keys, values)]
    return needles_case(count, "niah_multikey", length, depth, rng, needles, [depth] + other_depths(rng, 3),
                        NIAH_QUESTION.format(key=keys[0]), [values[0]], "string_match_all", haystack, case_id)


def make_niah_multivalue(count, length, depth, rng, haystack=None, case_id=""):
    """Four values for one key; all are required."""
    key, values = random_key(rng), [random_number(rng, 7) for _ in range(4)]
    needles = [NIAH_NEEDLE.format(key=key, value=v) for v in values]
    return needles_case(count, "niah_multivalue", length, depth, rng, needles, [depth] + other_depths(rng, 3),
                        NIAH_MULTIVALUE_QUESTION.format(key=key), values, "string_match_all", haystack, case_id)


def make_niah_multiquery(count, length, depth, rng, haystack=None, case_id=""):
    """Four keys asked at once."""
    keys, values = distinct_keys(rng, 4), [random_number(rng, 7) for _ in range(4)]
    needles = [NIAH_NEEDLE.format(key=k, value=v) for k, v in zip(keys, values)]
    question = NIAH_MULTIQUERY_QUESTION.format(keys=", ".join(keys[:-1]) + f" and {keys[-1]}")
    return needles_case(count, "niah_multiquery", length, depth, rng, needles, [depth] + other_depths(rng, 3),
                        question, values, "string_match_all", haystack, case_id)


def make_variable_tracking(count, length, depth, rng, haystack=None, case_id="", hops: int = 4):
    """RULER's chain: VAR X1 = value, then VAR X2 = VAR X1, ... spread from `depth` to the end."""
    names = []
    while len(names) < hops + 1:
        name = "".join(rng.choice(string.ascii_uppercase) for _ in range(5))
        if name not in names:
            names.append(name)
    value = random_number(rng, 5)
    needles = [f"VAR {names[0]} = {value}."] + [f"VAR {names[i]} = VAR {names[i - 1]}." for i in range(1, len(names))]
    depths = [depth + (100 - depth) * i / (len(names)) for i in range(len(names))]
    return needles_case(count, "variable_tracking", length, depth, rng, needles, depths,
                        VARIABLE_TRACKING_QUESTION.format(value=value), names, "string_match_all", haystack, case_id)


def make_babi_qa1(count, length, depth, rng, haystack=None, case_id=""):
    """bAbI qa1 (one supporting fact): people move around; where is one of them now?

    The supporting fact sits at `depth`; an older move of the same person comes before it, and the
    distractors move other people, so the latest fact about the person decides the answer.
    """
    person = rng.choice(PEOPLE)
    others = [p for p in PEOPLE if p != person]
    earlier, place = rng.sample(PLACES, 2)
    facts = [f"{person} {rng.choice(MOVES)} the {earlier}.", f"{person} {rng.choice(MOVES)} the {place}."]
    depths = [rng.uniform(0, depth), depth]
    for _ in range(3):
        facts.append(f"{rng.choice(others)} {rng.choice(MOVES)} the {rng.choice(PLACES)}.")
        depths.append(rng.uniform(0, 100))
    return needles_case(count, "babi_qa1", length, depth, rng, facts, depths, f"Where is {person}?", [place],
                        "babi", haystack, case_id)


def make_babi_qa2(count, length, depth, rng, haystack=None, case_id=""):
    """bAbI qa2 (two supporting facts): someone picks up an object, then moves; where is the object?"""
    person, thing = rng.choice(PEOPLE), rng.choice(OBJECTS)
    place = rng.choice(PLACES)
    others = [p for p in PEOPLE if p != person]
    facts = [f"{person} picked up the {thing}.", f"{person} {rng.choice(MOVES)} the {place}."]
    depths = [depth, depth + (100 - depth) * rng.uniform(0.2, 0.9)]
    for _ in range(3):  # distractors: other people moving
        facts.append(f"{rng.choice(others)} {rng.choice(MOVES)} the {rng.choice(PLACES)}.")
        depths.append(rng.uniform(0, 100))
    return needles_case(count, "babi_qa2", length, depth, rng, facts, depths, f"Where is the {thing}?", [place],
                        "babi", haystack, case_id)


# Tasks whose formats (needle and question templates, word list, filler) the shipped default was trained on:
# infini/train_data.py draws its passkey and needle samples from these generators. Reports mark them
# "seen in training"; every other task is "held out", and only held-out tasks measure retrieval in general.
SEEN_IN_TRAINING = frozenset({"passkey", "niah_single", "niah_multikey", "niah_multivalue", "niah_multiquery"})


def training_status(task: str) -> str:
    return "seen in training" if task in SEEN_IN_TRAINING else "held out"


FACTS_INSTRUCTION = " Answer briefly; if the text does not say, reply that it is not mentioned."


def make_facts(count, length, depth, rng, haystack=None, case_id=""):
    """One fact about an invented entity at `depth`, asked about in other words (eval/facts.py)."""
    fact, question, answer = facts.one_fact(rng)
    return needles_case(count, "facts", length, depth, rng, [fact], [depth], question + FACTS_INSTRUCTION,
                        [answer], "phrase", haystack, case_id)


def make_facts_2hop(count, length, depth, rng, haystack=None, case_id=""):
    """A's link to B at `depth`, B's attribute elsewhere (at least a fifth of the document away)."""
    needles, question, answer, bridge = facts.two_hop(rng)
    other = rng.choice([d for d in (rng.uniform(0, 100) for _ in range(20)) if abs(d - depth) >= 20] or [100 - depth])
    return needles_case(count, "facts_2hop", length, depth, rng, needles, [depth, other], question + FACTS_INSTRUCTION,
                        [answer], "phrase", haystack, case_id, {"bridge": bridge})


def make_facts_unanswerable(count, length, depth, rng, haystack=None, case_id=""):
    """A fact about one entity; the question asks the same about another: the right reply says it is not there."""
    fact, question = facts.unanswerable(rng)
    return needles_case(count, "facts_unanswerable", length, depth, rng, [fact], [depth], question + FACTS_INSTRUCTION,
                        [], "abstains", haystack, case_id)


def make_facts_2hop_unanswerable(count, length, depth, rng, haystack=None, case_id=""):
    needles, question = facts.two_hop_unanswerable(rng)
    other = (depth + 50) % 100
    return needles_case(count, "facts_2hop_unanswerable", length, depth, rng, needles, [depth, other],
                        question + FACTS_INSTRUCTION, [], "abstains", haystack, case_id)


RECALL_QUESTION = ("Somewhere above, a sentence begins with the words \"{start}\". Write the rest of that sentence "
                   "exactly as it stands in the text.")


def recall_sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) for the whole sentences of 10 to 40 words in `text`, whitespace made single spaces."""
    found = []
    for match in re.finditer(r"(?:(?<=[.!?]\s)|(?<=\n))[A-Z][^.!?*|>=]{30,300}?[.!?](?=\s)", text):
        sentence = " ".join(match.group(0).split())
        if 10 <= len(sentence.split()) <= 40:
            found.append((match.start(), sentence))
    return found


def make_recall(count, length, depth, rng, haystack=None, case_id=""):
    """A sentence of the real text near `depth`, quoted by its first half; the answer is the rest (ROUGE-L)."""
    hay = haystack_window(count, haystack or language_reference(), length, rng)
    sentences = recall_sentences(hay)
    if not sentences:
        raise ValueError("the haystack has no sentence of 10 to 40 words to quote")
    target = len(hay) * depth / 100
    offset, sentence = min(sentences, key=lambda item: abs(item[0] - target))
    words = sentence.split()
    cut = len(words) // 2
    return Case(case_id or f"recall-{length}-{depth:g}", "recall", hay, RECALL_QUESTION.format(start=" ".join(words[:cut])),
                [" ".join(words[cut:])], "rouge_l", length, round(100 * offset / len(hay), 1), meta={"sentence": sentence})


DOCQA_FILE = Path(__file__).resolve().parent / "data" / "docqa.json"
DOCQA_INSTRUCTION = " Answer in a few words."


@lru_cache(maxsize=1)
def docqa_questions() -> tuple[dict, ...]:
    return tuple(json.loads(DOCQA_FILE.read_text())["questions"])


@lru_cache(maxsize=1)
def docqa_document() -> str:
    """The last 10% of the Language Reference: held out from every training recipe (infini.train_data)."""
    from infini.train_data import split_reference

    return split_reference()[1]


def make_docqa(count, length, depth, rng, haystack=None, case_id="", index: int = 0):
    """Question `index` of eval/data/docqa.json about one real document; length and depth come from it (every
    docqa case shares the document, so a pipeline ingests it once)."""
    item = docqa_questions()[index]
    document = docqa_document()
    evidence = " ".join(item["evidence"].split())
    flat = " ".join(document.split())
    return Case(case_id or f"docqa-{index}", "docqa", document, item["question"] + DOCQA_INSTRUCTION, list(item["answers"]),
                "f1", count(document), round(100 * flat.index(evidence) / len(flat), 1), meta={"evidence": evidence})


FIXED_DOCUMENT_TASKS = {"docqa": lambda: len(docqa_questions())}  # task -> its number of cases (no lengths, depths)

GENERATORS = {
    "passkey": make_passkey, "niah_single": make_niah_single, "niah_multikey": make_niah_multikey,
    "niah_multivalue": make_niah_multivalue, "niah_multiquery": make_niah_multiquery,
    "variable_tracking": make_variable_tracking, "babi_qa1": make_babi_qa1, "babi_qa2": make_babi_qa2,
    "facts": make_facts, "facts_2hop": make_facts_2hop, "facts_unanswerable": make_facts_unanswerable,
    "facts_2hop_unanswerable": make_facts_2hop_unanswerable, "recall": make_recall, "docqa": make_docqa,
}


CASE_METRICS = ("f1", "em", "contains", "passkey", "rouge_l", "phrase")


class CasesFileError(ValueError):
    pass


def load_cases(path: str) -> list[Case]:
    """A user's JSON Lines file: {"id", "document" | "document_path", "question", "answers", "metric"} per line."""
    import json
    from pathlib import Path

    base = Path(path).parent
    cases = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if "document" in row:
                    document = row["document"]
                else:
                    document = (base / row["document_path"]).read_text(encoding="utf-8", errors="replace")
                answers = row["answers"]
                if not isinstance(answers, list) or not answers or not row["question"].strip():
                    raise ValueError("answers must be a non-empty list and the question non-empty")
                metric = row.get("metric", "f1")
                if metric not in CASE_METRICS:
                    raise ValueError(f"metric must be one of {CASE_METRICS}")
                cases.append(Case(str(row["id"]), "cases", document, row["question"], [str(a) for a in answers], metric,
                                  length=0, depth=0.0, answer_prefix=row.get("answer_prefix", "")))
            except (json.JSONDecodeError, KeyError, OSError, ValueError, AttributeError) as exc:
                raise CasesFileError(f"{path}, line {number}: {exc}") from exc
    if not cases:
        raise CasesFileError(f"{path} holds no cases")
    return cases
