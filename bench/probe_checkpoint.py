"""Quick look at a training run's latest checkpoint: passkey accuracy at a few short lengths.

    python bench/probe_checkpoint.py runs/cpu-deltanet [--lengths 1k,2k] [--depths 0,50] [--samples 3]

Loads OUT/recipe.json and OUT/checkpoint.safetensors (written every `checkpoint_every` steps) and
scores passkey cases with the eval module, so a run can be judged while it trains.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.contract import collect  # noqa: E402
from eval.runner import generate_cases, parse_length  # noqa: E402
from eval.scorers import score  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402
from infini.stream import InfiniReader  # noqa: E402
from infini.train import DEFAULTS, build_model  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--lengths", default="1k,2k")
    parser.add_argument("--depths", default="0,50")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="leave the other core to the training run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    recipe = {**DEFAULTS, **json.loads((run / "recipe.json").read_text())}
    recipe["device"] = "cpu"
    model, tokenizer = build_model(recipe)
    params = {n[len("param."):]: t for n, t in load_file(str(run / "checkpoint.safetensors")).items() if n.startswith("param.")}
    model.lm.load_state_dict(params, strict=False)
    model.eval()
    pipeline = InfiniPipeline(InfiniReader(model, tokenizer))
    cases = generate_cases(tokenizer, ["passkey"], [parse_length(x) for x in args.lengths.split(",")],
                           [float(x) for x in args.depths.split(",")], args.samples, seed=1)
    hits = {}
    with torch.no_grad():
        for case in cases:
            handle = pipeline.ingest(case.document)
            result = collect(pipeline.answer(handle, case.question, max_new_tokens=12, answer_prefix=case.answer_prefix))
            key = (case.length, case.depth)
            hits.setdefault(key, []).append(score(case.metric, result.text, case.answers))
            print(f"{case.id}: {result.text!r} (expected {case.answers})", flush=True)
    print("| tokens | depth | accuracy |\n|---|---|---|")
    for (length, depth), values in sorted(hits.items()):
        print(f"| {length} | {depth:g} | {sum(values) / len(values):.2f} ({sum(values):g}/{len(values)}) |")


if __name__ == "__main__":
    main()
