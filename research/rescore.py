"""Score recorded replies again after a scorer changed, in place: each row of DIR/results.jsonl gets
the score its metric gives now. Rows made before runs recorded their metric take it from --metric.

    python research/rescore.py DIR... [--metric facts=phrase facts_2hop=phrase]

Prints, per folder, how many scores changed and which; the predictions are not touched.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from eval.scorers import score


def rescore(folder: Path, metrics: dict[str, str]) -> list[tuple[str, float, float]]:
    path = folder / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    changed = []
    for row in rows:
        metric = row.get("metric") or metrics.get(row["task"])
        if metric is None or row.get("score") is None:
            continue
        row["metric"] = metric
        new = score(metric, row["prediction"], row["answers"])
        if new != row["score"]:
            changed.append((row["id"], row["score"], new))
            row["score"] = new
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    os.replace(tmp, path)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--metric", nargs="*", default=[], metavar="TASK=METRIC")
    args = parser.parse_args()
    metrics = dict(item.split("=", 1) for item in args.metric)
    for folder in args.dirs:
        changed = rescore(folder, metrics)
        print(f"{folder}: {len(changed)} changed" + "".join(f"\n  {i}: {a} -> {b}" for i, a, b in changed))


if __name__ == "__main__":
    main()
