"""Choose the RAG chunk size and top-k by measurement on the eval tasks.

    python bench/rag_settings.py [--length 8k] [--samples 2]

Runs passkey and niah_single at 3 depths through the RAG pipeline for each (chunk tokens, k)
setting and prints a table of accuracy and mean prompt tokens.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.contract import collect  # noqa: E402
from eval.runner import generate_cases, parse_length  # noqa: E402
from eval.scorers import score  # noqa: E402
from rag.chunking import ChunkSettings  # noqa: E402
from rag.pipeline import RagPipeline  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--length", type=parse_length, default=8000)
parser.add_argument("--samples", type=int, default=2)
parser.add_argument("--settings", default="100x3,100x5,200x3,200x5,400x3")
args = parser.parse_args()
pipeline = RagPipeline.load()
cases = generate_cases(pipeline.reader.tokenizer, ["passkey", "niah_single"], [args.length], [10, 50, 90], args.samples, seed=7)
print(f"{len(cases)} cases at {args.length} tokens\n\n| chunk tokens | overlap | top-k | accuracy | mean prompt tokens |\n|---|---|---|---|---|")
for setting in args.settings.split(","):
    size, k = (int(x) for x in setting.split("x"))
    pipeline.settings = ChunkSettings(size, size // 5)
    total, prompt_tokens = 0.0, 0
    for case in cases:
        result = collect(pipeline.answer(pipeline.ingest(case.document), case.question, max_new_tokens=24,
                                         answer_prefix=case.answer_prefix, top_k=k))
        total += score(case.metric, result.text, case.answers)
        prompt_tokens += result.tokens_processed
    print(f"| {size} | {size // 5} | {k} | {total / len(cases):.2f} | {prompt_tokens / len(cases):.0f} |", flush=True)
