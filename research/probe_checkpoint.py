"""Quick look at a training run's latest checkpoint: accuracy on a few short cases (passkey by default).

    python research/probe_checkpoint.py runs/cpu-deltanet [--tasks passkey,facts] [--lengths 1k,2k] [--depths 0,50] [--samples 3] [--seed 1]

Loads OUT/recipe.json and OUT/checkpoint.safetensors (written every `checkpoint_every` steps) and
scores passkey cases with the eval module, so a run can be judged while it trains.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.report import correct_of, grouped, read_results  # noqa: E402
from eval.options import add_case_options, cases_from_options  # noqa: E402
from eval.runner import run  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402
from infini.stream import InfiniReader  # noqa: E402
from infini.train import build_model, checkpoint_params, load_recipe  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    add_case_options(parser, tasks="passkey", lengths="1k,2k", depths="0,50", samples=3, seed=1)
    parser.add_argument("--threads", type=int, default=1, help="leave the other core to the training run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = Path(args.run)
    recipe = load_recipe(str(folder / "recipe.json"), ["device=cpu"])
    model, tokenizer = build_model(recipe)
    model.lm.load_state_dict(checkpoint_params(load_file(str(folder / "checkpoint.safetensors"))), strict=False)
    model.eval()
    pipeline = InfiniPipeline(InfiniReader(model, tokenizer))
    cases = cases_from_options(tokenizer, args)
    with tempfile.TemporaryDirectory() as out, torch.no_grad():
        rows = read_results(run(cases, {"infini": pipeline}, out, max_new_tokens=24).parent)
    for row in rows:
        print(f"{row['id']}: {row['prediction']!r} (expected {row['answers']})")
    print("| task | tokens | depth | correct |\n|---|---|---|---|")
    for (task, length, depth), group in grouped(rows, "task", "length", "depth").items():
        print(f"| {task} | {length} | {depth:g} | {correct_of(group)} |")


if __name__ == "__main__":
    main()
