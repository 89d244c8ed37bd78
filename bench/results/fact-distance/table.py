"""One table from the fact-distance runs (run.sh): per document length, how many segments lie between the
fact's segment and the answering one, and each run's right answers with a 95% interval.

    python bench/results/fact-distance/table.py bench/results/fact-distance/{full,default,retrieval,...}
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.report import read_results, mean_ci  # noqa: E402


def main(folders: list[str]) -> None:
    runs = {Path(folder).name: [r for r in read_results(Path(folder)) if not r.get("error")] for folder in folders}
    lengths = sorted({r["length"] for rows in runs.values() for r in rows})
    # The memories' segment length, from their rows' provenance (`full` rows have none): the column of
    # segments back is only one column if every memory compared cut the documents alike.
    segment_lens = {r["provenance"]["segment_len"] for rows in runs.values() for r in rows
                    if r.get("provenance", {}).get("segment_len")}
    if len(segment_lens) != 1:
        raise SystemExit(f"error: need memories of one segment length to count segments back; found {sorted(segment_lens)}")
    segment = segment_lens.pop()
    print("| document tokens | fact's segment, counted back from the answering one | " + " | ".join(runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for length in lengths:
        cells = []
        for rows in runs.values():
            scores = [r["score"] for r in rows if r["length"] == length and r.get("score") is not None]
            if not scores:
                cells.append("-")
                continue
            mean, low, high = mean_ci(scores)
            cells.append(f"{round(mean * len(scores))}/{len(scores)} ({low:.2f}-{high:.2f})")
        # The fact sits in the first segment; the last partial segment and the question are read locally.
        back = length // segment
        print(f"| {length:,} | {back or 'the same segment'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
