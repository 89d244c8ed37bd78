"""Every scorer against worked examples computed by hand."""
import pytest

from eval.scorers import babi, exact_match, f1, normalize_answer, passkey, rouge_l, score, string_match_all, string_match_part


def test_passkey_takes_the_first_integer():
    assert passkey("The pass key is 71432. Remember it.", ["71432"]) == 1.0
    assert passkey("It is 12 or maybe 71432", ["71432"]) == 0.0
    assert passkey("no digits here", ["71432"]) == 0.0
    assert passkey("714320", ["71432"]) == 0.0


def test_ruler_string_match():
    refs = ["1234567", "7654321", "1111111", "2222222"]
    assert string_match_all("numbers: 1234567, 2222222", refs) == 0.5
    assert string_match_part("numbers: 1234567, 2222222", refs) == 1.0
    assert string_match_all("none", refs) == 0.0
    assert string_match_all("ABC and def", ["abc", "DEF"]) == 1.0  # case-insensitive


def test_squad_normalisation_em_and_f1():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert exact_match("the cat sat.", ["Cat sat"]) == 1.0
    assert exact_match("a cat sat down", ["cat sat"]) == 0.0
    # prediction "cat sat down" vs "cat sat": common 2, precision 2/3, recall 1 -> F1 0.8
    assert f1("A cat sat down", ["the cat sat"]) == pytest.approx(0.8)
    assert f1("dog", ["cat", "dog"]) == 1.0  # best over references
    assert f1("", ["cat"]) == 0.0


def test_rouge_l_from_the_package():
    # LCS of "the cat sat on the mat" and "the cat on the mat" is 5 tokens: P 5/6, R 5/5 -> F 10/11
    assert rouge_l("the cat sat on the mat", ["the cat on the mat"]) == pytest.approx(10 / 11)


def test_babi_label_in_first_sentence_only():
    assert babi("Mary is in the garden. She was in the kitchen.", ["garden"]) == 1.0
    assert babi("Mary was in the kitchen. Now the garden.", ["garden"]) == 0.0
    assert babi("gardener", ["garden"]) == 0.0


def test_unknown_metric_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown metric"):
        score("bleu", "x", ["x"])
