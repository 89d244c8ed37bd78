"""Write an artifact's measured evidence into its JSON card.

    python research/card_eval.py ADAPTER [EVIDENCE_DIR] [--more RUN_DIR ...]

EVIDENCE_DIR: what research/memory_evidence.sh wrote; RUN_DIR: folders of `python -m eval run` (fresh
seeds, a GPU session). The card gets, per task, pipeline and length, correct/cases at each needle
depth, plus the perplexity and gate-statistics results, and what measured them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.report import correct_of, grouped, read_results  # noqa: E402
from infini.adapter import update_card  # noqa: E402
from infini.gates import gate_matrix, head_kinds  # noqa: E402


def depth_table(directory: Path) -> dict:
    table: dict = {}
    for (task, pipeline, length, depth), group in grouped(read_results(directory), "task", "pipeline", "length", "depth").items():
        cell = table.setdefault(task, {}).setdefault(pipeline, {}).setdefault(str(length), {})
        cell[f"depth_{depth:g}"] = correct_of(group)
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter")
    parser.add_argument("evidence", nargs="?", help="research/memory_evidence.sh's output folder, if it was run")
    parser.add_argument("--more", action="append", default=[], metavar="DIR",
                        help="another eval run folder of this artifact (e.g. fresh seeds); repeat")
    args = parser.parse_args(argv)
    if not args.evidence and not args.more:
        parser.error("give EVIDENCE_DIR, --more RUN_DIR, or both")
    measured_by = []
    results: dict = {}
    if args.evidence:
        evidence = Path(args.evidence)
        measured_by.append(f"research/memory_evidence.sh {args.adapter} {evidence}")
        results["evidence_dir"] = str(evidence)
        for name in ("passkey", "untrained", "niah"):
            if (evidence / name / "results.jsonl").exists():
                results[name] = depth_table(evidence / name)
        if (evidence / "perplexity.json").exists():
            results["perplexity"] = json.loads((evidence / "perplexity.json").read_text())
    if args.more:
        measured_by.append("python -m eval run into the more_cases folders (their commands are in the README)")
        results["more_cases"] = {directory: depth_table(Path(directory)) for directory in args.more}
    results = {"measured_by": "; ".join(measured_by), **results, "gates": head_kinds(gate_matrix(args.adapter))}
    card = update_card(args.adapter, eval=results)
    print(json.dumps(card["eval"], indent=2))


if __name__ == "__main__":
    main()
