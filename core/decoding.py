"""Greedy decoding shared by both pipelines: text pieces as they are generated, and the answer's timings."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


class IncrementalDetokenizer:
    """Turns a growing list of generated ids into new text pieces, holding back split characters."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.text = ""

    def add(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if len(text) <= len(self.text) or text.endswith("\ufffd"):
            return ""
        piece, self.text = text[len(self.text):], text
        return piece

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        piece, self.text = text[len(self.text):], text
        return piece


def greedy_pieces(logits: torch.Tensor, advance: Callable[[int], torch.Tensor], tokenizer, stop_ids: set[int],
                  max_new_tokens: int, started: float):
    """Greedy decoding shared by both pipelines: yields text pieces, returns (detokenizer, time to first token).

    logits: the next-token logits after the prompt; advance(token_id) feeds a token, returns the next logits.
    """
    detokenizer, first_token_s = IncrementalDetokenizer(tokenizer), None
    for _ in range(max_new_tokens):
        next_id = int(logits.argmax(-1))
        if first_token_s is None:
            first_token_s = time.perf_counter() - started
        if next_id in stop_ids:
            break
        piece = detokenizer.add(next_id)
        if piece:
            yield piece
        logits = advance(next_id)
    piece = detokenizer.flush()
    if piece:
        yield piece
    return detokenizer, first_token_s or 0.0


@dataclass
class Answer:
    text: str
    tokens_generated: int
    prompt_tokens: int
    time_to_first_token_s: float
    total_s: float
