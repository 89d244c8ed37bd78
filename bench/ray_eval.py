"""Batch evaluation on Ray against the plain runner, on this machine, the same grid in one run.

    python bench/ray_eval.py [--grid "--pipelines infini,rag --tasks passkey,facts --lengths 4k ..."]

Runs `python -m eval run` three times in fresh processes and folders: the plain runner (the baseline,
both cores), Ray with 1 worker and Ray with 2 workers (1 core each). Each run's wall time includes
starting Python, Ray and loading the models, as a user waits for it. Checks that every run wrote the
same predictions. Then, from the plain run's measured ingestion rates, estimates the hours the headline
suite would take at 1M tokens on N such machines (on paper: see docs/distributed-eval.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core.loading import cache_root  # noqa: E402
GRID = ("--pipelines infini,rag --tasks passkey,facts --lengths 4k --depths 25,75 --samples 2 --seed 17 "
        "--max-new-tokens 16")
RUNS = {"plain runner": [], "ray, 1 worker": ["--ray", "--ray-workers", "1"],
        "ray, 2 workers": ["--ray", "--ray-workers", "2"]}


def timed_run(grid: list[str], extra: list[str], out: Path) -> tuple[float, list[dict]]:
    command = [sys.executable, "-m", "eval", "run", *grid, "--out", str(out), *extra]
    started = time.perf_counter()
    # No run reuses another's retrieval index: a cache folder of its own, sharing only the converted model.
    cache = out / "cache"
    cache.mkdir(parents=True)
    for entry in cache_root().glob("*"):
        if entry.name != "rag":
            (cache / entry.name).symlink_to(entry)
    fresh_cache = {**os.environ, "INFINI_CACHE": str(cache)}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=fresh_cache)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds, [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def headline_at_1m(rows: list[dict]) -> str:
    """Hours for the headline suite's cases at 1M tokens on N machines like this one, from measured rates."""
    suite = json.loads((ROOT / "eval/suites/headline.json").read_text())
    cases = len(suite["tasks"].split(",")) * len(suite["depths"].split(",")) * suite["samples"]
    per_case = {}
    for pipeline in sorted({r["pipeline"] for r in rows}):
        mine = [r for r in rows if r["pipeline"] == pipeline]
        rate = statistics.fmean(r["length"] / r["ingest_s"] for r in mine)  # document tokens per second
        answer = statistics.fmean(r["answer_s"] for r in mine)  # answering, after ingestion
        per_case[pipeline] = 1_000_000 / rate + answer
    one = cases * sum(per_case.values()) / 3600
    lines = [f"Headline suite at 1M tokens: {cases} cases per pipeline ({suite['tasks']}; depths {suite['depths']}; "
             f"{suite['samples']} samples); `full` does not fit and costs nothing. Per case on one machine: "
             + ", ".join(f"{p} {s / 60:.1f} min" for p, s in per_case.items()) + ".", "",
             "| machines (2 cores each, 1 worker each) | hours |", "|---|---|"]
    lines += [f"| {n} | {one / n:.1f} |" for n in (1, 2, 4, 8, 16, 32)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", default=GRID, help="eval run options of the grid")
    args = parser.parse_args()
    grid = shlex.split(args.grid)
    folder = Path(tempfile.mkdtemp(prefix="ray-eval-"))
    results = {}
    for name, extra in RUNS.items():
        results[name] = timed_run(grid, extra, folder / name.replace(" ", "").replace(",", "-"))
        print(f"{name}: {results[name][0]:.0f} s", file=sys.stderr, flush=True)
    base_seconds, base_rows = results["plain runner"]
    predictions = {(r["id"], r["pipeline"]): r["prediction"] for r in base_rows}
    print(f"Grid: `{args.grid}` ({len(base_rows)} case-pipeline rows). Wall time per run, models loaded in it.\n")
    print("| run | seconds | cases/min | speed-up vs plain | same predictions |\n|---|---|---|---|---|")
    for name, (seconds, rows) in results.items():
        same = {(r["id"], r["pipeline"]): r["prediction"] for r in rows} == predictions
        print(f"| {name} | {seconds:.0f} | {60 * len(rows) / seconds:.2f} | {base_seconds / seconds:.2f} | {same} |")
    print()
    print(headline_at_1m(base_rows))


if __name__ == "__main__":
    main()
