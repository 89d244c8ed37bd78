"""Split a document into token-measured chunks that keep exact character offsets."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter


@dataclass(frozen=True)
class ChunkSettings:
    chunk_tokens: int = 100  # in the embedding model's tokens; chosen by bench/rag_settings.py (README)
    overlap_tokens: int = 20

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Chunk:
    id: int
    text: str
    start: int  # text == document[start:end]
    end: int


def split_document(text: str, tokenizer, settings: ChunkSettings) -> list[Chunk]:
    if settings.overlap_tokens >= settings.chunk_tokens:
        raise ValueError("chunk overlap must be smaller than the chunk size")
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        tokenizer, chunk_size=settings.chunk_tokens, chunk_overlap=settings.overlap_tokens,
    )
    # Offsets are found here rather than with add_start_index: langchain moves its search start by
    # the overlap as if it were characters, which loses chunks when lengths are counted in tokens.
    chunks, search_from = [], 0
    for piece in splitter.split_text(text):
        start = text.find(piece, search_from)
        if start < 0:
            raise ValueError("a chunk is not a substring of the document; the splitter changed the text")
        chunks.append(Chunk(len(chunks), piece, start, start + len(piece)))
        search_from = start + 1
    return chunks
