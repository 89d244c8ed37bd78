"""python -m rag ingest FILE | python -m rag ask FILE "question" [--top-k K]"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from core.documents import InputError, check_question, read_document
from core.loading import ModelLoadError

from .chunking import ChunkSettings
from .pipeline import DEFAULT_TOP_K, RagPipeline


def ingest_with_bar(pipeline: RagPipeline, text: str):
    with tqdm(total=100, desc="index", unit="%") as bar:
        return pipeline.ingest(text, lambda done, msg: (bar.update(round(done * 100) - bar.n), bar.set_postfix_str(msg)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Retrieval (FAISS) over a document.")
    parser.add_argument("--model", help="base model: Hugging Face checkpoint folder or .gguf")
    parser.add_argument("--chunk-tokens", type=int, default=ChunkSettings.chunk_tokens)
    parser.add_argument("--overlap-tokens", type=int, default=ChunkSettings.overlap_tokens)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="chunk, embed and index FILE into the cache")
    p.add_argument("file")
    p = sub.add_parser("ask", help="answer a question about FILE (indexed on the fly, or from the cache)")
    p.add_argument("file")
    p.add_argument("question")
    p.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    p.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        text = read_document(args.file)
        if args.command == "ask":
            args.question = check_question(args.question)
    except InputError as exc:
        raise SystemExit(f"error: {exc}") from None
    try:
        pipeline = RagPipeline.load(args.model, settings=ChunkSettings(args.chunk_tokens, args.overlap_tokens))
    except (ModelLoadError, RuntimeError) as exc:
        raise SystemExit(f"error: {exc}") from None
    handle = ingest_with_bar(pipeline, text)
    index = handle.index
    if args.command == "ingest":
        print(f"{len(index.chunks)} chunks, {index.kind} index, {index.nbytes():,} bytes"
              + (" (from cache)" if index.from_cache else f", built in {handle.ingest_s:.1f} s"))
        return
    stream = pipeline.answer(handle, args.question, args.max_new_tokens, top_k=args.top_k)
    while True:
        try:
            print(next(stream), end="", flush=True)
        except StopIteration as done:
            result = done.value
            break
    print("\n\nSources:")
    for source in result.sources:
        snippet = " ".join(source["text"].split())[:100]
        print(f"  #{source['rank']} score {source['score']:.3f} chars {source['start']}-{source['end']}: {snippet}")


if __name__ == "__main__":
    main()
