import argparse

import pytest

from eval.__main__ import main
from eval.options import add_case_options, cases_from_options, depth_list, length_list, task_list


def test_case_options_read_lists_with_units():
    assert length_list("4k, 32k,1m,512") == [4_000, 32_000, 1_000_000, 512]
    assert length_list("1.5k") == [1_500]
    assert depth_list("0,12.5,100") == [0.0, 12.5, 100.0]
    assert task_list("passkey,niah_single") == ["passkey", "niah_single"]


@pytest.mark.parametrize("parse, bad, message", [
    (length_list, "8q", "expected lengths"), (length_list, "0", "expected lengths"), (length_list, "-2k", "expected lengths"), (length_list, "infk", "expected lengths"),
    (length_list, "4k,,8k", "without empty items"), (depth_list, "101", "from 0 to 100"), (depth_list, "mid", "from 0 to 100"),
    (task_list, "passkey,haystack", "unknown task 'haystack'"),
])
def test_bad_case_options_name_the_bad_item(parse, bad, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(bad)


@pytest.mark.parametrize("option, bad", [("--lengths", "8q"), ("--depths", "150"), ("--tasks", "bogus"), ("--samples", "0")])
def test_eval_run_refuses_bad_case_options_before_any_model_loads(tmp_path, capsys, option, bad):
    with pytest.raises(SystemExit):
        main(["run", option, bad, "--pipelines", "infini", "--out", str(tmp_path / "out")])
    assert repr(bad) in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_cases_from_options_regenerates_the_cases_the_options_name(tokenizer):
    parser = argparse.ArgumentParser()
    add_case_options(parser, seed=None)
    options = parser.parse_args(["--tasks", "passkey", "--lengths", "1k", "--depths", "0,50", "--samples", "2", "--seed", "3"])
    cases = cases_from_options(tokenizer, options)
    assert [c.id for c in cases] == ["passkey-1000-0-s3-0", "passkey-1000-0-s3-1", "passkey-1000-50-s3-0", "passkey-1000-50-s3-1"]
    again = cases_from_options(tokenizer, options)
    assert [c.answers for c in again] == [c.answers for c in cases]  # seeded: the same needles every time
    assert len({c.answers[0] for c in cases}) == 4  # and a different needle per case
    only_niah = cases_from_options(tokenizer, options, tasks=["niah_single"])
    assert [c.task for c in only_niah] == ["niah_single"] * 4
    with pytest.raises(SystemExit):  # a command that reads a run's results must name its seed
        parser.parse_args(["--lengths", "1k"])
