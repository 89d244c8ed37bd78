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
from typing import Callable, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1


class LayerMemory(NamedTuple):
    """One layer's memory after some segments: what the next segment reads and continues from."""

    M: torch.Tensor  # (B, G, d, d) float32: the associative matrix (Eq. 8/9; deltanet: attention.deltanet_update)
    z: torch.Tensor  # (B, G, d) float32: the normalisation term (Eq. 7-9; the deltanet variant keeps it at 0)
    # With key_conv (attention.causal_conv) only, else None: the memory branch's last K-1 query and key inputs
    q_tail: torch.Tensor | None = None  # (B, Hq, K-1, d)
    k_tail: torch.Tensor | None = None  # (B, G, K-1, d)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "LayerMemory":
        """fn applied to every tensor held (a copy, a device move, a selection of rows)."""
        return LayerMemory(*(None if t is None else fn(t) for t in self))

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors held, by name (the tails only with key_conv)."""
        return {name: t for name, t in zip(self._fields, self) if t is not None}


class StateFileError(ValueError):
    """A state file that is missing, corrupt, or made by a different model."""


@dataclass
class MemoryState:
    memory: list[LayerMemory]  # one per layer, batch 1 (InfiniModel.empty_memory)
    tail: list[int]  # tokens of the last, partial segment (not yet written to memory)
    pending_text: str  # text received but not yet tokenized (it may still join the next piece)
    tokens_seen: int  # tokens written to memory plus the tail
    segment_len: int
    fingerprint: str
    chars_seen: int = 0
    extra: dict = field(default_factory=dict)

    def clone(self) -> "MemoryState":
        return MemoryState(
            memory=[entry.map(torch.clone) for entry in self.memory],
            tail=list(self.tail), pending_text=self.pending_text, tokens_seen=self.tokens_seen,
            segment_len=self.segment_len, fingerprint=self.fingerprint, chars_seen=self.chars_seen,
            extra=dict(self.extra),
        )

    def memory_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for entry in self.memory for t in entry.tensors().values())

    def nbytes(self) -> int:
        """Bytes held: memory tensors plus the partial segment (4 bytes per token) and pending text."""
        return self.memory_bytes() + 4 * len(self.tail) + len(self.pending_text.encode())

    # ---- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Atomic write: a crash never leaves a half-written file in place of a good one."""
        path = Path(path)
        tensors = {}
        for i, entry in enumerate(self.memory):
            for name, tensor in entry.tensors().items():
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
                names = ["M", "z"]
                if f"layer{i}.q_tail" in tensors or f"layer{i}.k_tail" in tensors:  # key_conv
                    names += ["q_tail", "k_tail"]
                memory.append(LayerMemory(*(tensors[f"layer{i}.{name}"] for name in names)))  # KeyError: one is missing
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
