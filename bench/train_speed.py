"""Training speed with one memory segment per pass over the layers against several, on the same batches.

    python bench/train_speed.py [--recipe infini/recipes/cpu-deltanet-stage9.json] [--steps 10] [--windows 1,16]

Runs `python -m infini.train` once per window (recipe key segments_per_pass) with the same recipe and
seed, so every run draws the same batches (a step's data depends only on the step), and reads
the steps and seconds from each run's train_log.csv. Prints one markdown table; the runs go to a
temporary folder.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(recipe: str, steps: int, window: int, out: Path) -> dict:
    settings = [f"steps={steps}", "max_minutes=100000", f"checkpoint_every={steps}", f"segments_per_pass={window}"]
    command = [sys.executable, "-m", "infini.train", "--recipe", recipe, "--out", str(out), "--set", *settings]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    with open(out / "train_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    last = rows[-1]
    return {"steps": int(last["step"]), "seconds": float(last["elapsed_s"]), "tokens": int(last["tokens"]),
            "loss": [float(row["loss"]) for row in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="infini/recipes/cpu-deltanet-stage9.json")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--windows", default="1,16", help="segments per pass to compare; the first is the baseline")
    args = parser.parse_args()
    recipe = json.loads((ROOT / args.recipe).read_text())
    folder = Path(tempfile.mkdtemp(prefix="train-speed-"))
    results = {}
    for window in [int(w) for w in args.windows.split(",")]:
        results[window] = train(args.recipe, args.steps, window, folder / f"w{window}")
        print(f"segments_per_pass={window}: {results[window]['seconds']:.0f} s", file=sys.stderr, flush=True)
    base = next(iter(results.values()))
    print(f"Training {args.steps} steps of {args.recipe} (segment length {recipe.get('segment_len')}, grad_segments "
          f"{recipe.get('grad_segments')}, the same batches in every run)\n")
    print("| segments per pass | steps/s | tokens/s | ratio | mean logged loss |\n|---|---|---|---|---|")
    for window, r in results.items():
        print(f"| {window} | {r['steps'] / r['seconds']:.3f} | {r['tokens'] / r['seconds']:.0f} | "
              f"{base['seconds'] / r['seconds']:.2f} | {sum(r['loss']) / len(r['loss']):.4f} |")


if __name__ == "__main__":
    main()
