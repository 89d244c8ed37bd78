"""`python -m eval run --ray`: the same rows as the plain runner, every case once through worker deaths and
driver restarts. Real Ray instances on this machine, the real base model and default artifact."""
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from eval.runner import CaseSpec, case_specs
from eval.ray_runner import DIE_ONCE, work_items
from eval.tasks import Case

pytest.importorskip("ray")
CASES = ["--tasks", "passkey", "--lengths", "2k", "--depths", "25,75", "--samples", "2", "--seed", "5", "--max-new-tokens", "12"]
GRID = ["--pipelines", "rag,infini", *CASES]
INFINI_GRID = ["--pipelines", "infini", *CASES]  # the recovery tests: one pipeline loads faster


def eval_cli(*args, env=None, **options):
    return subprocess.run([sys.executable, "-m", "eval", "run", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900, **options)


def rows_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def by_pair(rows):
    return {(r["id"], r["pipeline"]): r for r in rows}


@pytest.fixture(scope="module")
def plain_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    done = eval_cli(*GRID, "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return rows_of(out)


def test_work_items_send_one_document_each_and_skip_finished_pairs():
    specs = case_specs(["passkey", "facts"], [2000], [25.0], samples=2, seed=1)
    items = work_items(["infini", "rag"], specs, None, {(specs[0].id, "rag")}, ingest_batch=1)
    assert [len(item.cases) for item in items] == [1] * 7
    assert all(isinstance(ref, CaseSpec) for item in items for ref in item.cases)  # a seed, not a text, travels
    fixed = work_items(["rag"], case_specs(["docqa", "passkey"], [2000], [25.0], samples=1, seed=1), None, set(), 1)
    assert [len(item.cases) for item in fixed] == [1, 40]  # docqa's questions share one document: one item
    batched = work_items(["infini"], specs, None, set(), ingest_batch=3)
    assert [len(item.cases) for item in batched] == [3, 1]
    shared = [Case(f"q{i}", "cases", "one document" if i < 3 else "another", "?", ["a"], "em") for i in range(5)]
    grouped = work_items(["rag"], None, shared, {("q1", "rag")}, ingest_batch=1)
    assert [item.cases for item in grouped] == [[0, 2], [3, 4]]  # indices into the object store's list


def test_a_finished_run_resumed_starts_no_ray(tmp_path, monkeypatch):
    from eval import ray_runner

    specs = case_specs(["passkey"], [2000], [25.0], samples=2, seed=1)
    (tmp_path / "results.jsonl").write_text("".join(json.dumps({"id": s.id, "pipeline": "rag"}) + "\n" for s in specs))
    monkeypatch.setattr(ray_runner, "connect", lambda address: pytest.fail("Ray was started"))
    path = ray_runner.run_on_ray("local", {"names": ["rag"]}, tmp_path, specs=specs)
    assert path == tmp_path / "results.jsonl" and len(path.read_text().splitlines()) == 2


def test_two_workers_give_the_plain_runners_rows(plain_rows, tmp_path):
    done = eval_cli(*GRID, "--out", str(tmp_path), "--ray", "--ray-workers", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    ray_rows = rows_of(tmp_path)
    plain, ours = by_pair(plain_rows), by_pair(ray_rows)
    assert len(ray_rows) == len(plain_rows) == 8 and ours.keys() == plain.keys()
    for key, row in plain.items():
        assert (ours[key]["prediction"], ours[key]["score"]) == (row["prediction"], row["score"]), key
        assert ours[key]["provenance"] == row["provenance"]
    assert any(r["score"] == 1.0 for r in ray_rows)  # the grid is not all misses


def test_a_worker_killed_mid_document_is_replaced_and_every_case_runs_once(plain_rows, tmp_path):
    marker = tmp_path / "died"
    done = eval_cli(*INFINI_GRID, "--out", str(tmp_path / "run"), "--ray", "--ray-workers", "2", env={DIE_ONCE: str(marker)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.exists()  # a worker did exit mid-document
    rows = rows_of(tmp_path / "run")
    expected = {k: r["prediction"] for k, r in by_pair(plain_rows).items() if k[1] == "infini"}
    assert Counter((r["id"], r["pipeline"]) for r in rows) == Counter(expected.keys())
    assert not any(r.get("error") for r in rows)
    assert {k: r["prediction"] for k, r in by_pair(rows).items()} == expected


def test_a_document_that_keeps_failing_becomes_an_error_row(tmp_path):
    grid = ["--pipelines", "full", "--tasks", "passkey", "--lengths", "1k", "--depths", "50", "--samples", "2",
            "--seed", "5", "--max-new-tokens", "8"]
    done = eval_cli(*grid, "--out", str(tmp_path / "run"), "--ray", "--ray-workers", "1", "--ray-retries", "0",
                    env={DIE_ONCE: str(tmp_path / "died")})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = rows_of(tmp_path / "run")
    assert len(rows) == 2 and len({r["id"] for r in rows}) == 2
    failed = [r for r in rows if r.get("error")]
    assert len(failed) == 1 and failed[0]["score"] is None and "failed 1 times" in failed[0]["error"]
    from eval.report import write_report

    assert "1 cases failed on every try" in write_report(tmp_path / "run").read_text()


def test_a_killed_driver_resumes_without_duplicates(plain_rows, tmp_path):
    out = tmp_path / "run"
    driver = subprocess.Popen([sys.executable, "-m", "eval", "run", *INFINI_GRID, "--out", str(out), "--ray", "--ray-workers", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = out / "results.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and not (results.exists() and results.read_text().count("\n") >= 1):
        time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray instance it started
    driver.wait()
    first = rows_of(out)
    assert 1 <= len(first) < 4
    done = eval_cli(*INFINI_GRID, "--out", str(out), "--ray", "--ray-workers", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = rows_of(out)
    assert Counter((r["id"], r["pipeline"]) for r in rows) == Counter(k for k in by_pair(plain_rows) if k[1] == "infini")
    assert rows[: len(first)] == first  # what was stored stays as it was
