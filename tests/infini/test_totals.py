"""research/totals.py: earlier-segment and last-segment cases are counted apart, and a case in two folders once."""


def row(case_id, task, length, depth, score):
    return {"id": case_id, "task": task, "length": length, "depth": depth, "score": score, "pipeline": "infini"}


def test_totals_split_by_segment_and_count_each_case_once(bench_script):
    totals = bench_script("totals").totals
    rows = [row("a", "passkey", 8000, 0.0, 1.0), row("b", "passkey", 8000, 75.0, 0.0),
            row("c", "passkey", 8000, 100.0, 1.0), row("d", "niah_single", 8000, 50.0, 1.0),
            row("e", "passkey", 32000, 50.0, 1.0),
            row("a", "passkey", 8000, 0.0, 0.0)]  # "a" again, from a second folder: not counted
    assert totals(rows) == {("niah_single", 8000): {"earlier": "1/1"},
                            ("passkey", 8000): {"earlier": "1/2", "last": "1/1"},
                            ("passkey", 32000): {"earlier": "1/1"}}
