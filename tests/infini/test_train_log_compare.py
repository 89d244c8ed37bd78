"""research/train_log_compare.py: only steps logged by both runs with the same segment count are compared."""
HEADER = "step,segments,loss,write_strength\n"


def test_compares_only_steps_with_equal_segment_counts(tmp_path, bench_script):
    train_log_compare = bench_script("train_log_compare")
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text(HEADER + "5,3,1.0,0.1\n10,7,0.5,0.1\n15,4,2.0,0.1\n20,9,0.1,0.1\n25,2,0.3,0.1\n")
    b.write_text(HEADER + "5,3,1.5,0.1\n10,8,0.1,0.1\n15,4,1.0,0.1\n25,2,0.9,0.1\n")
    # step 10: segments differ; step 20: only in A. Left: 5 (A lower), 15 (B lower), 25 (A lower).
    result = train_log_compare.compare(train_log_compare.read_losses(str(a), None),
                                       train_log_compare.read_losses(str(b), None))
    assert result == {"steps": 3, "a_lower": 2, "a_mean": (1.0 + 2.0 + 0.3) / 3, "b_mean": (1.5 + 1.0 + 0.9) / 3}
    upto = train_log_compare.compare(train_log_compare.read_losses(str(a), 15),
                                     train_log_compare.read_losses(str(b), 15))
    assert (upto["steps"], upto["a_lower"]) == (2, 1)
