"""The Infini-attention pipeline behind the shared contract (core.contract.Pipeline)."""
from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import torch

from core.contract import AnswerResult, Progress

from .adapter import DEFAULT_ADAPTER, load_adapter, read_card
from core.loading import default_dtype, load_base_model
from .memory_state import MemoryState
from .model import InfiniConfig, InfiniModel, base_fingerprint, describe_memory
from .stream import InfiniReader


@dataclass
class InfiniHandle:
    state: MemoryState
    ingest_s: float


def build_infini_model(lm, adapter: str | Path | None = "default", segment_len: int | None = None,
                       read_cap: float | None = None, memory_layers: list[int] | None = None) -> InfiniModel:
    """Convert `lm`, with the trained gates and adapters unless adapter is None.

    "default" means the committed artifact, used only when it was trained on this base model.
    segment_len overrides the length the adapter was trained with (reading with longer segments);
    read_cap overrides the memory read's cap (attention.cap_to: 0 off, 1 the local read's scale), e.g.
    to measure the cap on an adapter trained without it; memory_layers keeps the memory in those layers only (the
    others read as the base model), to measure which layers a trained memory retrieves through.
    """
    overrides = {"segment_len": segment_len or None, "read_cap": read_cap, "memory_layers": memory_layers}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    path = DEFAULT_ADAPTER if adapter == "default" else adapter
    if path is not None and Path(path).exists():
        card = read_card(path)
        if card["base_model_fingerprint"] == base_fingerprint(lm):
            return load_adapter(lm, path, **overrides)
        message = f"{path} was trained on another base model; using the untrained conversion"
        if adapter != "default":
            raise ValueError(message)
        warnings.warn(message, stacklevel=2)
    elif adapter not in (None, "default"):
        raise FileNotFoundError(f"No adapter file at {adapter}")
    return InfiniModel(lm, InfiniConfig(**overrides))


class InfiniPipeline:
    name = "infini"

    def __init__(self, reader: InfiniReader):
        self.reader = reader
        self._readers = {reader.segment_len: reader}

    def reader_for(self, segment_len: int | None) -> InfiniReader:
        """A reader on the same model with this segment length (None: the model's own): a per-request setting
        that changes nothing shared, so users with different lengths never see each other's."""
        if not segment_len:
            return self.reader
        if segment_len not in self._readers:
            base = self.reader
            self._readers[segment_len] = InfiniReader(base.model, base.tokenizer, base.use_memory, base.segments_per_pass,
                                                      segment_len=segment_len)
        return self._readers[segment_len]

    @classmethod
    def load(cls, model: str | None = None, adapter: str | Path | None = "default", segment_len: int | None = None,
             device: str | None = None, use_memory: bool = True, base=None,
             read_cap: float | None = None, memory_layers: list[int] | None = None,
             segments_per_pass: int | None = None, int8: bool = False) -> "InfiniPipeline":
        """base: an already loaded (lm, tokenizer) pair; it is converted in place, so pass a copy to share.

        segments_per_pass: segments ingested per pass over the layers (None: InfiniReader's budget; 1: one by one).
        int8: the base weights dynamically quantised to int8 (loading.quantize_int8; CPU).
        """
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        lm, tokenizer = base or load_base_model(model, dtype=default_dtype(device), device=device)
        infini_model = build_infini_model(lm, adapter, segment_len, read_cap, memory_layers)
        if int8:
            infini_model.quantize_int8()
        return cls(InfiniReader(infini_model, tokenizer, use_memory=use_memory, segments_per_pass=segments_per_pass))

    def provenance(self) -> dict:
        """What made this pipeline's answers: recorded on every eval result row (eval.runner)."""
        model = self.reader.model
        path = model.adapter_path
        if path and not hasattr(self, "_adapter_sha256"):
            self._adapter_sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        weights = model.quantization or str(next(model.lm.parameters()).dtype).removeprefix("torch.")
        return {"adapter": Path(path).name if path else None, "adapter_sha256": getattr(self, "_adapter_sha256", None),
                "rule": describe_memory(model.config), "segment_len": self.reader.segment_len,
                "base_model": base_fingerprint(model.lm), "weights": weights}

    def ingest(self, text: str, progress: Progress | None = None, lock=None,
               piece: int = 50_000, segment_len: int | None = None) -> InfiniHandle:
        """lock: held per piece only (the app's model lock), so others can use the model in between.
        segment_len: this document's (None: the model's own); answers read it from the state."""
        started = time.perf_counter()
        total = max(len(text), 1)
        reader = self.reader_for(segment_len)
        state = reader.new_state()
        for start in range(0, len(text), piece):
            with lock or contextlib.nullcontext():
                reader.feed(state, text[start:start + piece])
            if progress:
                progress(min(1.0, (start + piece) / total), f"{state.extra.get('segments', 0)} segments written")
        return InfiniHandle(state, time.perf_counter() - started)

    def ingest_many(self, texts: list[str]) -> list[InfiniHandle]:
        """Several documents at once, one batch per segment step (InfiniReader.ingest_many): what a GPU
        needs to be busy. Each handle's ingest_s is the whole batch's time (when that document was ready)."""
        started = time.perf_counter()
        states = self.reader.ingest_many(texts)
        elapsed = time.perf_counter() - started
        return [InfiniHandle(state, elapsed) for state in states]

    def answer(self, handle: InfiniHandle, question: str, max_new_tokens: int = 64, answer_prefix: str = "",
               **_) -> Generator[str, None, AnswerResult]:
        stream = self.reader_for(handle.state.segment_len).stream_answer(handle.state, question, max_new_tokens, answer_prefix)
        answer = yield from stream
        state = handle.state
        return AnswerResult(
            text=answer.text, pipeline=self.name, ingest_s=handle.ingest_s,
            time_to_first_token_s=answer.time_to_first_token_s, total_s=answer.total_s,
            tokens_processed=state.tokens_seen + answer.prompt_tokens - len(state.tail),
            tokens_generated=answer.tokens_generated, state_bytes=state.nbytes(), confidence=answer.confidence,
        )
