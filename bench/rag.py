"""RAG ingestion and retrieval costs.

    python bench/rag.py [--lengths 100k,1m] [--queries 20]

For each length (in base-model tokens of Python's Language Reference, repeated as needed):
chunk + embed + index time, embedding throughput, index size, retrieval latency (embed the query
and search), and the time of a second ingest of the same text (a cache hit). Prints a table.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.runner import parse_length  # noqa: E402
from eval.tasks import language_reference  # noqa: E402
from core.loading import load_tokenizer  # noqa: E402
from rag.chunking import ChunkSettings  # noqa: E402
from rag.embeddings import MiniLMEmbeddings  # noqa: E402
from rag.index import IndexCache, index_document  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--lengths", default="100k,1m")
parser.add_argument("--queries", type=int, default=20)
args = parser.parse_args()

base_tokenizer = load_tokenizer()
embeddings = MiniLMEmbeddings()
reference = language_reference()
questions = ["What does the assert statement do?", "How are default argument values evaluated?",
             "What is a generator expression?", "When is __del__ called?"]
settings = ChunkSettings()
print(f"Chunks of {settings.chunk_tokens} embedding tokens, overlap {settings.overlap_tokens}\n")
print("| base tokens | chunks | index | ingest s | embedding tokens/s (incl. chunking) | index bytes | retrieval ms (median) | cache-hit ingest s |")
print("|---|---|---|---|---|---|---|---|")
for length in [parse_length(x) for x in args.lengths.split(",")]:
    text = "\n\n".join([reference] * (length * 5 // len(reference) + 1))
    ids = base_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    text = text[: ids[min(length, len(ids)) - 1][1]]
    with tempfile.TemporaryDirectory() as folder:
        cache = IndexCache(folder)
        started = time.perf_counter()
        index = index_document(text, embeddings, settings, cache)
        ingest_s = time.perf_counter() - started
        embedded_tokens = sum(len(embeddings.tokenizer(c.text, add_special_tokens=False)["input_ids"]) for c in index.chunks)
        latencies = []
        for i in range(args.queries):
            started = time.perf_counter()
            index.search(embeddings.embed_array([questions[i % len(questions)]])[0], 3)
            latencies.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        assert index_document(text, embeddings, settings, cache).from_cache
        hit_s = time.perf_counter() - started
    print(f"| {length:,} | {len(index.chunks):,} | {index.kind} | {ingest_s:.1f} | {embedded_tokens / ingest_s:,.0f} | "
          f"{index.nbytes():,} | {statistics.median(latencies):.1f} | {hit_s:.2f} |", flush=True)
