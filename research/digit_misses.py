"""Which needles the memory misses: answers with a repeated adjacent digit (e.g. 1656671) against the rest.

    python research/digit_misses.py RESULTS_DIR [RESULTS_DIR ...] [--max-depth 75 | --last-segment]

Reads each folder's results.jsonl (python -m eval run), keeps the Infini cases whose needle lies at
--max-depth or less (so in an earlier segment, read through the memory) or, with --last-segment, at
depth 100 (read by local attention, which has positions), and prints, per kind of answer, how many
were read back exactly, how far the misses were (edit distance of the first number in the prediction), and
how many misses are one digit copied from its neighbour: the same length, one digit wrong, and that digit equal
to the one before it in the answer (30734 read as 33734) or the one after it (77748 read as 77788).
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


def neighbour_copy(answer: str, predicted: str) -> str | None:
    """'before' or 'after' when `predicted` is `answer` with one digit replaced by its neighbour there, else None."""
    if len(predicted) != len(answer):
        return None
    wrong = [i for i, (a, p) in enumerate(zip(answer, predicted)) if a != p]
    if len(wrong) != 1:
        return None
    i = wrong[0]
    if i > 0 and predicted[i] == answer[i - 1]:
        return "before"
    if i + 1 < len(answer) and predicted[i] == answer[i + 1]:
        return "after"
    return None


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
            predicted = numbers[0] if numbers else ""
            groups[has_adjacent_repeat(answer)].append(
                (case["score"] >= 1.0, edit_distance(answer, predicted), neighbour_copy(answer, predicted)))
    print("| answer | read exactly | misses at edit distance 1 / 2 / more | misses copying the digit before / after |")
    print("|---|---|---|---|")
    for repeat, label in ((True, "has a repeated adjacent digit"), (False, "no repeated adjacent digit")):
        cases = groups[repeat]
        hits = sum(ok for ok, _, _ in cases)
        misses = [(d, copy) for ok, d, copy in cases if not ok]
        near = [sum(d == k for d, _ in misses) for k in (1, 2)]
        copies = [sum(copy == side for _, copy in misses) for side in ("before", "after")]
        print(f"| {label} | {hits}/{len(cases)} | {near[0]} / {near[1]} / {len(misses) - sum(near)} | {copies[0]} / {copies[1]} |")


if __name__ == "__main__":
    main()
