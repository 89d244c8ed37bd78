"""Totals over several eval run folders: per task and length, the needle in an earlier segment (depth below
100, read through the memory) apart from the last segment (depth 100, read by local attention).

    python research/totals.py RESULTS_DIR [RESULTS_DIR ...] [--pipeline infini]

The counts in the table at the top of README "Training the memory" are this script over the folders listed in
`bench/results/memory-cpu-chain-stage9/folders.txt` (the default's; the previous default's are in
`bench/results/memory-cpu-keyconv-stage8/totals.md`). A case id that appears in two folders is counted once
(the first folder's), so overlapping lists do not inflate a total.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.report import correct_of, grouped, read_results  # noqa: E402


def totals(rows: list[dict]) -> dict[tuple[str, int], dict[str, str]]:
    """{(task, length): {"earlier": "correct/cases", "last": ...}} for the rows given (ids counted once)."""
    unique = list({row["id"]: row for row in reversed(rows)}.values())
    table: dict[tuple[str, int], dict[str, str]] = {}
    for (task, length), group in grouped(unique, "task", "length").items():
        parts = {"earlier": [r for r in group if r["depth"] < 100], "last": [r for r in group if r["depth"] >= 100]}
        table[(task, length)] = {name: correct_of(part) for name, part in parts.items() if part}
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--pipeline", default="infini")
    args = parser.parse_args(argv)
    missing = [folder for folder in args.dirs if not (Path(folder) / "results.jsonl").is_file()]
    if missing:
        parser.error(f"no results.jsonl (python -m eval run's output) in: {', '.join(missing)}")
    rows = [row for folder in args.dirs for row in read_results(Path(folder)) if row["pipeline"] == args.pipeline]
    print("| task | length | needle in an earlier segment | needle in the last segment |")
    print("|---|---|---|---|")
    for (task, length), cells in totals(rows).items():
        print(f"| {task} | {length:,} | {cells.get('earlier', '-')} | {cells.get('last', '-')} |")


if __name__ == "__main__":
    main()
