import copy
import json

import pytest

from eval.report import write_report
from eval.runner import RESULT_FIELDS, generate_cases, run
from infini import InfiniConfig, InfiniModel, InfiniReader
from infini.pipeline import InfiniPipeline


class CountingPipeline:
    """Wraps a pipeline and counts ingestions and answers."""

    def __init__(self, inner):
        self.inner, self.name, self.ingested, self.answered = inner, inner.name, 0, 0

    def ingest(self, text, progress=None):
        self.ingested += 1
        return self.inner.ingest(text, progress)

    def answer(self, handle, question, **options):
        self.answered += 1
        return self.inner.answer(handle, question, **options)


@pytest.fixture
def pipelines(tiny_llama, tokenizer, tmp_path):
    from rag.embeddings import MiniLMEmbeddings
    from rag.index import IndexCache
    from rag.pipeline import RagPipeline
    from rag.reader import RagReader

    infini = InfiniPipeline(InfiniReader(InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=64)), tokenizer))
    rag = RagPipeline(RagReader(copy.deepcopy(tiny_llama), tokenizer), MiniLMEmbeddings(), cache=IndexCache(tmp_path / "rag"))
    return {"infini": CountingPipeline(infini), "rag": CountingPipeline(rag)}


def test_tiny_end_to_end_run_writes_results_and_report_and_resumes(pipelines, tokenizer, tmp_path):
    cases = generate_cases(tokenizer, ["passkey", "niah_single"], [400], [0.0, 100.0], samples=1, seed=0)
    out = tmp_path / "run"
    run(cases, pipelines, out, max_new_tokens=4)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["pipeline"] for r in rows} == {"infini", "rag"}
    assert all(set(RESULT_FIELDS) <= set(r) and 0.0 <= r["score"] <= 1.0 for r in rows)
    assert {r["id"] for r in rows} == {c.id for c in cases}
    assert pipelines["infini"].ingested == 4 and pipelines["rag"].answered == 4

    report = write_report(out)
    text = report.read_text()
    assert "| passkey | 400 | infini | 2 |" in text and "| niah_single | 400 | rag | 2 |" in text
    by_depth = {r["depth"]: r["score"] for r in rows if r["task"] == "passkey" and r["pipeline"] == "infini"}
    assert f"| passkey | infini | 400 | {by_depth[0.0]:g}/1 | {by_depth[100.0]:g}/1 |" in text  # Table 3 format
    for name in ("scores.csv", "accuracy_by_length.png", "heatmap_passkey_infini.png", "heatmap_niah_single_rag.png"):
        assert (out / name).stat().st_size > 0

    # Resume: nothing is redone; a lost line is.
    run(cases, pipelines, out, max_new_tokens=4)
    assert pipelines["infini"].ingested == 4 and pipelines["rag"].ingested == 4
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # last line cut short
    run(cases, pipelines, out, max_new_tokens=4)
    assert pipelines["infini"].ingested + pipelines["rag"].ingested == 9
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and len({(r["id"], r["pipeline"]) for r in rows}) == 8


def test_each_document_is_ingested_once_for_all_its_questions(pipelines, tokenizer, tmp_path):
    from eval.tasks import Case

    doc = "The capital of France is Paris. " * 30
    cases = [Case("q1", "cases", doc, "Capital of France?", ["Paris"], "contains"),
             Case("q2", "cases", doc, "Which country?", ["France"], "contains")]
    run(cases, {"infini": pipelines["infini"]}, tmp_path / "r", max_new_tokens=2)
    assert pipelines["infini"].ingested == 1 and pipelines["infini"].answered == 2
