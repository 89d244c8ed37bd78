"""What made a result row: each pipeline's own description (its `provenance()`), plus the code version.

Rows whose provenance differs (another adapter, rule, segment length, base model or weights) measure
different things: report and compare refuse to pool them unless asked (--mixed-provenance). The
code version is recorded but does not split a run: a run resumed after a commit stays one run.
"""
from __future__ import annotations

import json
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

NOT_POOLING_ON = ("code",)  # recorded, but rows that differ only here still pool
UNRECORDED = "unrecorded (rows from before provenance was kept)"


def code_version() -> str:
    """`git describe` of the checkout this code runs from, else the installed package's version."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"infini-workbench {version('infini-workbench')}"
    except PackageNotFoundError:
        return "unknown"


def of_pipeline(pipeline, code: str) -> dict:
    describe = getattr(pipeline, "provenance", None)
    return {**(describe() if describe else {}), "code": code}


def pooling_key(row: dict) -> str:
    recorded = row.get("provenance")
    if not isinstance(recorded, dict):
        return UNRECORDED
    return json.dumps({k: v for k, v in recorded.items() if k not in NOT_POOLING_ON}, sort_keys=True)


def check_pooling(rows: list[dict], where: str) -> None:
    """Raise ValueError when one pipeline's rows come from more than one provenance."""
    by_pipeline: dict[str, set[str]] = {}
    for row in rows:
        by_pipeline.setdefault(row.get("pipeline", "?"), set()).add(pooling_key(row))
    for pipeline, keys in by_pipeline.items():
        if len(keys) > 1:
            listed = "\n  ".join(sorted(keys))
            raise ValueError(f"{where}: pipeline {pipeline!r} has rows made by {len(keys)} different set-ups:\n  {listed}\n"
                             "Put them in separate folders, or pass --mixed-provenance to pool them anyway.")


def summary(rows: list[dict]) -> list[str]:
    """Markdown lines: each pipeline's provenance (and the code versions seen)."""
    lines = []
    for pipeline in sorted({row.get("pipeline", "?") for row in rows}):
        mine = [row for row in rows if row.get("pipeline") == pipeline]
        keys = sorted({pooling_key(row) for row in mine})
        codes = sorted({row["provenance"].get("code", "?") for row in mine if isinstance(row.get("provenance"), dict)})
        for key in keys:
            lines.append(f"- **{pipeline}**: {key if key == UNRECORDED else ', '.join(f'{k} `{v}`' for k, v in json.loads(key).items())}")
        if codes:
            lines.append(f"  (code {', '.join(codes)})")
    return lines
