"""Training data for retrieval in general: generators of its own, on text the eval never reads."""
import random
import re
from pathlib import Path

import pytest

from core import formats
from eval import facts as eval_facts
from eval import tasks as eval_tasks
from infini import train_data, train_facts
from infini.train_data import IGNORE
from infini.train_text import training_text
from tests.infini.test_train_data import chat_maker

ROOT = Path(__file__).resolve().parents[2]
TRAINING_SOURCES = ("infini/train_facts.py", "infini/train_text.py")


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return set(zip(words, words[1:], words[2:]))


def test_hundreds_of_phrasings_each_question_in_other_words():
    statements = sum(len(r.statements) for r in train_facts.RELATIONS)
    assert statements * len(set(train_facts.LEAD_INS)) >= 300
    for relation in train_facts.RELATIONS:
        for statement in relation.statements:
            for question in relation.questions:
                shared = trigrams(statement.replace("{s}", "").replace("{a}", "")) & trigrams(question.replace("{s}", ""))
                assert not shared, (statement, question)


def test_answers_of_every_type():
    rng = random.Random(0)
    answers = [f.answer for _ in range(300) for f in train_facts.fact_set(rng, 3)]
    numbers = [a for a in answers if a.isdigit()]
    assert {len(n) for n in numbers} >= set(range(1, 10))
    assert any(re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}|[A-Z][a-z]+ \d{1,2}, \d{4}", a) for a in answers)  # dates
    assert any(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", a) for a in answers)  # names
    assert any(re.fullmatch(r"[a-z-]+ [a-z ]+", a) for a in answers)  # phrases
    assert any(re.fullmatch(r"[A-Z]{2,3}-\d+", a) for a in answers)  # codes
    assert any(re.fullmatch(r"[a-z]+-[a-z]+|[a-z]+ hundred( and [a-z-]+)?", a) for a in answers)  # numbers in words
    # no one answer length is the usual one: one word up to seven
    assert {len(a.split()) for a in answers} >= set(range(1, 8))
    given = {a.split()[0] for a in answers if re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", a)}
    assert given - set(train_facts.GIVEN_NAMES)  # some names invented from the first word on


@pytest.mark.parametrize("n, words", [(7, "seven"), (19, "nineteen"), (40, "forty"), (58, "fifty-eight"),
                                      (300, "three hundred"), (101, "one hundred and one"),
                                      (999, "nine hundred and ninety-nine")])
def test_numbers_in_words(n, words):
    assert train_facts.in_words(n) == words


def test_a_lead_in_does_not_leave_a_capital_inside_the_sentence():
    # the first words of the statements that do not open with the subject or the answer
    openers = {s.split()[0] for r in train_facts.RELATIONS for s in r.statements if not s.startswith("{")}
    rng = random.Random(4)
    for fact in train_facts.fact_set(rng, 400):
        assert not re.search(rf", ({'|'.join(openers)}) ", fact.sentence), fact.sentence


def test_fact_sets_hold_distractors_but_one_answer_per_question():
    rng = random.Random(1)
    shared_subject = shared_relation = 0
    for _ in range(200):
        stated = train_facts.fact_set(rng, 4)
        pairs = [(f.subject, f.relation) for f in stated]
        assert len(set(pairs)) == len(pairs)
        shared_subject += len({s for s, _ in pairs}) < len(pairs)
        shared_relation += len({r for _, r in pairs}) < len(pairs)
        for f in stated:
            assert f.answer in f.sentence and f.subject.lower() in f.sentence.lower()
    assert shared_subject > 20 and shared_relation > 20


def test_no_template_word_list_filler_or_instruction_of_the_eval():
    source = "".join((ROOT / p).read_text() for p in TRAINING_SOURCES)
    new_part = (ROOT / "infini/train_data.py").read_text().split("# ---- retrieval in general")[1]
    training = source + new_part
    eval_words = [w for group in (eval_facts.SPICES, eval_facts.COLOURS, eval_facts.INSTRUMENTS, eval_facts.FRUITS,
                                  eval_facts.JOBS, eval_facts.DISHES, eval_facts.MATERIALS, eval_facts.FLOWERS,
                                  eval_facts.LANGUAGES, eval_facts.MOTTOS, eval_facts.PLACE_ENDINGS,
                                  eval_tasks.PEOPLE, eval_tasks.PLACES, eval_tasks.OBJECTS, formats.KEY_WORDS)
                  for w in group]
    found = [w for w in eval_words if re.search(rf"\b{re.escape(w)}\b", training, re.IGNORECASE)]
    assert not found
    eval_templates = ([a.fact for a in eval_facts.ATTRIBUTES] + [a.question for a in eval_facts.ATTRIBUTES]
                      + [b.fact for b in eval_facts.BRIDGES] + [eval_tasks.FACTS_INSTRUCTION.strip()]
                      + [eval_tasks.RECALL_QUESTION, eval_tasks.DOCQA_INSTRUCTION.strip()]
                      + [formats.PASSKEY_FILLER, formats.PASSKEY_NEEDLE, formats.NIAH_NEEDLE, formats.NIAH_QUESTION,
                         formats.PASSKEY_PREAMBLE])
    for template in eval_templates:
        for piece in re.split(r"\{\w+\}", template):
            assert len(piece.strip()) < 16 or piece.strip() not in training, piece
    assert "eval" not in re.findall(r"^from (\w+)|^import (\w+)", training, re.MULTILINE)


def test_training_text_is_not_the_eval_haystack(language_reference):
    text = training_text()
    assert len(text) > 500_000
    paragraphs = text.split("\n\n")
    assert not [p for p in paragraphs[::50] if p in language_reference]
    assert "def " not in text[:2000] or ">>>" not in text  # docstrings without their doctest examples


@pytest.fixture(scope="module")
def docs_maker(tokenizer):
    return chat_maker(tokenizer, niah_needles=4, niah_ask_all=True, text="stdlib_docstrings", unanswerable_share=0.5)


@pytest.mark.parametrize("kind", ["facts", "facts_2hop", "recall"])
def test_samples_hold_what_their_questions_need(docs_maker, tokenizer, kind):
    rng = random.Random(2)
    refusals = 0
    for _ in range(60):
        S = rng.randint(1, 5)
        sample = getattr(docs_maker, kind)(rng, S, rng.randint(8, 48), 0.3)
        assert len(sample.memory_ids) == S * 64
        for ids, targets in sample.finals():
            assert len(ids) == len(targets)
            answer = tokenizer.decode([t for t in targets if t != IGNORE]).replace("<|im_end|>", "").strip()
            if answer in (r.strip() for r in train_data.REFUSALS):
                refusals += 1
                continue
            document = tokenizer.decode(sample.memory_ids + ids).split("<|im_start|>assistant")[0].rsplit("\n\n", 1)[0]
            if kind == "recall":  # the quoted start and the answer are one sentence of the document
                question = tokenizer.decode(ids).split("<|im_start|>assistant")[0].rsplit("\n\n", 1)[1]
                quoted = re.search(r"\"(.+)\"", question)
                if quoted is None:  # a document without a whole sentence to quote asks a fact instead
                    continue
                start = quoted.group(1)
                assert f"{start} {answer}" in " ".join(document.split())
            else:
                assert answer.rstrip(".") in document, (kind, answer)
    if kind in ("facts", "facts_2hop"):
        assert refusals > 10


def test_a_facts_sample_records_where_each_answer_was_written(docs_maker, tokenizer):
    rng = random.Random(5)
    recorded = 0
    for _ in range(40):
        S = rng.randint(1, 5)
        sample = docs_maker.facts(rng, S, rng.randint(8, 48), 0.3)
        assert len(sample.answer_spans) == len(sample.finals())
        for (ids, targets), span in zip(sample.finals(), sample.answer_spans):
            reply = [t for t in targets if t != IGNORE]
            answer = tokenizer.decode(reply).replace("<|im_end|>", "").strip().rstrip(".")
            if span is None:  # a refusal, or a fact that is not wholly in memory: in the tail, or across the memory's end
                tail = tokenizer.decode(sample.memory_ids[-40:] + ids).split("<|im_start|>assistant")[0].rsplit("\n\n", 1)[0]
                assert answer + "." in (r.strip() for r in train_data.REFUSALS) or answer in tail
                continue
            start, count = span
            assert count >= 1 and sample.memory_ids[start:start + count] == reply[:count]
            assert answer.startswith(tokenizer.decode(reply[:count]).strip())
            assert tokenizer.decode(sample.memory_ids[start:]).strip().startswith(answer)  # the whole answer follows
            recorded += 1
    assert recorded > 40
