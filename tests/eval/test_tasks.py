import json
import random

import pytest

from eval.tasks import (
    FIXED_DOCUMENT_TASKS, GENERATORS, CasesFileError, TokenCounter, has_adjacent_repeat, load_cases, make_passkey,
)


@pytest.fixture(scope="module")
def count(tokenizer):
    return TokenCounter(tokenizer)


def test_passkey_text_matches_the_landmark_format_byte_for_byte(count):
    case = make_passkey(count, 1000, 50, random.Random(1))
    key = case.answers[0]
    filler = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
    before = case.document.split(" The pass key is")[0]
    n_before = before.count(filler)
    n_after = case.document.count(filler) - n_before
    expected = (
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
        "I will quiz you about the important information there. "
        + " ".join([filler] * n_before) + f" The pass key is {key}. Remember it. {key} is the pass key. "
        + " ".join([filler] * n_after)
    )
    assert case.document == expected
    assert case.question + " " + case.answer_prefix == "What is the pass key? The pass key is"
    assert len(key) == 5 and key.isdigit()


@pytest.mark.parametrize("task", sorted(set(GENERATORS) - set(FIXED_DOCUMENT_TASKS)))
@pytest.mark.parametrize("length", [2000, 6000])
def test_lengths_and_depths_land_where_asked(count, task, length):
    for depth in (0, 50, 100):
        case = GENERATORS[task](count, length, depth, random.Random(f"{task}{length}{depth}"))
        assert abs(count(case.document) - length) <= 0.01 * length
        if task in ("passkey", "niah_single"):
            needle_at = case.document.index(case.answers[0])
            position = 100 * count(case.document[:needle_at]) / count(case.document)
            assert abs(position - depth) <= 5, (task, depth, position)
        flat = " ".join(case.document.split())  # recall quotes sentences with their line breaks made spaces
        assert all(" ".join(answer.split()) in flat for answer in case.answers)


def test_same_seed_same_cases_different_seed_different(tokenizer):
    from eval.runner import generate_cases

    args = (tokenizer, ["passkey", "niah_multikey", "babi_qa2"], [1500], [25.0, 75.0], 2)
    first, again, other = generate_cases(*args, seed=3), generate_cases(*args, seed=3), generate_cases(*args, seed=4)
    assert [(c.id, c.document, c.question, c.answers) for c in first] == [(c.id, c.document, c.question, c.answers) for c in again]
    assert [c.document for c in first] != [c.document for c in other]


def test_cases_file_loads_and_bad_lines_are_reported(tmp_path):
    (tmp_path / "doc.txt").write_text("Paris is the capital of France.")
    good = tmp_path / "cases.jsonl"
    good.write_text(json.dumps({"id": "a", "document": "x y z", "question": "q?", "answers": ["z"], "metric": "em"}) + "\n"
                    + json.dumps({"id": "b", "document_path": "doc.txt", "question": "Capital?", "answers": ["Paris"],
                                  "metric": "contains"}) + "\n")
    cases = load_cases(str(good))
    assert [c.id for c in cases] == ["a", "b"] and cases[1].document.startswith("Paris")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "document": "x", "question": "q", "answers": ["z"], "metric": "bleu"}) + "\n")
    with pytest.raises(CasesFileError, match="line 1"):
        load_cases(str(bad))


def test_has_adjacent_repeat_finds_a_digit_that_follows_itself():
    assert has_adjacent_repeat("1656671") and has_adjacent_repeat("99158")
    assert not has_adjacent_repeat("8294681") and not has_adjacent_repeat("2082753")  # 2 twice, never side by side


def test_moved_needle_keeps_the_number_and_the_haystack(tokenizer, bench_script):
    """research/moved_needles.py: back at its own depth the document is the eval's, byte for byte; at
    another depth the needle sits where insert_at_depth puts it and the rest of the text is unchanged."""
    from eval.runner import generate_cases
    from eval.tasks import NIAH_NEEDLE, insert_at_depth

    moved_needles = bench_script("moved_needles")

    for depth in (0, 50, 100):
        for case in generate_cases(tokenizer, ["niah_single"], [2000], [depth], 2, seed=3):
            needle = NIAH_NEEDLE.format(key=case.meta["key"], value=case.answers[0])
            assert moved_needles.moved(case.document, needle, depth) == case.document
            other = moved_needles.moved(case.document, needle, 30)
            assert other.count(needle) == 1 and other != case.document
            without = lambda text: " ".join(text.replace(needle, " ").split())  # noqa: E731
            assert without(other) == without(case.document)
            if depth == 0:  # the eval wrote needle + " " + haystack
                haystack = case.document[len(needle) + 1:]
                assert other == insert_at_depth(haystack, [needle], [30])


def test_recall_quotes_the_first_half_of_a_real_sentence_of_the_document(tokenizer):
    from eval.runner import generate_cases
    from eval.tasks import training_status

    cases = generate_cases(tokenizer, ["recall"], [3000], [20.0, 80.0], samples=3, seed=4)
    for case in cases:
        start = case.question.split('begins with the words "', 1)[1].rsplit('". Write the rest', 1)[0]
        flat = " ".join(case.document.split())
        assert f"{start} {case.answers[0]}" in flat and case.metric == "rouge_l"
        assert len(case.answers[0].split()) >= 4 and abs(case.depth - case.id.count("-80-") * 60 - 20) < 25
    assert training_status("recall") == "held out"


def test_docqa_has_forty_questions_each_with_verbatim_evidence_in_a_document_training_never_sees(tokenizer):
    from eval.runner import generate_cases
    from eval.tasks import docqa_document, docqa_questions, training_status
    from infini.train_data import split_reference
    from infini.train_text import training_text

    questions = docqa_questions()
    assert len(questions) >= 40 and len({q["question"] for q in questions}) == len(questions)
    document = docqa_document()
    flat = " ".join(document.split())
    for item in questions:
        evidence = " ".join(item["evidence"].split())
        assert evidence in flat, evidence  # verbatim, line breaks aside
        assert any(answer in evidence for answer in item["answers"]), item["question"]
    trained_on = split_reference()[0]
    assert document not in trained_on and not any(" ".join(q["evidence"].split()) in " ".join(trained_on.split())
                                                   for q in questions[:5])
    assert not [q for q in questions if " ".join(q["evidence"].split()) in " ".join(training_text().split())]
    cases = generate_cases(tokenizer, ["docqa"], [4000, 8000], [50.0], samples=3, seed=0)  # lengths, depths ignored
    assert len(cases) == len(questions) and len({c.document for c in cases}) == 1
    assert training_status("docqa") == "held out"
