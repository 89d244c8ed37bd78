"""A langchain-core retriever over a DocumentIndex."""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class FaissRetriever(BaseRetriever):
    """Top-k chunks by cosine similarity; metadata holds score, rank, chunk id and character offsets."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    document_index: Any
    embeddings: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        vector = self.embeddings.embed_array([query])[0]
        return [
            Document(page_content=chunk.text, metadata={"score": score, "rank": rank, "chunk_id": chunk.id,
                                                        "start": chunk.start, "end": chunk.end})
            for rank, (chunk, score) in enumerate(self.document_index.search(vector, self.k), start=1)
        ]
