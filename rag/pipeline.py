"""The retrieval pipeline behind the shared contract (core.contract.Pipeline)."""
from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import torch

from core.contract import AnswerResult, Progress
from core.loading import base_fingerprint, default_dtype, load_base_model

from .chunking import ChunkSettings
from .embeddings import MiniLMEmbeddings
from .index import DocumentIndex, IndexCache, index_document
from .reader import RagReader
from .retriever import FaissRetriever

DEFAULT_TOP_K = 3  # chosen with the chunk size by bench/rag_settings.py (README)


@dataclass
class RagHandle:
    index: DocumentIndex
    ingest_s: float


class RagPipeline:
    name = "rag"

    def __init__(self, reader: RagReader, embeddings: MiniLMEmbeddings, settings: ChunkSettings | None = None,
                 cache: IndexCache | None = None, top_k: int = DEFAULT_TOP_K):
        self.reader, self.embeddings = reader, embeddings
        self.settings = settings or ChunkSettings()
        self.cache = cache if cache is not None else IndexCache()
        self.top_k = top_k

    @classmethod
    def load(cls, model: str | None = None, device: str | None = None, base=None, **kwargs) -> "RagPipeline":
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        lm, tokenizer = base or load_base_model(model, dtype=default_dtype(device), device=device)
        return cls(RagReader(lm, tokenizer), MiniLMEmbeddings(device=device), **kwargs)

    def provenance(self) -> dict:
        """What made this pipeline's answers: recorded on every eval result row (eval.runner)."""
        return {"embeddings": self.embeddings.name, **self.settings.as_dict(), "top_k": self.top_k,
                "base_model": base_fingerprint(self.reader.lm)}

    def ingest(self, text: str, progress: Progress | None = None, settings: ChunkSettings | None = None) -> RagHandle:
        """settings: this document's chunking (None: the pipeline's); a per-request setting, nothing shared changes."""
        started = time.perf_counter()
        report = (lambda done, total: progress(done / total, f"embedded {done}/{total} chunks")) if progress else None
        index = index_document(text, self.embeddings, settings or self.settings, self.cache, report)
        if progress:
            progress(1.0, "index ready" + (" (from cache)" if index.from_cache else ""))
        return RagHandle(index, 0.0 if index.from_cache else time.perf_counter() - started)

    def retriever(self, handle: RagHandle, k: int | None = None) -> FaissRetriever:
        return FaissRetriever(document_index=handle.index, embeddings=self.embeddings, k=k or self.top_k)

    def answer(self, handle: RagHandle, question: str, max_new_tokens: int = 64, answer_prefix: str = "",
               top_k: int | None = None, **_) -> Generator[str, None, AnswerResult]:
        started = time.perf_counter()
        chunks = self.retriever(handle, top_k).invoke(question)
        prompt, kept = self.reader.fit_prompt(chunks, question, max_new_tokens, answer_prefix)
        retrieval_s = time.perf_counter() - started
        stream = self.reader.stream(prompt, max_new_tokens)
        answer = yield from stream
        return AnswerResult(
            text=answer.text, pipeline=self.name, ingest_s=handle.ingest_s,
            time_to_first_token_s=retrieval_s + answer.time_to_first_token_s, total_s=time.perf_counter() - started,
            tokens_processed=len(prompt), tokens_generated=answer.tokens_generated, state_bytes=handle.index.nbytes(),
            confidence=answer.confidence,
            sources=[{"text": d.page_content, **d.metadata} for d in sorted(kept, key=lambda d: d.metadata["rank"])],
        )
