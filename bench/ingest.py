"""Infini ingestion speed: every path against the plain forward pass, on the same text, in one run.

    python bench/ingest.py [--tokens 113k] [--rss-lengths 8k,256k] [--adapter default] [--device cpu]

Rows (each in a fresh process, so each has its own peak RSS):
  plain        the base model's forward pass over 512-token windows, float32: the baseline, ratio 1.00
  sequential   Infini ingestion one segment at a time (InfiniReader(segments_per_pass=1)), float32
  parallel     Infini ingestion, many segments per pass over the layers (InfiniModel.write_segments), float32
  bf16, int8   the parallel path with bfloat16 weights, or int8 dynamically quantised linear layers (CPU)
The text is the default document (Python's Language Reference), cut to --tokens. "state error" is the
largest relative error of any layer's memory M against the sequential float32 state (the reference).
A second table streams 8K and 256K tokens through the parallel path: peak RSS must not grow with length.
Prints markdown; writes nothing but temporary state files.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from eval.runner import parse_length  # noqa: E402
from eval.tasks import language_reference  # noqa: E402
from infini.adapter import adapter_option  # noqa: E402
from core.loading import load_base_model  # noqa: E402
from infini.memory_state import MemoryState  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402

PLAIN_WINDOW = 512
ROWS = {  # name: (weights dtype, int8, segments per pass), the parallel ones at the reader's default window
    "sequential": ("float32", False, 1),
    "parallel": ("float32", False, None),
    "bf16": ("bfloat16", False, None),
    "int8": ("float32", True, None),
}
LABELS = {
    "plain": f"plain forward, fp32, {PLAIN_WINDOW}-token windows",
    "sequential": "Infini, segment by segment, fp32 (before)",
    "parallel": "Infini, segment-parallel, fp32 (default)",
    "bf16": "Infini, segment-parallel, bf16 weights",
    "int8": "Infini, segment-parallel, int8 linear layers",
}


def document(tokens: int) -> str:
    """The default document, repeated if more tokens are asked for than it has (about 113K)."""
    text = language_reference()
    return "\n\n".join([text] * (tokens * 6 // len(text) + 1))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(row: str, tokens: int, adapter: str | None, device: str, state_path: str | None) -> dict:
    dtype, int8, per_pass = ROWS.get(row, ("float32", False, 1))
    base = load_base_model(None, dtype=getattr(torch, dtype), device=device)
    pipeline = InfiniPipeline.load(adapter=adapter, device=device, base=base, segments_per_pass=per_pass, int8=int8)
    reader = pipeline.reader
    ids = reader.encode(document(tokens))[:tokens]
    text = reader.tokenizer.decode(ids)
    if row == "plain":
        windows = torch.tensor(ids[: len(ids) // PLAIN_WINDOW * PLAIN_WINDOW], device=device).view(-1, 1, PLAIN_WINDOW)
        with torch.no_grad():
            reader.model.segment_hidden(windows[0], None)  # warm-up
            started = time.perf_counter()
            for window in windows:
                reader.model.segment_hidden(window, None)
        seconds, count = time.perf_counter() - started, windows.numel()
    else:
        reader.ingest(text[:20_000])  # warm-up
        started = time.perf_counter()
        state = reader.ingest(text)
        seconds, count = time.perf_counter() - started, state.tokens_seen
        if state_path:
            state.save(state_path)
    return {"tokens": count, "seconds": seconds, "tok_s": count / seconds, "peak_rss_mb": peak_rss_mb()}


def rss_child(tokens: int, adapter: str | None, device: str) -> dict:
    """Streams `tokens` tokens through InfiniReader.feed in 4,000-character pieces, as the app does."""
    reader = InfiniPipeline.load(adapter=adapter, device=device).reader
    state, text, position = reader.new_state(), document(tokens), 0
    while state.tokens_seen < tokens and position < len(text):
        reader.feed(state, text[position:position + 4_000])
        position += 4_000
    return {"tokens": state.tokens_seen, "peak_rss_mb": peak_rss_mb(), "state_bytes": state.nbytes()}


def in_fresh_process(args: argparse.Namespace, *extra: str) -> dict:
    command = [sys.executable, __file__, "--adapter", args.adapter, "--device", args.device, *extra]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def state_error(path: Path, reference: Path) -> float:
    """Largest relative error over layers of M (max |a - b| / max |b|) against the reference state."""
    a, b = MemoryState.load(path).memory, MemoryState.load(reference).memory
    return max(((x.M - y.M).abs().max() / y.M.abs().max().clamp_min(1e-12)).item() for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=parse_length, default=113_000, help="tokens of the default document (default 113k: all of it)")
    parser.add_argument("--rss-lengths", default="8k,256k", help="lengths for the peak-RSS table ('' to skip)")
    parser.add_argument("--rows", default="plain,sequential,parallel,bf16,int8")
    parser.add_argument("--adapter", default="default", help="trained artifact (default: the shipped default; none: untrained)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    args = parser.parse_args()
    adapter = adapter_option(args.adapter)
    if args.child:
        kind, tokens = args.child.split(":")
        result = rss_child(int(tokens), adapter, args.device) if kind == "rss" else child(kind, int(tokens), adapter, args.device, args.state)
        print(json.dumps(result))
        return

    rows = args.rows.split(",")
    unknown = [row for row in rows if row != "plain" and row not in ROWS]
    if unknown:
        raise SystemExit(f"unknown row {unknown[0]!r}; expected some of plain,{','.join(ROWS)}")
    if args.device != "cpu" and "int8" in rows:
        rows.remove("int8")  # torch.ao's dynamic quantisation runs on the CPU only
    folder = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    results = {}
    for row in rows:
        results[row] = in_fresh_process(args, "--child", f"{row}:{args.tokens}", "--state", str(folder / f"{row}.state"))
        print(f"{row}: {results[row]['tok_s']:.0f} tokens/s", file=sys.stderr, flush=True)
    plain = results.get("plain", {}).get("tok_s")
    sequential = results.get("sequential", {}).get("tok_s")
    reference = folder / "sequential.state"
    print(f"Ingestion of {args.tokens:,} tokens of the default document, adapter {args.adapter}, {args.device}, "
          f"{torch.get_num_threads()} threads, one fresh process a row\n")
    print("| path | tokens/s | ratio to plain | ratio to sequential | state error | peak RSS MB |\n|---|---|---|---|---|---|")
    for row, r in results.items():
        ratio_plain = f"{r['tok_s'] / plain:.2f}" if plain else "-"
        ratio_seq = f"{r['tok_s'] / sequential:.2f}" if sequential and row != "plain" else "-"
        error = f"{state_error(folder / f'{row}.state', reference):.1e}" if row != "plain" and reference.exists() else "-"
        print(f"| {LABELS[row]} | {r['tok_s']:.0f} | {ratio_plain} | {ratio_seq} | {error} | {r['peak_rss_mb']:.0f} |", flush=True)

    lengths = [parse_length(x) for x in args.rss_lengths.split(",") if x]
    if lengths:
        print("\n| tokens streamed (parallel, fp32) | peak RSS MB | ratio to first | state bytes |\n|---|---|---|---|")
        first = None
        for length in lengths:
            r = in_fresh_process(args, "--child", f"rss:{length}")
            first = first or r["peak_rss_mb"]
            print(f"| {r['tokens']:,} | {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / first:.2f} | {r['state_bytes']:,} |", flush=True)


if __name__ == "__main__":
    main()
