"""The stats line under each answer: timings, sizes, and how sure the model was of its reply."""
from app.logic import LOW_CONFIDENCE, stats_markdown
from core.contract import AnswerResult


def result(text: str, confidence: float | None) -> AnswerResult:
    return AnswerResult(text=text, pipeline="infini", ingest_s=1.0, time_to_first_token_s=0.5, total_s=1.5,
                        tokens_processed=100, tokens_generated=4, state_bytes=2048, confidence=confidence)


def test_an_unsure_reply_is_marked_and_a_sure_one_is_not():
    unsure = stats_markdown(result(" 1382.", LOW_CONFIDENCE / 2), 4096, "memory")
    sure = stats_markdown(result(" 1382.", (1 + LOW_CONFIDENCE) / 2), 4096, "memory")
    assert f"confidence {LOW_CONFIDENCE / 2:.2f} (unsure" in unsure
    assert f"confidence {(1 + LOW_CONFIDENCE) / 2:.2f}" in sure and "unsure" not in sure


def test_no_confidence_without_a_reply_or_a_measure():
    assert "confidence" not in stats_markdown(result("", 0.1), 4096, "memory")  # a skipped answer
    assert "confidence" not in stats_markdown(result(" def", None), 4096, "index")
    assert "memory 2.0 KB vs full KV cache 4.0 KB" in stats_markdown(result(" def", None), 4096, "memory")
