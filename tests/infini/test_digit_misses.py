"""research/digit_misses.py: a miss that copies a neighbouring digit is told apart from other one-digit misses."""
import pytest


@pytest.mark.parametrize("answer, predicted, expected", [
    ("30734", "33734", "before"),   # the 0 became the 3 before it
    ("49806", "49800", "before"),   # the last digit became the 0 before it
    ("77748", "77788", "after"),    # the 4 became the 8 after it
    ("60683", "60693", None),       # one digit wrong, but neither neighbour (8 and 3)
    ("31901", "39901", "after"),    # the first 1 became the 9 after it
    ("33802", "338023", None),      # a digit added, not replaced
    ("12345", "12345", None),       # read exactly
    ("12345", "13355", None),       # two digits wrong
])
def test_neighbour_copy(bench_script, answer, predicted, expected):
    assert bench_script("digit_misses").neighbour_copy(answer, predicted) == expected
