import json

import pytest

from eval.__main__ import main
from eval.compare import compare_table, sign_test_p


def write_run(folder, scores, pipeline="infini", length=8000):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"niah_single-{length}-{i}", "task": "niah_single", "length": length, "depth": 0.0,
             "pipeline": pipeline, "score": score} for i, score in enumerate(scores)]
    (folder / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def test_sign_test_matches_the_binomial_by_hand():
    assert sign_test_p(5, 0) == pytest.approx(2 * 0.5 ** 5)  # 0.0625
    assert sign_test_p(0, 5) == sign_test_p(5, 0)
    # 7 against 2: P(X <= 2) for Binomial(9, 1/2) = (1 + 9 + 36) / 512, doubled
    assert sign_test_p(7, 2) == pytest.approx(2 * 46 / 512)
    assert sign_test_p(3, 3) == 1.0 and sign_test_p(0, 0) == 1.0


def table_rows(text):
    return [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| niah") or line.startswith("| all")]


def test_two_runs_count_only_shared_cases_and_the_discordant_ones(tmp_path):
    a = write_run(tmp_path / "a", [1, 1, 1, 0, 0, 1])
    b = write_run(tmp_path / "b", [1, 0, 0, 1, 0])  # an interrupted run: the sixth case is missing
    rows = table_rows(compare_table([a, b]))
    cells = [cell.strip() for cell in rows[0]]
    # shared: 5 cases; a reads 3 of them, b 2; a alone reads cases 1 and 2, b alone case 3
    assert cells == ["niah_single", "8000", "5", "3", "2", "2", "1", f"{sign_test_p(2, 1):.3g}"]
    assert [cell.strip() for cell in rows[-1]][0] == "all"


def test_error_rows_of_a_ray_run_are_left_out_like_missing_cases(tmp_path):
    from eval.runner import error_rows
    from eval.tasks import Case

    a = write_run(tmp_path / "a", [1, 1, 0])
    b = write_run(tmp_path / "b", [1, 0])
    failed = error_rows([Case("niah_single-8000-2", "niah_single", "", "?", [], "em", 8000)], "infini", "failed 3 times")
    (b / "results.jsonl").write_text((b / "results.jsonl").read_text() + json.dumps(failed[0]) + "\n")
    cells = [cell.strip() for cell in table_rows(compare_table([a, b]))[0]]
    assert cells == ["niah_single", "8000", "2", "2", "1", "1", "0", f"{sign_test_p(1, 0):.3g}"]


def test_other_pipelines_and_three_runs(tmp_path):
    a = write_run(tmp_path / "a", [1, 1, 0])
    write_run(tmp_path / "a2", [0, 0, 0], pipeline="rag")
    (tmp_path / "a" / "results.jsonl").write_text((tmp_path / "a" / "results.jsonl").read_text()
                                                  + (tmp_path / "a2" / "results.jsonl").read_text())
    b = write_run(tmp_path / "b", [1, 0, 0])
    c = write_run(tmp_path / "c", [0, 0, 1])
    cells = [cell.strip() for cell in table_rows(compare_table([a, b, c]))[0]]
    assert cells == ["niah_single", "8000", "3", "2", "1", "1"]  # no sign test for three runs
    with pytest.raises(ValueError, match="share no case answered by pipeline 'rag'"):
        compare_table([a, b], pipeline="rag")


def test_cli_errors_are_messages(tmp_path, capsys):
    a = write_run(tmp_path / "a", [1, 0])
    with pytest.raises(SystemExit, match="at least two run folders"):
        main(["compare", str(a)])
    with pytest.raises(SystemExit, match="No such file"):
        main(["compare", str(a), str(tmp_path / "missing")])
    with pytest.raises(SystemExit, match="no field 'colour'"):
        main(["compare", str(a), str(a), "--by", "task,colour"])
    partial = tmp_path / "partial"  # a field the first shared row has but another lacks
    rows = [json.loads(line) for line in (write_run(partial, [1, 0]) / "results.jsonl").read_text().splitlines()]
    del rows[1]["depth"]
    (partial / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(SystemExit, match="no field 'depth'"):
        main(["compare", str(partial), str(a), "--by", "depth"])
    (tmp_path / "odd").mkdir()
    for odd in ('{"id": 1}\n[1, 2]\n', '{"id": "x", "pipeline": "infini", "score": "1"}\n'):
        (tmp_path / "odd" / "results.jsonl").write_text(odd)
        with pytest.raises(SystemExit, match="not an eval run"):
            main(["compare", str(a), str(tmp_path / "odd")])
    main(["compare", str(a), str(a)])
    assert "| niah_single | 8000 | 2 | 1 | 1 | 0 | 0 | 1 |" in capsys.readouterr().out


def test_a_run_given_as_several_folders_is_one_run(tmp_path):
    a1, a2 = write_run(tmp_path / "a1", [1, 1]), write_run(tmp_path / "a2", [1, 0, 1], length=16000)
    b1, b2 = write_run(tmp_path / "b1", [0, 1]), write_run(tmp_path / "b2", [0, 0, 1], length=16000)
    rows = [[cell.strip() for cell in row] for row in table_rows(compare_table([f"{a1},{a2}", f"{b1},{b2}"]))]
    assert rows[0][:7] == ["niah_single", "8000", "2", "2", "1", "1", "0"]
    assert rows[1][:7] == ["niah_single", "16000", "3", "2", "1", "1", "0"]
    assert rows[2][:7] == ["all", "", "5", "4", "2", "2", "0"]
