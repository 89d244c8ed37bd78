"""research/fact_misses.py: a wrong reply to a held-out fact is sorted by what the memory got of it."""
import pytest


@pytest.mark.parametrize("prediction, answer, expected", [
    (" The text does not say.", "limestone", "absent"),
    (" I cannot find that in the text.", "Occitan", "absent"),
    (" Meipart.", "Meipart Zouquouv", "partly right"),          # first word of two
    (" herring.", "pickled herring on rye", "partly right"),
    (" Kithaed.", "Kithaend", "misspelt"),                   # one letter dropped
    (" Sifeem Vound.", "Sifeim Vound", "partly right"),         # one word right is enough to be partial
    (" pear.", "pears", "misspelt"),
    (" chili.", "sumac", "other"),
    (" 7.", "seven o'clock", "other"),
    (" red.", "pale lilac", "other"),
])
def test_kind_of_miss(bench_script, prediction, answer, expected):
    assert bench_script("fact_misses").kind_of_miss(prediction, answer) == expected


def test_tally_leaves_out_the_answering_segment_and_counts_right_replies(bench_script):
    rows = [{"length": 100, "score": 0.0, "prediction": " red.", "answers": ["teal"]},      # the same segment
            {"length": 200, "score": 1.0, "prediction": " teal.", "answers": ["teal"]},
            {"length": 400, "score": 0.0, "prediction": " tea.", "answers": ["teal"]},
            {"length": 8000, "score": None, "prediction": "", "answers": ["teal"]}]         # not scored
    counts = bench_script("fact_misses").tally(rows, segment=128)
    assert dict(counts) == {"right": 1, "misspelt": 1}
