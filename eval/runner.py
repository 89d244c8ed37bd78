"""Batch runner: the same cases through every pipeline, one results.jsonl line per case and pipeline.

Each document is ingested once per pipeline and all its questions are asked against it. A run that
is stopped and started again skips the (case, pipeline) pairs already in results.jsonl.
"""
from __future__ import annotations

import json
import os
import random
import resource
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from core.contract import Pipeline, collect
from .provenance import code_version, of_pipeline
from .scorers import score
from .tasks import FIXED_DOCUMENT_TASKS, GENERATORS, Case, TokenCounter

RESULT_FIELDS = ("id", "task", "length", "depth", "pipeline", "question", "answers", "prediction", "score", "confidence",
                 "ingest_s", "ingest_batch", "answer_s", "tokens", "state_bytes", "peak_rss_mb", "provenance", "skipped")


def parse_length(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


@dataclass(frozen=True)
class CaseSpec:
    """What regenerates one case: a worker given this and the seed makes the same document as the driver."""

    task: str
    length: int
    depth: float
    sample: int
    seed: int

    @property
    def id(self) -> str:
        return f"{self.task}-{self.length}-{self.depth:g}-s{self.seed}-{self.sample}"


def case_specs(tasks: list[str], lengths: list[int], depths: list[float], samples: int, seed: int) -> list[CaseSpec]:
    for task in tasks:
        if task not in GENERATORS:
            raise ValueError(f"unknown task {task!r}; expected one of {sorted(GENERATORS)}")
    specs = []
    for task in tasks:
        if task in FIXED_DOCUMENT_TASKS:  # one document, its own questions: lengths, depths and samples do not apply
            specs += [CaseSpec(task, 0, 0.0, index, seed) for index in range(FIXED_DOCUMENT_TASKS[task]())]
        else:
            specs += [CaseSpec(task, length, depth, sample, seed)
                      for length in lengths for depth in depths for sample in range(samples)]
    return specs


def make_case(count: TokenCounter, spec: CaseSpec, haystack: str | None = None) -> Case:
    rng = random.Random(f"{spec.seed}|{spec.id}")  # a str seed hashes the same in every process
    kwargs = {"haystack": haystack} if haystack and spec.task not in ("passkey", *FIXED_DOCUMENT_TASKS) else {}
    if spec.task in FIXED_DOCUMENT_TASKS:
        kwargs["index"] = spec.sample
    return GENERATORS[spec.task](count, spec.length, spec.depth, rng, case_id=spec.id, **kwargs)


def generate_cases(tokenizer, tasks: list[str], lengths: list[int], depths: list[float], samples: int, seed: int,
                   haystack: str | None = None) -> list[Case]:
    count = TokenCounter(tokenizer)
    return [make_case(count, spec, haystack) for spec in case_specs(tasks, lengths, depths, samples, seed)]


def finished_pairs(results_path: Path) -> set[tuple[str, str]]:
    """(id, pipeline) pairs already done. A line cut short by an interrupted run is dropped (its case
    runs again): the file is rewritten with the complete lines only, atomically."""
    done, kept = set(), []
    if results_path.exists():
        lines = results_path.read_text().splitlines()
        for line in lines:
            try:
                row = json.loads(line)
                done.add((row["id"], row["pipeline"]))
                kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        if len(kept) != len(lines) or not results_path.read_text().endswith("\n") and kept:
            tmp = results_path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, results_path)
    return done


def group_by_document(cases: Iterable[Case]) -> dict[str, list[Case]]:
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.document, []).append(case)
    return groups


def ingest_in_batches(pipeline: Pipeline, groups: list[tuple[str, list[Case]]], batch: int):
    """Yield (handle, cases, documents in its batch) per document: `batch` documents at a time through
    the pipeline's ingest_many where it has one (Infini: one forward pass per segment step for all),
    one by one otherwise."""
    many = batch > 1 and hasattr(pipeline, "ingest_many")
    step = batch if many else 1
    for start in range(0, len(groups), step):
        chunk = groups[start:start + step]
        handles = pipeline.ingest_many([document for document, _ in chunk]) if many else [pipeline.ingest(chunk[0][0])]
        for handle, (_, group) in zip(handles, chunk):
            yield handle, group, len(chunk)


def answer_rows(pipeline: Pipeline, name: str, handle, group: list[Case], batch: int, provenance: dict,
                max_new_tokens: int) -> Iterator[dict]:
    """One results.jsonl row per case of an ingested document (the plain runner's and the Ray workers')."""
    for case in group:
        answer = collect(pipeline.answer(handle, case.question, max_new_tokens=max_new_tokens,
                                         answer_prefix=case.answer_prefix))
        yield {
            "id": case.id, "task": case.task, "length": case.length, "depth": case.depth,
            "pipeline": name, "question": case.question, "answers": case.answers,
            "prediction": answer.text, "metric": case.metric,
            "score": None if answer.skipped else score(case.metric, answer.text, case.answers),
            "confidence": None if answer.confidence is None else round(answer.confidence, 4),
            "ingest_s": round(answer.ingest_s, 3), "ingest_batch": batch, "answer_s": round(answer.total_s, 3),
            "tokens": answer.tokens_processed, "state_bytes": answer.state_bytes,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "provenance": provenance, "skipped": answer.skipped,
        }


def error_rows(group: list[Case] | list[CaseSpec], name: str, message: str) -> list[dict]:
    """Rows for cases that kept failing: recorded with the message and no score, never left out."""
    return [{"id": case.id, "task": case.task, "length": case.length, "depth": case.depth, "pipeline": name,
             "prediction": "", "score": None, "skipped": False, "error": message} for case in group]


def run(cases: list[Case], pipelines: dict[str, Pipeline], out_dir: str | Path, max_new_tokens: int = 32,
        ingest_batch: int = 1) -> Path:
    """ingest_batch: documents ingested together (ingest_s is then the batch's time, `ingest_batch` its size)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.jsonl"
    done = finished_pairs(results_path)
    todo = [(name, case) for name in pipelines for case in cases if (case.id, name) not in done]
    code = code_version()
    made_by = {name: of_pipeline(pipeline, code) for name, pipeline in pipelines.items()}
    with results_path.open("a") as results, tqdm(total=len(todo), desc="eval", unit="case") as bar:
        for name, pipeline in pipelines.items():
            groups = list(group_by_document(c for n, c in todo if n == name).items())
            for handle, group, batch in ingest_in_batches(pipeline, groups, ingest_batch):
                for row in answer_rows(pipeline, name, handle, group, batch, made_by[name], max_new_tokens):
                    results.write(json.dumps(row) + "\n")
                    results.flush()
                    bar.update(1)
    return results_path
