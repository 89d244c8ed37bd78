import random

import numpy as np
import pytest
from langchain_core.documents import Document

from core.contract import collect
from eval.tasks import TokenCounter, make_passkey
from rag.chunking import ChunkSettings, split_document
from rag.index import IndexCache, build_faiss, index_document
from rag.reader import RagReader


@pytest.fixture(scope="module")
def embeddings():
    from rag.embeddings import MiniLMEmbeddings

    return MiniLMEmbeddings()


def test_chunks_are_exact_substrings_that_cover_the_text(embeddings, language_reference):
    text = language_reference[:60_000]
    chunks = split_document(text, embeddings.tokenizer, ChunkSettings(100, 20))
    assert len(chunks) > 50
    covered = np.zeros(len(text), dtype=bool)
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        covered[chunk.start:chunk.end] = True
    assert all(text[i].isspace() for i in np.flatnonzero(~covered))
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_needle_is_top1_for_a_paraphrased_question(embeddings, language_reference, tmp_path):
    text = language_reference[:150_000]
    cut = text.find(". ", 80_000) + 2
    needle = "The lighthouse keeper hid the spare boat key under the blue flowerpot."
    document = text[:cut] + needle + " " + text[cut:]
    index = index_document(document, embeddings, ChunkSettings(100, 20), IndexCache(tmp_path))
    hits = index.search(embeddings.embed_array(["Where was the extra key for the boat concealed?"])[0], 3)
    assert needle in hits[0][0].text


def test_cache_hit_embeds_nothing_and_settings_change_misses(embeddings, language_reference, tmp_path):
    text, cache = language_reference[:20_000], IndexCache(tmp_path)
    first = index_document(text, embeddings, ChunkSettings(100, 20), cache)
    before = embeddings.texts_embedded
    second = index_document(text, embeddings, ChunkSettings(100, 20), cache)
    assert embeddings.texts_embedded == before and second.from_cache and not first.from_cache
    assert [c.text for c in second.chunks] == [c.text for c in first.chunks]
    third = index_document(text, embeddings, ChunkSettings(150, 20), cache)
    assert not third.from_cache and embeddings.texts_embedded > before


def test_truncated_index_file_is_rebuilt_not_served(embeddings, language_reference, tmp_path):
    text, cache = language_reference[:20_000], IndexCache(tmp_path)
    index_document(text, embeddings, ChunkSettings(100, 20), cache)
    (index_file,) = tmp_path.glob("*/index.faiss")
    index_file.write_bytes(index_file.read_bytes()[:100])
    before = embeddings.texts_embedded
    rebuilt = index_document(text, embeddings, ChunkSettings(100, 20), cache)
    assert not rebuilt.from_cache and embeddings.texts_embedded > before
    assert index_document(text, embeddings, ChunkSettings(100, 20), cache).from_cache  # the repaired entry


def test_flat_and_hnsw_agree_on_top1():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(3000, 50, replace=False)] + 0.05 * rng.normal(size=(50, 384)).astype(np.float32)
    flat, hnsw = build_faiss(vectors, "flat"), build_faiss(vectors, "hnsw")
    agree = (flat.search(queries, 1)[1] == hnsw.search(queries, 1)[1]).mean()
    assert agree >= 0.98


def test_prompt_fits_the_window_with_50_chunks_and_keeps_the_question(tokenizer, language_reference):
    class Config:
        max_position_embeddings = 8192

    class FakeLM:  # render/fit only need the config and the tokenizer
        config = Config()

        def eval(self):
            return self

        def forward(self, input_ids, cache=None):
            raise AssertionError("not called")

    reader = RagReader(FakeLM(), tokenizer)
    chunks = [Document(page_content=language_reference[i * 1000:(i + 1) * 1000],
                       metadata={"rank": i + 1, "start": i * 1000, "end": (i + 1) * 1000}) for i in range(50)]
    question = "Which statement raises AssertionError when its expression is false?"
    ids, kept = reader.fit_prompt(chunks, question, max_new_tokens=64)
    assert len(ids) + 64 <= 8192 and 0 < len(kept) < 50
    assert [d.metadata["rank"] for d in kept] == list(range(1, len(kept) + 1))  # the best ones stay
    assert question in tokenizer.decode(ids)


@pytest.mark.slow
def test_real_model_answers_passkey_over_20k_tokens(smollm, tmp_path):
    import copy

    from rag.pipeline import RagPipeline

    lm, tokenizer = smollm
    pipeline = RagPipeline.load(base=(copy.deepcopy(lm), tokenizer), cache=IndexCache(tmp_path))
    case = make_passkey(TokenCounter(tokenizer), 20_000, 40, random.Random(11))
    handle = pipeline.ingest(case.document)
    result = collect(pipeline.answer(handle, case.question, max_new_tokens=12, answer_prefix=case.answer_prefix))
    assert case.answers[0] in result.text
    assert any(case.answers[0] in s["text"] for s in result.sources)
    assert result.sources[0]["rank"] == 1 and result.state_bytes > 0
