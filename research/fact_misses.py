"""What the misses on held-out facts are: partly right, misspelt, said to be absent, or something else.

    python research/fact_misses.py bench/results/fact-distance/NAME [...]

Reads each folder's results.jsonl (python -m eval run) and sorts every wrong reply (score 0) beyond the
answering segment (document longer than one segment) into the first kind that fits:
- absent: it says the text does not tell (the scorer's own `abstains`);
- partly right: it holds some of the answer's words but not all ("Meipart." for "Meipart Zouquouv", "green."
  for "forest green", "7." for "seven o'clock" counts as other);
- misspelt: its closest word run is at least 0.7 alike by difflib's ratio ("Kithaed." for "Kithaend");
- other: a different answer.
Partly right and misspelt misses are half-retrievals: the memory carried the fact but not all of it.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.report import read_results  # noqa: E402
from eval.scorers import abstains, normalize_answer  # noqa: E402

KINDS = ("right", "absent", "partly right", "misspelt", "other")


def kind_of_miss(prediction: str, answer: str) -> str:
    if abstains(prediction, [answer]):
        return "absent"
    said, wanted = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if set(said) & set(wanted):
        return "partly right"
    width = len(wanted)  # compare against every run of as many words as the answer has
    runs = [" ".join(said[i:i + width]) for i in range(max(1, len(said) - width + 1))]
    alike = max(difflib.SequenceMatcher(None, run, " ".join(wanted)).ratio() for run in runs)
    return "misspelt" if alike >= 0.7 else "other"


def tally(rows: list[dict], segment: int) -> Counter:
    counts = Counter()
    for r in rows:
        if r.get("score") is None or r["length"] < segment:  # the same segment: the base model reading
            continue
        counts["right" if r["score"] else kind_of_miss(r["prediction"], r["answers"][0])] += 1
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--segment", type=int, default=128, help="the memories' segment length in tokens")
    args = parser.parse_args(argv)
    print("| run | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for folder in args.folders:
        counts = tally([r for r in read_results(Path(folder)) if not r.get("error")], args.segment)
        print(f"| {Path(folder).name} | " + " | ".join(str(counts[k]) for k in KINDS) + " |")


if __name__ == "__main__":
    main()
