"""Batch evaluation on a Ray cluster: `python -m eval run ... --ray [ADDRESS]`.

Ray actors each load the pipelines once and hold them. The driver sends work one document at a time
(`ingest_batch` documents for GPU workers): generated cases travel as CaseSpecs (task, length, depth,
sample, seed) and the worker regenerates their documents, so no long text crosses the network; cases
from a --cases file and a --haystack text go once through the object store. The driver alone appends
to results.jsonl, in the plain runner's schema, and skips what is already there (resume). A worker
that dies is replaced and its document retried elsewhere, up to `max_retries` times; a document that
keeps failing is recorded as error rows with the message.
"""
from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .provenance import code_version
from .runner import CaseSpec, answer_rows, error_rows, finished_pairs, group_by_document, ingest_in_batches, make_case
from .tasks import FIXED_DOCUMENT_TASKS, Case, TokenCounter

# Test hook: a worker that finds this variable set, and the file it names absent, creates the file and
# exits mid-document (after ingesting, before answering): the run must still finish every case once.
DIE_ONCE = "EVAL_RAY_TEST_DIE_ONCE"


@dataclass
class WorkItem:
    pipeline: str
    cases: list  # CaseSpecs, or indices into the --cases list in the object store
    attempts: int = 0


class EvalWorker:
    """One Ray actor: the pipelines, loaded once, and the cases' sources."""

    def __init__(self, pipeline_options: dict, code: str, threads: int, haystack=None, cases=None):
        import torch

        from .__main__ import make_pipelines
        from .provenance import of_pipeline

        torch.set_num_threads(threads)
        self.pipelines, tokenizer = make_pipelines(**pipeline_options)
        self.count = TokenCounter(tokenizer)
        self.provenance = {name: of_pipeline(p, code) for name, p in self.pipelines.items()}
        self.haystack, self.cases = haystack, cases  # object-store values (Ray passes them resolved)

    def case(self, ref) -> Case:
        return self.cases[ref] if isinstance(ref, int) else make_case(self.count, ref, self.haystack)

    def run(self, item: WorkItem, max_new_tokens: int, ingest_batch: int) -> list[dict]:
        pipeline = self.pipelines[item.pipeline]
        groups = list(group_by_document(self.case(ref) for ref in item.cases).items())
        rows = []
        for handle, group, batch in ingest_in_batches(pipeline, groups, ingest_batch):
            marker = os.environ.get(DIE_ONCE)
            if marker and not os.path.exists(marker):
                Path(marker).write_text(str(os.getpid()))
                os._exit(1)
            rows += answer_rows(pipeline, item.pipeline, handle, group, batch, self.provenance[item.pipeline], max_new_tokens)
        return rows


def connect(address: str) -> None:
    """'local': a Ray instance on this machine, sized to its cores; else the cluster at ADDRESS."""
    import ray

    env = {DIE_ONCE: os.environ[DIE_ONCE]} if DIE_ONCE in os.environ else {}
    runtime_env = {"env_vars": env} if env else None
    if address == "local":
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
    else:
        ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)


def work_items(pipelines: list[str], specs: list[CaseSpec] | None, cases: list[Case] | None, done: set,
               ingest_batch: int) -> list[WorkItem]:
    """One item per document (per `ingest_batch` documents), for each pipeline, leaving out finished pairs."""
    items = []
    for name in pipelines:
        if specs is not None:  # generated cases: one document each, but a fixed-document task's share one
            todo = [spec for spec in specs if (spec.id, name) not in done]
            groups = [[spec] for spec in todo if spec.task not in FIXED_DOCUMENT_TASKS]
            groups += [group for task in FIXED_DOCUMENT_TASKS if (group := [s for s in todo if s.task == task])]
        else:
            todo = [i for i, case in enumerate(cases) if (case.id, name) not in done]
            by_document: dict[str, list[int]] = {}
            for i in todo:
                by_document.setdefault(cases[i].document, []).append(i)
            groups = list(by_document.values())
        for start in range(0, len(groups), ingest_batch):
            items.append(WorkItem(name, [ref for group in groups[start:start + ingest_batch] for ref in group]))
    return items


def run_on_ray(address: str, pipeline_options: dict, out_dir: str | Path, specs: list[CaseSpec] | None = None,
               cases: list[Case] | None = None, haystack: str | None = None, max_new_tokens: int = 32,
               ingest_batch: int = 1, workers: int | None = None, cpus_per_worker: int = 1,
               max_retries: int = 2) -> Path:
    """Run the cases (generated ones as `specs`, or a --cases list) through the pipelines on Ray workers."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.jsonl"
    done = finished_pairs(results_path)
    names = pipeline_options["names"]
    items = work_items(names, specs, cases, done, ingest_batch)
    total = sum(len(item.cases) for item in items)
    if not items:  # a finished run resumed: nothing to start Ray or load models for
        return results_path
    connect(address)
    try:
        gpus = 1 if pipeline_options.get("device") == "cuda" else 0
        available = ray.cluster_resources()
        if workers is None:
            workers = int(available.get("GPU", 0)) if gpus else int(available.get("CPU", 1) // cpus_per_worker)
        workers = max(1, min(workers, len(items)))
        actor_class = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus, max_restarts=0)(EvalWorker)
        shared = {"haystack": ray.put(haystack) if haystack else None, "cases": ray.put(cases) if cases else None}

        code = code_version()  # git describe once, not per (re)started worker

        def start_worker():
            return actor_class.remote(pipeline_options, code, cpus_per_worker, **shared)

        actors = [start_worker() for _ in range(workers)]
        pending, running = deque(items), {}
        finished = [0] * workers
        started = time.perf_counter()
        with results_path.open("a") as results, tqdm(total=total, desc="eval (ray)", unit="case") as bar:
            while pending or running:
                busy = {slot for slot, _ in running.values()}
                for slot in range(workers):
                    if slot not in busy and pending:
                        item = pending.popleft()
                        running[actors[slot].run.remote(item, max_new_tokens, ingest_batch)] = (slot, item)
                ready, _ = ray.wait(list(running), num_returns=1)
                slot, item = running.pop(ready[0])
                try:
                    rows = ray.get(ready[0])
                except (RayActorError, RayTaskError) as exc:
                    if isinstance(exc, RayActorError):  # the worker died: a fresh one takes its place
                        actors[slot] = start_worker()
                    item.attempts += 1
                    if item.attempts <= max_retries:
                        pending.append(item)  # another worker, whichever is free first
                        continue
                    refs = [cases[r] if isinstance(r, int) else r for r in item.cases]
                    lines = str(exc).strip().splitlines()
                    message = lines[-1][:500] if lines else type(exc).__name__
                    rows = error_rows(refs, item.pipeline, f"failed {item.attempts} times: {message}")
                for row in rows:
                    results.write(json.dumps(row) + "\n")
                results.flush()
                finished[slot] += len(rows)
                minutes = (time.perf_counter() - started) / 60
                bar.set_postfix({f"w{i}": f"{n / minutes:.1f}/min" for i, n in enumerate(finished)})
                bar.update(len(rows))
    finally:
        ray.shutdown()
    return results_path
