"""The eval's niah_single cases with the needle moved: same number, same haystack, another depth.

    python research/moved_needles.py --seeds 1,2,4,5 --length 8k --depth 0 --to 3 --out runs/moved/cases.jsonl
    python -m eval run --cases runs/moved/cases.jsonl --pipelines infini --max-new-tokens 32 --out DIR

Separates where a needle sits from what it is: a needle at depth 0 lands in the first memory
segment, written while the memory is still empty, and has the most text written after it. Moving
it a few percent later changes the first and barely the second. Each output line is a case for
`eval run --cases` (metric contains, which for one answer is niah's string_match_all; id `<original id>-to<depth>`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from eval.runner import generate_cases, parse_length  # noqa: E402
from eval.tasks import NIAH_NEEDLE, insert_at_depth  # noqa: E402
from core.loading import load_tokenizer  # noqa: E402


def moved(document: str, needle: str, depth: float) -> str:
    """`document` with its one copy of `needle` taken out and put back at `depth` percent."""
    if document.count(needle) != 1:
        raise ValueError("the needle must occur exactly once")
    start = document.index(needle)
    end = start + len(needle)
    if document[end:end + 1] == " ":  # insert_at_depth put one space after it (or before it, at the end)
        end += 1
    elif document[start - 1:start] == " ":
        start -= 1
    return insert_at_depth(document[:start] + document[end:], [needle], [depth])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,4,5")
    parser.add_argument("--length", default="8k")
    parser.add_argument("--depth", type=float, default=0.0, help="depth of the cases to take")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--to", type=float, required=True, help="depth to move the needle to (percent)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    tokenizer = load_tokenizer(args.model)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for case in generate_cases(tokenizer, ["niah_single"], [parse_length(args.length)], [args.depth],
                                   args.samples, seed):
            needle = NIAH_NEEDLE.format(key=case.meta["key"], value=case.answers[0])
            rows.append({"id": f"{case.id}-to{args.to:g}", "document": moved(case.document, needle, args.to),
                         "question": case.question, "answers": case.answers, "metric": "contains",  # one answer: niah's string_match_all
                         "answer_prefix": case.answer_prefix})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} cases -> {args.out}")


if __name__ == "__main__":
    main()
