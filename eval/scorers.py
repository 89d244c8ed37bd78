"""Deterministic scorers, each (prediction, references) -> score in [0, 1].

Conventions from ../shared/reference/long-context-eval.md: passkey (first integer), RULER's
string_match_all / string_match_part, SQuAD's normalised exact match and token F1 (best over
references), ROUGE-L from the `rouge-score` package.
"""
from __future__ import annotations

import re
import string
from collections import Counter


def passkey(prediction: str, references: list[str]) -> float:
    """The first integer in the output equals the key."""
    match = re.search(r"\d+", prediction)
    return float(bool(match) and any(match.group() == ref for ref in references))


def string_match_all(prediction: str, references: list[str]) -> float:
    """Fraction of references found in the output, case-insensitive (RULER)."""
    low = prediction.lower()
    return sum(ref.lower() in low for ref in references) / len(references)


def string_match_part(prediction: str, references: list[str]) -> float:
    """1 if any reference is found in the output, case-insensitive (RULER)."""
    low = prediction.lower()
    return float(any(ref.lower() in low for ref in references))


contains = string_match_part


def normalize_answer(text: str) -> str:
    """SQuAD: lowercase, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, references: list[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(ref) for ref in references))


def _token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref:
        return float(pred == ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, references: list[str]) -> float:
    return max(_token_f1(prediction, ref) for ref in references)


def rouge_l(prediction: str, references: list[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return max(scorer.score(ref, prediction)["rougeL"].fmeasure for ref in references)


def babi(prediction: str, references: list[str]) -> float:
    """BABILong: correct only if the label appears in the first sentence of the answer."""
    first = re.split(r"(?<=[.!?])\s|\n", prediction.strip(), maxsplit=1)[0].lower()
    return float(any(re.search(rf"\b{re.escape(ref.lower())}\b", first) for ref in references))


ABSTAIN = re.compile(
    r"\b(not (mentioned|stated|specified|given|provided|said|known)|no (information|mention|record)|"
    r"(does not|doesn't|did not|didn't) (say|mention|state|specify|tell|give)|unknown|"
    r"(cannot|can't|can not) (find|tell|determine|answer)|(don't|do not) know|not in the (text|document))\b")


def abstains(prediction: str, references: list[str]) -> float:
    """1 if the reply says the document does not tell (an unanswerable question's right answer), 0 if it
    answers something: an invented answer. The references are not used."""
    return float(bool(ABSTAIN.search(prediction.lower())))


def phrase(prediction: str, references: list[str]) -> float:
    """1 if a reference appears in the output as whole words, after SQuAD normalisation: "cardamom" in
    "She likes cardamom best.", but 42 not in 420000 and "pear" not in "pears". A reply that also says
    the document does not tell ("The year 1295 is not mentioned.") denies the answer it names: 0."""
    if abstains(prediction, references):
        return 0.0
    text = f" {normalize_answer(prediction)} "
    return float(any(f" {normalize_answer(ref)} " in text for ref in references if normalize_answer(ref)))


SCORERS = {
    "passkey": passkey, "string_match_all": string_match_all, "string_match_part": string_match_part,
    "contains": contains, "em": exact_match, "f1": f1, "rouge_l": rouge_l, "babi": babi,
    "phrase": phrase, "abstains": abstains,
}


def score(metric: str, prediction: str, references: list[str]) -> float:
    if metric not in SCORERS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(SCORERS)}")
    return SCORERS[metric](prediction, references)
