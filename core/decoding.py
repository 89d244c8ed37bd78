"""Greedy decoding shared by both pipelines: text pieces as they are generated, and the answer's timings."""
from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
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
    """Greedy decoding shared by both pipelines: yields text pieces, returns (detokenizer, time to first token,
    confidence).

    logits: the next-token logits after the prompt; advance(token_id) feeds a token, returns the next logits.
    confidence: the lowest probability the model gave a token it chose, the end of the reply included (1.0 when
    nothing was chosen): a reply made up where the document is silent tends to have one unsure token, where a
    copied one has none (research/answerability.py).
    """
    detokenizer, first_token_s, confidence = IncrementalDetokenizer(tokenizer), None, 1.0
    for _ in range(max_new_tokens):
        probabilities = torch.softmax(logits.float(), dim=-1)
        next_id = int(probabilities.argmax(-1))
        confidence = min(confidence, float(probabilities[next_id]))
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
    return detokenizer, first_token_s or 0.0, confidence


@dataclass
class Answer:
    text: str
    tokens_generated: int
    prompt_tokens: int
    time_to_first_token_s: float
    total_s: float
    confidence: float = 1.0  # greedy_pieces': the lowest probability of a chosen token


def stop_ids_of(tokenizer) -> set[int]:
    return {i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if i is not None}


@torch.no_grad()
def stream_plain(lm, tokenizer, prompt_ids: list[int], max_new_tokens: int) -> Iterator[str]:
    """The unmodified model, greedy, with its own KV cache: yields text pieces, returns an Answer."""
    started = time.perf_counter()
    device = lm.device
    # transformers renamed past_key_values to cache (5.2x); pass whichever this version takes.
    cache_arg = "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"
    out = lm(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True)

    def advance(token_id: int) -> torch.Tensor:
        nonlocal out
        out = lm(input_ids=torch.tensor([[token_id]], device=device), use_cache=True, **{cache_arg: getattr(out, cache_arg)})
        return out.logits[0, -1]

    detokenizer, first_token_s, confidence = yield from greedy_pieces(
        out.logits[0, -1], advance, tokenizer, stop_ids_of(tokenizer), max_new_tokens, started)
    return Answer(detokenizer.text, len(detokenizer.ids), len(prompt_ids), first_token_s, time.perf_counter() - started,
                  confidence)
