"""Greedy decoding's record of how sure the model was (core.decoding.greedy_pieces)."""
import math

import pytest
import torch

from core.decoding import greedy_pieces


class CharTokenizer:
    """Token i is the i-th letter; enough for the detokenizer."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join("abcd"[i] for i in ids if i != 3)


def run(steps: list[list[float]], max_new_tokens: int = 8):
    logits = [torch.tensor(step) for step in steps]
    fed = []

    def advance(token_id):
        fed.append(token_id)
        return logits[len(fed)]

    pieces = greedy_pieces(logits[0], advance, CharTokenizer(), {3}, max_new_tokens, started=0.0)
    text = []
    while True:
        try:
            text.append(next(pieces))
        except StopIteration as stop:
            detokenizer, _, confidence = stop.value
            return "".join(text), detokenizer.text, confidence


def softmax_of(step: list[float], index: int) -> float:
    return math.exp(step[index]) / sum(math.exp(v) for v in step)


def test_confidence_is_the_least_likely_chosen_token_the_stop_included():
    steps = [[4.0, 0.0, 0.0, 0.0],   # "a", sure
             [0.0, 1.0, 0.5, 0.0],   # "b", unsure
             [0.0, 0.0, 0.0, 6.0]]   # stop, sure
    streamed, text, confidence = run(steps)
    assert streamed == text == "ab"
    assert confidence == pytest.approx(softmax_of(steps[1], 1))


def test_an_unsure_end_of_reply_lowers_the_confidence():
    steps = [[5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.2]]  # the stop barely wins
    _, text, confidence = run(steps)
    assert text == "a"
    assert confidence == pytest.approx(softmax_of(steps[1], 3)) and confidence < 0.3


def test_a_reply_cut_by_the_length_limit_counts_only_the_tokens_chosen():
    steps = [[0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]  # the second step (a tie) is never chosen
    _, text, confidence = run(steps, max_new_tokens=1)
    assert text == "b"
    assert confidence == pytest.approx(softmax_of(steps[0], 1))
