"""The real app through gradio_client: answers, errors, and two users with their own documents."""

import time

import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from gradio_client.exceptions import AppError

from app.ui import PASSKEY_QUESTION
from eval.tasks import passkey_document

pytestmark = pytest.mark.slow


def passkey_file(tmp_path, key: str, name: str):
    path = tmp_path / name
    path.write_text(passkey_document(key, 30, 12))  # ~1,300 tokens: the needle goes to memory
    return str(path)


def ask(client, question):
    infini, infini_stats, rag, rag_stats, sources, _plot = client.predict(question, 3, 100, 256, 16, api_name="/ask")
    return infini, infini_stats, rag, rag_stats, sources


def test_passkey_both_columns_answer_and_rag_finds_the_key(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    client.predict(handle_file(passkey_file(tmp_path, "58213", "doc.txt")), api_name="/load_file")
    status = client.predict(3, 100, 256, 16, api_name="/process")
    assert "Processed" in status
    infini, infini_stats, rag, rag_stats, sources = ask(client, PASSKEY_QUESTION)
    assert infini.strip() and "58213" in rag
    assert "memory state" in infini_stats and "full KV cache" in infini_stats and "FAISS index" in rag_stats
    assert "58213" in sources and "score" in sources


def test_bad_inputs_get_errors_and_the_app_keeps_serving(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x00\xff" * 500)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    for name, message in (("empty.txt", "empty"), ("binary.txt", "binary"), ("broken.pdf", "PDF")):
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(tmp_path / name)), api_name="/load_file")
    for question, message in (("", "Type a question"), ("x" * 2001, "limit")):
        with pytest.raises(AppError, match=message):
            ask(client, question)
    client.predict(handle_file(passkey_file(tmp_path, "31337", "ok.txt")), api_name="/load_file")
    assert "31337" in ask(client, PASSKEY_QUESTION)[2]


def test_two_users_see_their_own_documents(app_url, tmp_path):
    first, second = Client(app_url, verbose=False), Client(app_url, verbose=False)
    first.predict(handle_file(passkey_file(tmp_path, "11111", "a.txt")), api_name="/load_file")
    second.predict(handle_file(passkey_file(tmp_path, "22222", "b.txt")), api_name="/load_file")
    assert "22222" in ask(second, PASSKEY_QUESTION)[2]
    assert "11111" in ask(first, PASSKEY_QUESTION)[2]


def test_two_users_with_two_segment_lengths_both_succeed(app_url, tmp_path):
    """User A processes a ~25K-token document at segment length 256 while user B asks about a short one
    at 128: each setting travels with its own request, so neither user's state is refused or mixed up."""
    first, second = Client(app_url, verbose=False), Client(app_url, verbose=False)
    long_doc = tmp_path / "long.txt"
    long_doc.write_text(passkey_document("73519", 600, 500))  # ~25K tokens
    first.predict(handle_file(str(long_doc)), api_name="/load_file")
    second.predict(handle_file(passkey_file(tmp_path, "46028", "short.txt")), api_name="/load_file")
    processing = first.submit(3, 100, 256, 16, api_name="/process")
    deadline = time.monotonic() + 120
    while processing.status().code != Status.PROCESSING and time.monotonic() < deadline:  # A is ingesting
        time.sleep(0.2)
    time.sleep(3)  # well into A's document (~40 segments of 256 tokens a few seconds in, ~100 in all)
    assert not processing.done()
    infini_b, stats_b, rag_b, _, _, _ = second.predict(PASSKEY_QUESTION, 3, 100, 128, 16, api_name="/ask")
    assert "Processed" in processing.result()
    infini_a, stats_a, rag_a, _, _, _ = first.predict(PASSKEY_QUESTION, 3, 100, 256, 16, api_name="/ask")
    assert "46028" in rag_b and "73519" in rag_a
    assert infini_a.strip() and infini_b.strip() and "memory state" in stats_a and "memory state" in stats_b
