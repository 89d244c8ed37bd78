"""An ablation artifact: a query-gate artifact with the token term taken out (static gates sigmoid(beta)).

    python research/drop_query_gates.py ADAPTER OUT

Everything else (LoRA, write strengths, the gates' per-head beta) is kept, so measuring OUT beside
ADAPTER separates what the per-token gate does from what the rest of the same training did.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infini.adapter import read_card, write_derived_artifact  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    card = read_card(args.adapter)
    if not card["infini"].get("query_gate"):
        raise SystemExit(f"{args.adapter} has static gates already")
    weights = {n: t for n, t in load_file(args.adapter).items() if "memory_gate_proj" not in n}
    write_derived_artifact(args.out, weights, card,
                           f"{args.adapter} without its query gates' token term (research/drop_query_gates.py)", query_gate=False)
    print(args.out)


if __name__ == "__main__":
    main()
