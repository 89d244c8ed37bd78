"""Paired comparison of runs on the same cases: did artifact B read what artifact A read?

    python -m eval compare DIR_A DIR_B [DIR ...] [--pipeline infini] [--by task,length]
    python -m eval compare A_SEED1,A_SEED2 B_SEED1,B_SEED2      # a run given as several folders

Each DIR holds a results.jsonl from `eval run`; folders joined by commas count as one run (one seed
each: their case ids carry the seed). Only the cases every run answered (same case id, same
pipeline) are compared, so runs over different case sets or an interrupted run are still compared
fairly. With two runs the table adds the discordant cases (where one scored higher than the other) and
an exact two-sided sign test on them: how likely a split at least this uneven is if neither artifact
were better. Two artifacts reading 17/28 and 20/28 differ on few cases; the test says how little that is.
"""
from __future__ import annotations

from math import comb
from pathlib import Path

from .provenance import check_pooling
from .report import grouped, read_results


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided sign test (McNemar's exact test on the discordant pairs): P(a split at least as
    uneven as wins:losses | each discordant case is a fair coin)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def common_cases(runs: list[list[dict]], pipeline: str) -> list[list[dict]]:
    """The rows of `pipeline` whose case id every run has, in the same order in each run."""
    by_id = [{row["id"]: row for row in rows if row["pipeline"] == pipeline} for rows in runs]
    shared = sorted(set.intersection(*(set(ids) for ids in by_id)))
    return [[ids[case_id] for case_id in shared] for ids in by_id]


def _total(rows: list[dict]) -> str:
    return f"{sum(row['score'] for row in rows):g}"


def compare_table(directories: list[str | Path], pipeline: str = "infini", by: tuple[str, ...] = ("task", "length"),
                  mixed_provenance: bool = False) -> str:
    """Markdown: per group, the cases all runs share and each run's total score on them. Each run (its
    folders joined) must come from one set-up (eval.provenance) unless mixed_provenance."""
    runs = [[row for folder in str(directory).split(",") for row in read_results(Path(folder))
             # no answer attempted (skipped), or none obtained (a Ray error row): nothing to compare
             if not (isinstance(row, dict) and (row.get("skipped") or row.get("error")))]
            for directory in directories]
    for directory, rows in zip(directories, runs):
        if not all(isinstance(row, dict) and {"id", "pipeline"} <= row.keys()
                   and isinstance(row.get("score"), (int, float)) for row in rows):
            raise ValueError(f"{directory}/results.jsonl has rows without id, pipeline and a numeric score: not an eval run")
    if not mixed_provenance:
        for directory, rows in zip(directories, runs):
            check_pooling([row for row in rows if row.get("pipeline") == pipeline], f"run {directory}")
    aligned = common_cases(runs, pipeline)
    if not aligned[0]:
        raise ValueError(f"the runs share no case answered by pipeline {pipeline!r}")
    unknown = [key for key in by if any(key not in row for row in aligned[0])]
    if unknown:
        raise ValueError(f"results have no field {unknown[0]!r}; group by some of {', '.join(aligned[0][0])}")
    two = len(directories) == 2
    legend = "\n".join(f"- run {i + 1}: {directory} ({len(rows)} rows, {len(aligned[i])} shared)"
                       for i, (directory, rows) in enumerate(zip(directories, runs)))
    header = [*by, "cases", *(f"run {i + 1}" for i in range(len(directories)))]
    if two:
        header += ["only 1 higher", "only 2 higher", "sign test p"]
    lines = [f"pipeline {pipeline}; cases every run answered\n", legend, "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # group on run 1's rows; the same index in every run is the same case
    index_of = {id(row): i for i, row in enumerate(aligned[0])}
    groups = list(grouped(aligned[0], *by).items()) + [(("all",) + ("",) * (len(by) - 1), aligned[0])]
    for key, group in groups:
        indices = [index_of[id(row)] for row in group]
        cells = [str(k) for k in key] + [str(len(indices))]
        cells += [_total([rows[i] for i in indices]) for rows in aligned]
        if two:
            wins = sum(aligned[0][i]["score"] > aligned[1][i]["score"] for i in indices)
            losses = sum(aligned[0][i]["score"] < aligned[1][i]["score"] for i in indices)
            cells += [str(wins), str(losses), f"{sign_test_p(wins, losses):.3g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
