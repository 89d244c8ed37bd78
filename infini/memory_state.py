"""MemoryState: everything a document leaves behind after streaming ingestion.

Its size is fixed by the model (layers x KV heads x d x (d + 1) float32 numbers) plus at most
one partial segment of tokens, whatever the document's length. Saved as safetensors with the
scalar fields as JSON metadata; no pickle.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1
ENTRY_NAMES = ("M", "z", "q_tail", "k_tail")  # a layer's memory tensors, in order; the tails only with key_conv


class StateFileError(ValueError):
    """A state file that is missing, corrupt, or made by a different model."""


@dataclass
class MemoryState:
    memory: list  # per layer (M (1, G, d, d), z (1, G, d)) float32, with key_conv also two tails (InfiniModel.empty_memory)
    tail: list[int]  # tokens of the last, partial segment (not yet written to memory)
    pending_text: str  # text received but not yet tokenized (it may still join the next piece)
    tokens_seen: int  # tokens written to memory plus the tail
    segment_len: int
    fingerprint: str
    chars_seen: int = 0
    extra: dict = field(default_factory=dict)

    def clone(self) -> "MemoryState":
        return MemoryState(
            memory=[tuple(t.clone() for t in entry) for entry in self.memory],
            tail=list(self.tail), pending_text=self.pending_text, tokens_seen=self.tokens_seen,
            segment_len=self.segment_len, fingerprint=self.fingerprint, chars_seen=self.chars_seen,
            extra=dict(self.extra),
        )

    def memory_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for entry in self.memory for t in entry)

    def nbytes(self) -> int:
        """Bytes held: memory tensors plus the partial segment (4 bytes per token) and pending text."""
        return self.memory_bytes() + 4 * len(self.tail) + len(self.pending_text.encode())

    # ---- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Atomic write: a crash never leaves a half-written file in place of a good one."""
        path = Path(path)
        tensors = {}
        for i, entry in enumerate(self.memory):
            for name, tensor in zip(ENTRY_NAMES, entry):
                tensors[f"layer{i}.{name}"] = tensor.detach().float().cpu().contiguous()
        tensors["tail"] = torch.tensor(self.tail, dtype=torch.int64)
        metadata = {
            "format_version": str(FORMAT_VERSION),
            "num_layers": str(len(self.memory)),
            "pending_text": self.pending_text,
            "tokens_seen": str(self.tokens_seen),
            "chars_seen": str(self.chars_seen),
            "segment_len": str(self.segment_len),
            "fingerprint": self.fingerprint,
            "extra": json.dumps(self.extra),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata=metadata)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, expected_fingerprint: str | None = None) -> "MemoryState":
        path = Path(path)
        if not path.is_file():
            raise StateFileError(f"No memory state file at {path}")
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
            tensors = load_file(str(path))
            num_layers = int(metadata["num_layers"])
            memory = []
            for i in range(num_layers):
                names = ENTRY_NAMES if f"layer{i}.q_tail" in tensors or f"layer{i}.k_tail" in tensors else ENTRY_NAMES[:2]
                memory.append(tuple(tensors[f"layer{i}.{name}"] for name in names))  # KeyError: a tensor is missing
            state = cls(
                memory=memory, tail=tensors["tail"].tolist(), pending_text=metadata["pending_text"],
                tokens_seen=int(metadata["tokens_seen"]), segment_len=int(metadata["segment_len"]),
                fingerprint=metadata["fingerprint"], chars_seen=int(metadata.get("chars_seen", 0)),
                extra=json.loads(metadata.get("extra", "{}")),
            )
        except (SafetensorError, KeyError, ValueError, OSError, RuntimeError) as exc:
            raise StateFileError(
                f"{path} is not a valid memory state file (corrupt or truncated: {exc}). Ingest the document again."
            ) from exc
        if expected_fingerprint is not None and state.fingerprint != expected_fingerprint:
            raise StateFileError(
                f"{path} was made by a different model or settings (fingerprint {state.fingerprint}, "
                f"this model {expected_fingerprint}). Ingest the document again with this model."
            )
        return state
