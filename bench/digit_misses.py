"""Which needles the memory misses: answers with a repeated adjacent digit (e.g. 1656671) against the rest.

    python bench/digit_misses.py RESULTS_DIR [RESULTS_DIR ...] [--max-depth 75 | --last-segment]

Reads each folder's results.jsonl (python -m eval run), keeps the Infini cases whose needle lies at
--max-depth or less (so in an earlier segment, read through the memory) or, with --last-segment, at
depth 100 (read by local attention, which has positions), and prints, per kind of answer, how many
were read back exactly, and how far the misses were (edit distance of the first number in the prediction).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.report import read_results  # noqa: E402
from eval.tasks import has_adjacent_repeat  # noqa: E402


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--max-depth", type=float, default=75.0)
    parser.add_argument("--last-segment", action="store_true", help="the depth-100 cases instead")
    args = parser.parse_args(argv)
    groups = {True: [], False: []}
    for folder in args.dirs:
        for case in read_results(Path(folder)):
            kept = case["depth"] == 100 if args.last_segment else case["depth"] <= args.max_depth
            if not kept or not case["pipeline"].startswith("infini"):
                continue
            answer = case["answers"][0]
            numbers = re.findall(r"\d+", case["prediction"])
            groups[has_adjacent_repeat(answer)].append((case["score"] >= 1.0, edit_distance(answer, numbers[0]) if numbers else len(answer)))
    print("| answer | read exactly | misses at edit distance 1 / 2 / more |")
    print("|---|---|---|")
    for repeat, label in ((True, "has a repeated adjacent digit"), (False, "no repeated adjacent digit")):
        cases = groups[repeat]
        hits = sum(ok for ok, _ in cases)
        misses = [d for ok, d in cases if not ok]
        near = [sum(d == k for d in misses) for k in (1, 2)]
        print(f"| {label} | {hits}/{len(cases)} | {near[0]} / {near[1]} / {len(misses) - sum(near)} |")


if __name__ == "__main__":
    main()
