"""The one interface both pipelines implement; the eval runner and the app hold only this.

    handle = pipeline.ingest(text, progress)
    stream = pipeline.answer(handle, question, max_new_tokens=..., answer_prefix="")  # yields text pieces,
    result = <StopIteration.value> or collect(stream)       # then returns an AnswerResult
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

Progress = Callable[[float, str], None]  # (fraction done in [0, 1] or -1 when unknown, message)


@dataclass
class AnswerResult:
    text: str
    pipeline: str
    ingest_s: float  # time the document's ingestion took (0 when it came from a cache)
    time_to_first_token_s: float
    total_s: float  # answering time, prompt processing included
    tokens_processed: int  # tokens the model read to answer (document ingestion included)
    tokens_generated: int
    state_bytes: int  # bytes of the memory state or of the index
    confidence: float | None = None  # the lowest probability of a token of the reply (core.decoding.greedy_pieces)
    sources: list[dict] = field(default_factory=list)  # RAG: text, score, rank, chunk id, start, end
    skipped: str = ""  # why no answer was attempted (the full pipeline: "does not fit ..."); such rows carry no score

    @property
    def tokens_per_s(self) -> float:
        decode_s = self.total_s - self.time_to_first_token_s
        return self.tokens_generated / decode_s if decode_s > 0 else 0.0


class Pipeline(Protocol):
    name: str

    def ingest(self, text: str, progress: Progress | None = None) -> Any: ...

    def answer(self, handle: Any, question: str, **options) -> Generator[str, None, AnswerResult]: ...


def collect(stream: Generator[str, None, AnswerResult]) -> AnswerResult:
    """Drain an answer stream and return its AnswerResult."""
    while True:
        try:
            next(stream)
        except StopIteration as done:
            return done.value
