"""The held-out fact tasks (eval/facts.py): documents hold what the questions need, in other words."""
import random
import re
from pathlib import Path

import pytest

from eval import facts
from eval.runner import generate_cases
from eval.scorers import abstains, phrase

INSTRUCTION_FREE = re.compile(r" Answer briefly;.*$")


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return set(zip(words, words[1:], words[2:]))


def test_at_least_twenty_templates_and_each_question_rewords_its_fact():
    assert len(facts.ATTRIBUTES) >= 20 and len(facts.BRIDGES) >= 5
    for attribute in facts.ATTRIBUTES:
        fact, question = attribute.fact.replace("{s}", "").replace("{a}", ""), attribute.question.replace("{s}", "")
        assert not trigrams(fact) & trigrams(question), attribute.question  # no three words in a row in common


@pytest.mark.parametrize("task", ["facts", "facts_2hop", "facts_unanswerable", "facts_2hop_unanswerable"])
def test_cases_hold_what_their_questions_need(tokenizer, task):
    cases = generate_cases(tokenizer, [task], [2000], [10.0, 60.0], samples=4, seed=3)
    for case in cases:
        assert abs(len(tokenizer(case.document)["input_ids"]) - 2000) <= 40
        question = INSTRUCTION_FREE.sub("", case.question)
        if task in ("facts", "facts_2hop"):
            assert case.metric == "phrase" and case.answers[0] in case.document
        if task == "facts_2hop":
            bridge = case.meta["bridge"]
            assert bridge not in question and case.document.count(bridge) == 2  # named in both facts, never asked
        if task.endswith("unanswerable"):
            asked = re.findall(r"[A-Z][a-z]+(?: [A-Z][a-z]+)?", question.split(" ", 1)[1])  # the invented names
            assert case.metric == "abstains" and asked and not any(name in case.document for name in asked)
    assert len({c.question for c in cases}) == len(cases)  # a fresh entity in every case


def test_answers_come_in_every_type():
    rng = random.Random(0)
    answers = [facts.one_fact(rng)[2] for _ in range(400)]
    numbers = [a for a in answers if a.isdigit()]
    assert {len(n) for n in numbers} >= {1, 2, 3, 4, 5, 6}
    assert any(" " in a and not a[0].isupper() for a in answers)  # a phrase of several words
    assert any(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", a) for a in answers)  # a person's name


def test_phrase_needs_whole_words_and_abstains_needs_a_refusal():
    assert phrase("She likes cardamom best.", ["cardamom"]) == 1.0
    assert phrase("The number is 420000.", ["42"]) == 0.0 and phrase("It is 42 metres.", ["42"]) == 1.0
    assert phrase("They serve plum dumplings.", ["plum dumplings"]) == 1.0 and phrase("pears", ["pear"]) == 0.0
    assert abstains("The text does not say which spice.", []) == 1.0
    assert abstains("It is not mentioned in the document.", []) == 1.0
    assert abstains("The spice is saffron.", []) == 0.0


def test_phrase_counts_a_reply_that_names_the_answer_and_denies_it_as_wrong():
    # seen from the base model with the fact in its own segment
    assert phrase("The year 1295 is not mentioned in the text.", ["1295"]) == 0.0
    assert phrase('The inscription "The river remembers" is not mentioned.', ["the river remembers"]) == 0.0
    assert phrase("The earliest records of Nurtmere are found in Sogdian.", ["Sogdian"]) == 1.0


def test_training_data_uses_none_of_the_held_out_names_words_or_templates():
    root = Path(__file__).resolve().parents[2]
    training = "".join(p.read_text() for p in (root / "infini" / "train_data.py", root / "core" / "formats.py"))
    assert "eval.facts" not in training and "from eval" not in training
    words = [w for group in (facts.SPICES, facts.COLOURS, facts.INSTRUMENTS, facts.FRUITS, facts.DISHES, facts.MOTTOS)
             for w in group]
    templates = [a.fact.split("{")[0] for a in facts.ATTRIBUTES if len(a.fact.split("{")[0]) > 12]
    assert not [w for w in words + templates if w in training]
