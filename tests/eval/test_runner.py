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

    def __getattr__(self, name):  # ingest_many only where the wrapped pipeline has it (the runner checks)
        if name == "provenance":
            return self.inner.provenance
        if name != "ingest_many" or not hasattr(self.inner, name):
            raise AttributeError(name)

        def ingest_many(texts):
            self.ingested += len(texts)
            self.batches = getattr(self, "batches", []) + [len(texts)]
            return self.inner.ingest_many(texts)
        return ingest_many

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
    assert "| passkey | seen in training | 400 | infini | 2 |" in text and "| niah_single | seen in training | 400 | rag | 2 |" in text
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


def test_batched_ingestion_gives_the_same_answers(pipelines, tokenizer, tmp_path):
    """--ingest-batch: Infini documents three at a time; the same predictions as one at a time (RAG has no
    ingest_many and goes one by one); each row records its batch's size."""
    cases = generate_cases(tokenizer, ["passkey", "niah_single"], [400], [0.0, 50.0], samples=2, seed=3)
    run(cases, {"infini": pipelines["infini"]}, tmp_path / "one", max_new_tokens=6)
    run(cases, pipelines, tmp_path / "three", max_new_tokens=6, ingest_batch=3)
    one, three = ([json.loads(line) for line in (tmp_path / name / "results.jsonl").read_text().splitlines()]
                  for name in ("one", "three"))
    infini_three = {r["id"]: r for r in three if r["pipeline"] == "infini"}
    assert pipelines["infini"].batches == [3, 3, 2]  # 8 documents
    assert [infini_three[r["id"]]["prediction"] for r in one] == [r["prediction"] for r in one]
    assert sorted(r["ingest_batch"] for r in infini_three.values()) == [2, 2] + [3] * 6
    assert {r["ingest_batch"] for r in three if r["pipeline"] == "rag"} == {1} and pipelines["rag"].ingested == 8
    assert "up to 3 at once" in write_report(tmp_path / "three").read_text()
    assert "at once" not in write_report(tmp_path / "one").read_text()


def test_rows_say_what_made_them_and_reports_refuse_to_pool_other_set_ups(tiny_llama, tokenizer, tmp_path):
    from eval.compare import compare_table
    from core.loading import base_fingerprint

    def infini(segment_len):
        return InfiniPipeline(InfiniReader(InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=segment_len)), tokenizer))

    out = tmp_path / "run"
    run(generate_cases(tokenizer, ["passkey"], [300], [50.0], samples=2, seed=0), {"infini": infini(64)}, out, max_new_tokens=2)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    made_by = rows[0]["provenance"]
    assert all(row["provenance"] == made_by for row in rows)
    assert made_by["segment_len"] == 64 and "Eq. 9" in made_by["rule"] and made_by["adapter"] is None
    assert made_by["base_model"] == base_fingerprint(tiny_llama) and made_by["weights"] == "float32" and made_by["code"]
    assert "segment_len `64`" in write_report(out).read_text()

    # The same folder, resumed with another segment length: two set-ups in one run.
    run(generate_cases(tokenizer, ["passkey"], [300], [50.0], samples=2, seed=1), {"infini": infini(32)}, out, max_new_tokens=2)
    with pytest.raises(ValueError, match="2 different set-ups"):
        write_report(out)
    with pytest.raises(ValueError, match="different set-ups"):
        compare_table([str(out), str(out)])
    assert "segment_len `32`" in write_report(out, mixed_provenance=True).read_text()
