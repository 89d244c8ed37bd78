"""The reference pipeline `full`: the plain base model with the whole document in its context window, as
RULER and BABILong report it. The ceiling both pipelines are read against where the document fits (the
base model's window: 8,192 tokens for SmolLM2); past the window its rows say "does not fit" and carry no
score, never a truncated document's answer."""
from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

from core.contract import AnswerResult, Progress
from core.decoding import stream_plain
from core.loading import base_fingerprint, kv_bytes_per_token


@dataclass
class FullHandle:
    text: str
    ingest_s: float


class FullContextPipeline:
    name = "full"

    def __init__(self, lm, tokenizer):
        self.lm, self.tokenizer = lm.eval(), tokenizer
        self.window = getattr(lm.config, "max_position_embeddings", 8192)

    def provenance(self) -> dict:
        return {"reader": "the base model, the whole document in context", "window": self.window,
                "base_model": base_fingerprint(self.lm)}

    def ingest(self, text: str, progress: Progress | None = None) -> FullHandle:
        if progress:
            progress(1.0, "kept as text: read whole at answer time")
        return FullHandle(text, 0.0)

    def prompt(self, text: str, question: str, answer_prefix: str = "") -> list[int]:
        """The Infini pipeline's prompt, whole: the document and the question in one user turn."""
        content = text + "\n\n" + question.strip()
        prompt = self.tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                    add_generation_prompt=True)
        return self.tokenizer(prompt + answer_prefix, add_special_tokens=False)["input_ids"]

    def answer(self, handle: FullHandle, question: str, max_new_tokens: int = 64, answer_prefix: str = "",
               **_) -> Generator[str, None, AnswerResult]:
        started = time.perf_counter()
        ids = self.prompt(handle.text, question, answer_prefix)
        if len(ids) + max_new_tokens > self.window:
            return AnswerResult(text="", pipeline=self.name, ingest_s=0.0, time_to_first_token_s=0.0,
                                total_s=time.perf_counter() - started, tokens_processed=0, tokens_generated=0,
                                state_bytes=0, skipped=f"does not fit ({len(ids):,} + {max_new_tokens} tokens > {self.window:,})")
        answer = yield from stream_plain(self.lm, self.tokenizer, ids, max_new_tokens)
        return AnswerResult(text=answer.text, pipeline=self.name, ingest_s=0.0,
                            time_to_first_token_s=answer.time_to_first_token_s, total_s=answer.total_s,
                            tokens_processed=len(ids), tokens_generated=answer.tokens_generated,
                            state_bytes=len(ids) * kv_bytes_per_token(self.lm), confidence=answer.confidence)
