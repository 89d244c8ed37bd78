"""One table from the fact-distance runs (run.sh): per document length, how many segments lie between the
fact's segment and the answering one, and each run's right answers with a 95% interval.

    python bench/results/fact-distance/table.py bench/results/fact-distance/{full,default,retrieval,...}
    python bench/results/fact-distance/table.py --by-run DIRS   # one row a run, one column a distance
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.report import read_results, mean_ci  # noqa: E402


def scores_by_length(folders: list[str]) -> tuple[dict[str, dict[int, list[float]]], int]:
    """{run: {document length: scores}} and the memories' segment length."""
    runs = {Path(folder).name: [r for r in read_results(Path(folder)) if not r.get("error")] for folder in folders}
    # The memories' segment length, from their rows' provenance (`full` rows have none): the column of
    # segments back is only one column if every memory compared cut the documents alike.
    segment_lens = {r["provenance"]["segment_len"] for rows in runs.values() for r in rows
                    if r.get("provenance", {}).get("segment_len")}
    if len(segment_lens) != 1:
        raise SystemExit(f"error: need memories of one segment length to count segments back; found {sorted(segment_lens)}")
    scores = {name: {} for name in runs}
    for name, rows in runs.items():
        for r in rows:
            if r.get("score") is not None:
                scores[name].setdefault(r["length"], []).append(r["score"])
    return scores, segment_lens.pop()


def right(scores: list[float] | None, interval: bool = True) -> str:
    if not scores:
        return "-"
    mean, low, high = mean_ci(scores)
    return f"{round(mean * len(scores))}/{len(scores)}" + (f" ({low:.2f}-{high:.2f})" if interval else "")


def by_length(scores: dict[str, dict[int, list[float]]], segment: int) -> None:
    lengths = sorted({length for per_run in scores.values() for length in per_run})
    print("| document tokens | fact's segment, counted back from the answering one | " + " | ".join(scores) + " |")
    print("|---|---|" + "---|" * len(scores))
    for length in lengths:
        # The fact sits in the first segment; the last partial segment and the question are read locally.
        back = length // segment
        cells = [right(per_run.get(length)) for per_run in scores.values()]
        print(f"| {length:,} | {back or 'the same segment'} | " + " | ".join(cells) + " |")


def by_run(scores: dict[str, dict[int, list[float]]], segment: int) -> None:
    lengths = sorted({length for per_run in scores.values() for length in per_run})
    backs = [length // segment or "same" for length in lengths]
    print("| run | " + " | ".join(str(b) for b in backs) + " | beyond the answering segment |")
    print("|---|" + "---|" * (len(lengths) + 1))
    for name, per_run in scores.items():
        beyond = [s for length in lengths if length // segment for s in per_run.get(length, [])]
        cells = [right(per_run.get(length), interval=False) for length in lengths]
        print(f"| {name} | " + " | ".join(cells) + f" | {right(beyond)} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--by-run", action="store_true", help="one row a run, one column a number of segments back")
    args = parser.parse_args(argv)
    scores, segment = scores_by_length(args.folders)
    (by_run if args.by_run else by_length)(scores, segment)


if __name__ == "__main__":
    main()
