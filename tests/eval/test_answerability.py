"""research/answerability.py: what refusing below a confidence does to right and invented answers."""
from research.answerability import abstention, should_drop


def row(task, score, confidence, prediction=" 42."):
    return {"task": task, "score": score, "confidence": confidence, "prediction": prediction,
            "refuses": "not" in prediction}


ROWS = [row("facts", 1.0, 0.95), row("facts", 1.0, 0.45), row("facts", 0.0, 0.15),
        row("facts", 0.0, 0.9, " It is not mentioned."),
        row("facts_unanswerable", 0.0, 0.35), row("facts_unanswerable", 0.0, 0.85),
        row("facts_unanswerable", 1.0, 0.6, " That is not stated.")]


def test_each_threshold_keeps_the_replies_at_or_above_it_and_refusals_stay_refusals():
    table = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in abstention(ROWS)
             if line.startswith("| 0.")}
    assert table["0.0"] == ["2/4", "2/3 |"]  # nothing refused beyond the replies that refuse
    assert table["0.4"] == ["2/4", "1/3 |"]  # the invented 0.35 goes
    assert table["0.5"] == ["1/4", "1/3 |"]  # so does the right 0.45
    assert table["0.9"] == ["1/4", "0/3 |"]


def test_an_unanswerable_question_is_never_to_be_answered_and_a_wrong_answer_is_dropped():
    assert [should_drop(r) for r in ROWS[:3]] == [False, False, True]
    assert should_drop(ROWS[4]) and should_drop(ROWS[6])
