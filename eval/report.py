"""Turn DIR/results.jsonl into report.md, scores.csv, heatmaps and an accuracy-by-length plot."""
from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .provenance import check_pooling  # noqa: E402
from .provenance import summary as provenance_summary  # noqa: E402
from .tasks import training_status  # noqa: E402


def read_results(directory: Path) -> list[dict]:
    rows = []
    for line in (directory / "results.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
    if not rows:
        raise ValueError(f"{directory / 'results.jsonl'} holds no results")
    return rows


def mean_ci(scores: list[float]) -> tuple[float, float, float]:
    """Mean and a 95% confidence interval: Wilson's for right/wrong scores (it stays honest at 0/n and n/n,
    where the normal approximation collapses to a point), the normal approximation otherwise; within [0, 1]."""
    mean, n = statistics.fmean(scores), len(scores)
    if all(s in (0, 1) for s in scores):
        z = 1.96
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return mean, max(0.0, centre - half), min(1.0, centre + half)
    if n < 2:
        return mean, 0.0, 1.0
    half = 1.96 * statistics.stdev(scores) / math.sqrt(n)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def head_to_head(rows: list[dict]) -> str:
    """Markdown: per task and length, each pipeline's score with its 95% interval side by side; then latency
    and memory per pipeline and length. Tasks are marked seen in training or held out."""
    rows = [r for r in rows if not r.get("error")]
    pipelines = sorted({r["pipeline"] for r in rows})
    lines = ["| task | training | length | " + " | ".join(pipelines) + " |", "|---|---|---|" + "---|" * len(pipelines)]
    for (task, length), group in sorted(grouped(rows, "task", "length").items()):
        cells = []
        for pipeline in pipelines:
            mine = [r["score"] for r in group if r["pipeline"] == pipeline and r.get("score") is not None]
            if not mine:
                cells.append("does not fit" if any(r["pipeline"] == pipeline for r in group) else "-")
                continue
            mean, low, high = mean_ci(mine)
            cells.append(f"{mean:.2f} ({low:.2f}-{high:.2f}, n={len(mine)})")
        lines.append(f"| {task} | {training_status(task)} | {length:,} | " + " | ".join(cells) + " |")
    if any(r["task"].endswith("unanswerable") for r in rows):
        lines += ["", "On the *_unanswerable tasks the score is the share of replies that say the document does not tell; "
                      "one minus it is how often an answer was invented."]
    lines += ["", "| pipeline | length | mean ingest s | mean answer s | state/index bytes | peak RSS MB |", "|---|---|---|---|---|---|"]
    for (pipeline, length), group in sorted(grouped([r for r in rows if r.get("score") is not None], "pipeline", "length").items()):
        lines.append(f"| {pipeline} | {length:,} | {statistics.fmean(r['ingest_s'] for r in group):.1f} | "
                     f"{statistics.fmean(r['answer_s'] for r in group):.2f} | {statistics.fmean(r['state_bytes'] for r in group):,.0f} | "
                     f"{max(r['peak_rss_mb'] for r in group):,.0f} |")
    return "\n".join(lines) + "\n"


def grouped(rows: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    return dict(sorted(groups.items(), key=lambda item: tuple((0, x, "") if isinstance(x, (int, float)) else (1, 0, str(x))
                                                             for x in item[0])))


def correct_of(group: list[dict]) -> str:
    """'correct/cases' of a group of results (partial scores add up)."""
    return f"{sum(r['score'] for r in group):g}/{len(group)}"


def heatmap(rows: list[dict], task: str, pipeline: str, path: Path) -> None:
    lengths = sorted({r["length"] for r in rows})
    depths = sorted({r["depth"] for r in rows})
    cells = grouped(rows, "depth", "length")
    grid = [[statistics.fmean(r["score"] for r in cells[(d, n)]) if (d, n) in cells else math.nan for n in lengths]
            for d in depths]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(lengths), 1.2 + 0.55 * len(depths)))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(lengths)), [f"{n // 1000}K" if n >= 1000 else str(n) for n in lengths])
    ax.set_yticks(range(len(depths)), [f"{d:g}%" for d in depths])
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("needle depth")
    ax.set_title(f"{task} - {pipeline}")
    fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (task, pipeline), group in grouped(rows, "task", "pipeline").items():
        by_length = grouped(group, "length")
        lengths = [k[0] for k in by_length]
        ax.plot(lengths, [statistics.fmean(r["score"] for r in g) for g in by_length.values()], marker="o",
                linestyle="-" if pipeline.startswith("infini") else "--", label=f"{task} / {pipeline}")
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(directory: str | Path, mixed_provenance: bool = False) -> Path:
    """mixed_provenance: pool rows made by different set-ups (eval.provenance) instead of refusing."""
    directory = Path(directory)
    rows = read_results(directory)
    errors = [r for r in rows if r.get("error")]  # cases that kept failing (the Ray runner records them)
    rows = [r for r in rows if not r.get("error")]
    if not mixed_provenance:
        check_pooling(rows, str(directory / "results.jsonl"))
    skipped = [r for r in rows if r.get("score") is None]  # the full pipeline past its window: no score
    rows = [r for r in rows if r.get("score") is not None]
    if not rows:
        raise ValueError(f"{directory / 'results.jsonl'} holds no scored results")
    table = []
    for (task, length, pipeline), group in grouped(rows, "task", "length", "pipeline").items():
        mean, low, high = mean_ci([r["score"] for r in group])
        table.append({"task": task, "length": length, "pipeline": pipeline, "n": len(group), "mean": round(mean, 4),
                      "ci95_low": round(low, 4), "ci95_high": round(high, 4)})
    with (directory / "scores.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)

    lines = ["# Evaluation report", "", f"{len(rows)} results from `results.jsonl`. Scores are means over samples "
             "with 95% confidence intervals (Wilson for right/wrong scores, else normal approximation).", "", "What made them:", "",
             *provenance_summary(rows), "",
             "| task | training | length | pipeline | n | score | 95% CI |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {t['task']} | {training_status(t['task'])} | {t['length']:,} | {t['pipeline']} | {t['n']} | {t['mean']:.2f} | "
              f"{t['ci95_low']:.2f}-{t['ci95_high']:.2f} |" for t in table]
    for (task, length, pipeline), group in grouped(skipped, "task", "length", "pipeline").items():
        lines.append(f"| {task} | {training_status(task)} | {length:,} | {pipeline} | {len(group)} | does not fit | - |")
    if errors:
        lines += ["", f"{len(errors)} cases failed on every try and have no score:", ""]
        lines += [f"- {r['id']} ({r['pipeline']}): {r['error']}" for r in errors]
    lines += ["", "## By needle depth (the paper's Table 3 format: correct / cases)", ""]
    depths = sorted({r["depth"] for r in rows})
    lines += ["| task | pipeline | length | " + " | ".join(f"depth {d:g}%" for d in depths) + " |",
              "|---|---|---|" + "---|" * len(depths)]
    for (task, pipeline, length), group in grouped(rows, "task", "pipeline", "length").items():
        by_depth = grouped(group, "depth")
        cells = [correct_of(by_depth[(d,)]) if (d,) in by_depth else "-" for d in depths]
        lines.append(f"| {task} | {pipeline} | {length:,} | " + " | ".join(cells) + " |")
    lines += ["", "## Latency and memory per pipeline", "",
              "| pipeline | cases | mean ingest s | mean answer s | mean tokens read | mean state/index bytes | peak RSS MB |",
              "|---|---|---|---|---|---|---|"]
    for (pipeline,), group in grouped(rows, "pipeline").items():
        lines.append(f"| {pipeline} | {len(group)} | {statistics.fmean(r['ingest_s'] for r in group):.2f} | "
                     f"{statistics.fmean(r['answer_s'] for r in group):.2f} | {statistics.fmean(r['tokens'] for r in group):,.0f} | "
                     f"{statistics.fmean(r['state_bytes'] for r in group):,.0f} | {max(r['peak_rss_mb'] for r in group):,.0f} |")
    batched = max((r.get("ingest_batch", 1) for r in rows), default=1)  # rows from before the field read as 1
    if batched > 1:
        lines += ["", f"Documents were ingested in batches (up to {batched} at once): a row's ingest s is its whole "
                      "batch's time, not one document's."]
    lines += ["", "## Pictures", ""]
    for (task, pipeline), group in grouped(rows, "task", "pipeline").items():
        if task == "cases":
            continue
        name = f"heatmap_{task}_{pipeline}.png"
        heatmap(group, task, pipeline, directory / name)
        lines.append(f"![{task} {pipeline}]({name})")
    accuracy_plot(rows, directory / "accuracy_by_length.png")
    lines.append("![accuracy by length](accuracy_by_length.png)")
    report = directory / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
