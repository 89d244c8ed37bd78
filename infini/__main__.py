"""python -m infini ingest FILE --out STATE | python -m infini ask STATE "question" | python -m infini demo"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from core.documents import InputError, check_question, read_document
from core.loading import ModelLoadError

from .memory_state import MemoryState, StateFileError

def load_pipeline(args):
    from .adapter import adapter_option
    from .pipeline import InfiniPipeline

    return InfiniPipeline.load(model=args.model, adapter=adapter_option(args.adapter), segment_len=args.segment_len)


def ingest(args) -> None:
    text = read_document(args.file)
    pipeline = load_pipeline(args)
    reader = pipeline.reader
    state = reader.new_state()
    with tqdm(total=len(text), unit="char", unit_scale=True, desc="ingest") as bar:
        for start in range(0, len(text), 20_000):
            piece = text[start:start + 20_000]
            reader.feed(state, piece, lambda segments, tokens: bar.set_postfix(segments=segments, tokens=tokens))
            bar.update(len(piece))
    state.save(args.out)
    print(f"{state.tokens_seen} tokens, {state.extra.get('segments', 0)} segments of {state.segment_len}; "
          f"state {state.nbytes():,} bytes -> {args.out}")


def ask(args) -> None:
    question = check_question(args.question)
    pipeline = load_pipeline(args)
    state = MemoryState.load(args.state, expected_fingerprint=pipeline.reader.fingerprint())
    stream = pipeline.reader.stream_answer(state, question, args.max_new_tokens)
    for piece in stream:
        print(piece, end="", flush=True)
    print()


def demo(args) -> None:
    """Ingest the Language Reference and answer one question about it."""
    from core.documents import language_reference

    pipeline = load_pipeline(args)
    text = language_reference()[: args.chars]
    with tqdm(total=1.0, desc="ingest", bar_format="{l_bar}{bar}| {postfix}") as bar:
        handle = pipeline.ingest(text, lambda done, msg: (bar.update(done - bar.n), bar.set_postfix_str(msg)))
    question = "What does the assert statement do?"
    print(f"Q: {question}\nA: ", end="")
    for piece in pipeline.answer(handle, question, max_new_tokens=args.max_new_tokens):
        print(piece, end="", flush=True)
    print()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infini", description="Infini-attention memory over long documents.")
    parser.add_argument("--model", help="base model: Hugging Face checkpoint folder or .gguf (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--adapter", default="default", help="trained gates/adapters ('none': untrained conversion)")
    parser.add_argument("--segment-len", type=int)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="stream FILE into a memory state saved at --out")
    p.add_argument("file")
    p.add_argument("--out", required=True)
    p = sub.add_parser("ask", help="answer a question from a saved memory state")
    p.add_argument("state")
    p.add_argument("question")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p = sub.add_parser("demo", help="ingest part of Python's Language Reference and answer a question")
    p.add_argument("--chars", type=int, default=20_000)
    p.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        {"ingest": ingest, "ask": ask, "demo": demo}[args.command](args)
    except (ModelLoadError, StateFileError, InputError) as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
