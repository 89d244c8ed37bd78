"""Streaming ingestion of a document of any length into a MemoryState, and answering from it.

The document sits inside one chat user turn: the turn's opening is the first text ingested, and
the question with the turn's end and the assistant's opening is appended at answer time. Text
may arrive in pieces cut anywhere: it is tokenized only up to a point where byte-level BPE
cannot merge across (a single space between two non-space characters), so the tokens, and so
the state, are the same however the text was split.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from core.decoding import Answer, greedy_pieces, stop_ids_of

from .memory_state import LayerMemory, MemoryState, StateFileError
from .model import InfiniModel

DOCUMENT_PLACEHOLDER = "\x00DOCUMENT\x00"
MAX_PENDING_CHARS = 20_000  # text with no safe cut point (e.g. one giant "word") is cut here anyway
# Tokens per pass over the layers in ingestion (segments x documents x segment length): bounds the activations
# (about 7 MB per 1K tokens for SmolLM2-135M in float32) and so peak memory, whatever the document's length.
# 1,024 was the fastest on 2 AVX2 cores (8 segments of 128: 545 tokens/s, 16: 525, 32: 455, 4: 460): wider
# passes spill the MLP's activations out of cache.
PASS_TOKENS = 1024

ProgressCallback = Callable[[int, int], None]  # (segments written so far, tokens seen so far)


def last_safe_cut(text: str) -> int:
    """Index of the last single space between two non-space characters, or 0 if none."""
    for p in range(len(text) - 2, 0, -1):
        if text[p] == " " and not text[p - 1].isspace() and not text[p + 1].isspace():
            return p
    return 0


def chat_turn(tokenizer) -> tuple[str, str]:
    """The text the chat template puts before and after a user message (the document goes between)."""
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": DOCUMENT_PLACEHOLDER}], tokenize=False, add_generation_prompt=True
    )
    turn_open, turn_close = prompt.split(DOCUMENT_PLACEHOLDER)
    return turn_open, turn_close


class InfiniReader:
    """Ingests documents into MemoryStates and answers questions from them, greedily."""

    def __init__(self, model: InfiniModel, tokenizer, use_memory: bool = True, segments_per_pass: int | None = None,
                 segment_len: int | None = None):
        self.model = model
        # Readers with other segment lengths share one model (InfiniPipeline.reader_for): the length is the
        # reader's, never written into the shared model's config.
        self._segment_len = segment_len
        # Segments of a document per pass over the layers in ingestion (None: as many as PASS_TOKENS allows;
        # 1: segment by segment). The memory is the same either way, up to floating-point order.
        self.segments_per_pass = segments_per_pass
        self.tokenizer = tokenizer
        self.use_memory = use_memory
        self.turn_open, self.turn_close = chat_turn(tokenizer)
        self.stop_ids = stop_ids_of(tokenizer)
        self._fingerprint = None

    @property
    def segment_len(self) -> int:
        return self._segment_len or self.model.config.segment_len

    @property
    def device(self):
        return self.model.lm.device

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.model.fingerprint()
        return self._fingerprint

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # ---- ingestion --------------------------------------------------------------------------
    def new_state(self) -> MemoryState:
        return MemoryState(
            memory=[entry.map(torch.Tensor.cpu) for entry in self.model.empty_memory(1, device=self.device)],
            tail=self.encode(self.turn_open), pending_text="", tokens_seen=0,
            segment_len=self.segment_len, fingerprint=self.fingerprint(),
        )

    def check_state(self, state: MemoryState) -> None:
        if state.fingerprint != self.fingerprint() or state.segment_len != self.segment_len:
            raise StateFileError(
                "This memory state was made by a different model or segment length; ingest the document again."
            )

    def window(self, documents: int) -> int:
        """Segments per document per pass over the layers: segments_per_pass, or as many as fit in PASS_TOKENS."""
        if self.segments_per_pass:
            return self.segments_per_pass
        return max(1, PASS_TOKENS // (self.segment_len * documents))

    @torch.no_grad()
    def _write_segments(self, states: list[MemoryState], progress: ProgressCallback | None = None) -> None:
        """Write every full segment of each state's tail into its memory; keep the remainders as tails.

        Each pass over the layers takes a window of consecutive segments of every state with segments left
        (InfiniModel.write_segments), one batch row per segment; a state drops out of the batch when its
        full segments run out. The same memories as writing segment by segment, in fewer, wider products.
        """
        N, device = self.segment_len, self.device
        counts = [len(state.tail) // N for state in states]
        rows = [i for i, count in enumerate(counts) if count]  # which state each batch row belongs to
        if not rows:
            return
        memory = [LayerMemory(*(None if parts[0] is None else torch.cat(parts).to(device) for parts in zip(*layer)))
                  for layer in zip(*(states[i].memory for i in rows))]  # per layer, each state's (1, ...) -> (B, ...)
        written, before, finished = 0, sum(state.extra.get("segments", 0) for state in states), {}
        tokens_seen = sum(state.tokens_seen for state in states)
        done = 0  # segments of each remaining state written so far
        while rows:
            W = min(self.window(len(rows)), min(counts[i] for i in rows) - done)
            ids = [states[i].tail[done * N:(done + W) * N] for i in rows]
            _, memory = self.model.write_segments(torch.tensor(ids, device=device).view(len(rows), W, N), memory)
            written += W * len(rows)
            done += W
            if progress:
                progress(before + written, tokens_seen)
            keep = [row for row, i in enumerate(rows) if counts[i] > done]
            if len(keep) < len(rows):  # some states have no full segment left: take their rows out
                finished.update(self._rows(rows, memory, [row for row in range(len(rows)) if row not in keep]))
                index = torch.tensor(keep, device=device, dtype=torch.long)
                memory = [entry.map(lambda t: t.index_select(0, index)) for entry in memory]
                rows = [rows[row] for row in keep]
        # Only now does any state change (memory, tail and count together): an interrupted write leaves them as they were.
        for i, state_memory in finished.items():
            states[i].memory = state_memory
            states[i].tail = states[i].tail[counts[i] * N:]
            states[i].extra["segments"] = states[i].extra.get("segments", 0) + counts[i]

    @staticmethod
    def _rows(rows: list[int], memory, which) -> dict:
        """{state index: its memory} for the given batch rows, each row back to batch size 1, on the CPU."""
        return {rows[row]: [entry.map(lambda t: t[row:row + 1].cpu()) for entry in memory] for row in which}

    def _append_text(self, state: MemoryState, text: str) -> None:
        """Tokenize what can be tokenized for good (up to the last safe cut) onto the tail."""
        buffer = state.pending_text + text
        cut = last_safe_cut(buffer)
        if cut == 0 and len(buffer) > MAX_PENDING_CHARS:
            cut = len(buffer)
        if cut:
            ids = self.encode(buffer[:cut])
            state.tail.extend(ids)
            state.tokens_seen += len(ids)
            buffer = buffer[cut:]
        state.pending_text = buffer
        state.chars_seen += len(text)

    def feed(self, state: MemoryState, text: str, progress: ProgressCallback | None = None) -> MemoryState:
        """Stream one more piece of the document into `state` (in place) and return it."""
        self.check_state(state)
        self._append_text(state, text)
        self._write_segments([state], progress)
        return state

    def feed_ids(self, state: MemoryState, ids: list[int], progress: ProgressCallback | None = None) -> MemoryState:
        """Stream token ids (already tokenized with this reader's tokenizer) into `state` (in place) and return it:
        for documents made as tokens, such as training samples (research/training_answers.py). A new state
        already holds the chat turn's opening (new_state), so the ids are what follows it."""
        self.check_state(state)
        if state.pending_text:  # ids after untokenized text would land before it
            raise ValueError("feed_ids: the state holds text not yet tokenized; feed it the rest of that text first")
        state.tail.extend(ids)
        state.tokens_seen += len(ids)
        self._write_segments([state], progress)
        return state

    def ingest(self, text: str, progress: ProgressCallback | None = None, piece_chars: int = 200_000) -> MemoryState:
        return self.ingest_many([text], progress, piece_chars)[0]

    def ingest_many(self, texts: list[str], progress: ProgressCallback | None = None,
                    piece_chars: int = 200_000) -> list[MemoryState]:
        """Ingest several documents together, each segment step one batch: the states ingest(text) gives
        for each. Worth it where one 128-token segment leaves the device idle (a GPU); progress counts
        the segments written over all documents."""
        states = [self.new_state() for _ in texts]
        for start in range(0, max(map(len, texts), default=0), piece_chars):
            for state, text in zip(states, texts):
                if start < len(text):
                    self._append_text(state, text[start:start + piece_chars])
            self._write_segments(states, progress)
        return states

    # ---- answering --------------------------------------------------------------------------
    def final_tokens(self, state: MemoryState, question: str, answer_prefix: str = "") -> list[int]:
        """The last segment: the document's tail, the pending text, the question, the turn's end, a reply prefix."""
        return state.tail + self.encode(state.pending_text + "\n\n" + question.strip() + self.turn_close + answer_prefix)

    @torch.no_grad()
    def stream_answer(self, state: MemoryState, question: str, max_new_tokens: int = 64,
                      answer_prefix: str = "") -> Iterator[str]:
        """Yield the answer's text piece by piece; returns an Answer (StopIteration.value). `state` is not mutated."""
        self.check_state(state)
        started = time.perf_counter()
        memory = None
        if self.use_memory:
            memory = [entry.map(lambda t: t.to(self.device)) for entry in state.memory]
        prompt = self.final_tokens(state, question, answer_prefix)
        local_kv: list = []
        hidden, _ = self.model.segment_hidden(torch.tensor([prompt], device=self.device), memory, write=False, local_kv=local_kv)

        fed = 0  # generated tokens fed back so far: the next one sits at position len(prompt) + fed

        def advance(token_id: int) -> torch.Tensor:
            nonlocal fed
            hidden, _ = self.model.segment_hidden(
                torch.tensor([[token_id]], device=self.device), memory, write=False,
                position_offset=len(prompt) + fed, local_kv=local_kv,
            )
            fed += 1
            return self.model.logits(hidden[0, -1])

        detokenizer, first_token_s, confidence = yield from greedy_pieces(
            self.model.logits(hidden[0, -1]), advance, self.tokenizer, self.stop_ids, max_new_tokens, started)
        return Answer(
            text=detokenizer.text, tokens_generated=len(detokenizer.ids), prompt_tokens=len(prompt),
            time_to_first_token_s=first_token_s, total_s=time.perf_counter() - started, confidence=confidence,
        )
