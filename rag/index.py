"""FAISS index over chunk embeddings, cached on disk by document hash, chunking settings and model.

An entry is a folder holding `index.faiss` (faiss.write_index) and `meta.json` (chunks, offsets,
settings and the index file's SHA-256). It is written in a staging folder and renamed into place,
so a crash never leaves half an entry; an entry whose files do not match its checksum is rebuilt,
never served. No pickle anywhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from core.loading import cache_root

from .chunking import Chunk, ChunkSettings, split_document

HNSW_THRESHOLD = 50_000  # chunks; below it exact search (IndexFlatIP) takes milliseconds
HNSW_NEIGHBOURS = 32
INDEX_FORMAT = 1


@dataclass
class DocumentIndex:
    index: faiss.Index
    chunks: list[Chunk]
    settings: ChunkSettings
    embedding_model: str
    kind: str
    from_cache: bool = False

    def nbytes(self) -> int:
        return int(faiss.serialize_index(self.index).nbytes)

    def search(self, query_vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        scores, ids = self.index.search(query_vector.reshape(1, -1).astype(np.float32), k)
        return [(self.chunks[i], float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def build_faiss(vectors: np.ndarray, kind: str | None = None) -> faiss.Index:
    """Inner product on unit vectors (cosine). kind: 'flat', 'hnsw' or None (by HNSW_THRESHOLD)."""
    kind = kind or ("hnsw" if len(vectors) > HNSW_THRESHOLD else "flat")
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def cache_key(text: str, settings: ChunkSettings, embedding_model: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    config = json.dumps({"doc": digest, "chunks": settings.as_dict(), "model": embedding_model, "format": INDEX_FORMAT},
                        sort_keys=True)
    return hashlib.sha256(config.encode()).hexdigest()[:40]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class IndexCache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else cache_root() / "rag"

    def load(self, key: str) -> DocumentIndex | None:
        """The cached entry, or None when it is missing or fails its checks (then it is rebuilt)."""
        folder = self.root / key
        try:
            meta = json.loads((folder / "meta.json").read_text())
            index_path = folder / "index.faiss"
            if meta.get("format") != INDEX_FORMAT or _sha256_file(index_path) != meta["index_sha256"]:
                return None
            index = faiss.read_index(str(index_path))
            chunks = [Chunk(**c) for c in meta["chunks"]]
            if index.ntotal != len(chunks):
                return None
            return DocumentIndex(index, chunks, ChunkSettings(**meta["settings"]), meta["embedding_model"],
                                 meta["kind"], from_cache=True)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None

    def store(self, key: str, entry: DocumentIndex) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        try:
            faiss.write_index(entry.index, str(staging / "index.faiss"))
            meta = {
                "format": INDEX_FORMAT, "kind": entry.kind, "embedding_model": entry.embedding_model,
                "settings": entry.settings.as_dict(), "index_sha256": _sha256_file(staging / "index.faiss"),
                "chunks": [asdict(c) for c in entry.chunks],
            }
            (staging / "meta.json").write_text(json.dumps(meta))
            target = self.root / key
            if target.exists():  # a corrupt entry being replaced
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def index_document(text: str, embeddings, settings: ChunkSettings, cache: IndexCache | None,
                   progress: Callable[[int, int], None] | None = None, kind: str | None = None) -> DocumentIndex:
    """Chunk, embed and index `text`, or take it from the cache (then nothing is embedded)."""
    key = cache_key(text, settings, embeddings.name)
    if cache is not None:
        cached = cache.load(key)
        if cached is not None:
            return cached
    chunks = split_document(text, embeddings.tokenizer, settings)
    if not chunks:
        raise ValueError("the document has no text to index")
    vectors = embeddings.embed_array([c.text for c in chunks], progress)
    index = build_faiss(vectors, kind)
    entry = DocumentIndex(index, chunks, settings, embeddings.name, "hnsw" if isinstance(index, faiss.IndexHNSWFlat) else "flat")
    if cache is not None:
        cache.store(key, entry)
    return entry
