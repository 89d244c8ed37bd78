"""The reference pipeline `full`: the whole document in the base model's window, or "does not fit"."""
import copy
import json

from eval.full import FullContextPipeline
from eval.report import head_to_head, write_report
from eval.runner import generate_cases, run
from infini.stream import chat_turn


def test_full_answers_where_the_document_fits_and_says_does_not_fit_past_the_window(tiny_llama, tokenizer, tmp_path):
    full = FullContextPipeline(copy.deepcopy(tiny_llama), tokenizer)  # a window of 4,096 tokens
    turn_open, turn_close = chat_turn(tokenizer)
    document, question = "The vault code is 1234. " * 20, "What is the vault code?"
    assert tokenizer.decode(full.prompt(document, question)) == turn_open + document + "\n\n" + question + turn_close

    cases = generate_cases(tokenizer, ["passkey"], [1000, 6000], [50.0], samples=1, seed=0)
    run(cases, {"full": full}, tmp_path / "run", max_new_tokens=4)
    rows = {r["length"]: r for r in map(json.loads, (tmp_path / "run" / "results.jsonl").read_text().splitlines())}
    assert rows[1000]["skipped"] == "" and isinstance(rows[1000]["score"], float) and rows[1000]["tokens"] > 1000
    assert rows[6000]["score"] is None and rows[6000]["prediction"] == ""
    assert rows[6000]["skipped"].startswith("does not fit (") and "> 4,096" in rows[6000]["skipped"]
    assert "| passkey | seen in training | 6,000 | full | 1 | does not fit | - |" in write_report(tmp_path / "run").read_text()
    assert "| passkey | seen in training | 6,000 | does not fit |" in head_to_head(list(rows.values()))
