import pytest

import torch

from eval.__main__ import main, make_pipelines, parse_layers, parse_read_cap


def test_missing_adapter_file_stops_before_any_model_loads(tmp_path):
    with pytest.raises(SystemExit, match="no adapter file at .*missing.safetensors"):
        main(["run", "--tasks", "passkey", "--lengths", "1k", "--pipelines", "infini",
              "--adapter", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("ray", [[], ["--ray"]])
def test_an_unknown_pipeline_stops_before_any_model_loads(tmp_path, monkeypatch, ray):
    import core.loading

    monkeypatch.setattr(core.loading, "load_base_model", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit, match="unknown pipeline 'retrieval'"):
        main(["run", "--pipelines", "infini,retrieval", "--tasks", "passkey", "--lengths", "1k", "--out", str(tmp_path), *ray])
    with pytest.raises(SystemExit, match="unknown pipeline 'nope'"):
        make_pipelines(["nope"])


def test_memory_layers_option_reads_ranges_and_rejects_nonsense():
    assert parse_layers("3,12-14") == [3, 12, 13, 14]
    assert parse_layers("0-2,1") == [0, 1, 2]
    for bad in ("a", "1-b", ""):
        with pytest.raises(Exception, match="expected layers|no layers"):
            parse_layers(bad)


def test_read_cap_option_takes_on_off_or_a_multiple_and_rejects_nonsense():
    assert (parse_read_cap("on"), parse_read_cap("off"), parse_read_cap("2.5")) == (1.0, 0.0, 2.5)
    for bad in ("-1", "nan", "loud", ""):
        with pytest.raises(Exception, match="expected on, off or a multiple"):
            parse_read_cap(bad)


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_ingest_batch_below_one_is_refused_before_any_model_loads(tmp_path, capsys, bad):
    with pytest.raises(SystemExit):
        main(["run", "--ingest-batch", bad, "--out", str(tmp_path / "out")])
    assert "expected a whole number of at least 1" in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("dtype, expected", [(None, torch.float32), ("bfloat16", torch.bfloat16), ("float32", torch.float32)])
def test_dtype_option_sets_the_base_weights_and_the_memory_stays_float32(tmp_path, tiny_llama, tokenizer, dtype, expected):
    # --dtype float32 on a GPU is how the GPU reproduced the CPU's figures; the default on a CPU is float32.
    tiny_llama.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    pipelines, _ = make_pipelines(["infini_untrained"], str(tmp_path), None, 16, "cpu", dtype=dtype)
    model = pipelines["infini_untrained"].reader.model
    assert model.lm.model.embed_tokens.weight.dtype == expected
    memory = model.empty_memory(1)[0]
    assert memory.M.dtype == memory.z.dtype == torch.float32


def test_int8_quantises_the_infini_linear_layers_and_marks_its_states(tmp_path, tiny_llama, tokenizer):
    tiny_llama.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    pipelines, _ = make_pipelines(["infini_untrained"], str(tmp_path), None, 16, "cpu", dtype="int8")
    model = pipelines["infini_untrained"].reader.model
    attention = model.attention_layers()[0]
    assert not isinstance(attention.q_proj, torch.nn.Linear) and not isinstance(model.lm.model.layers[0].mlp.up_proj, torch.nn.Linear)
    assert model.quantization == "int8" and pipelines["infini_untrained"].provenance()["weights"] == "int8"
    plain, _ = make_pipelines(["infini_untrained"], str(tmp_path), None, 16, "cpu")
    assert plain["infini_untrained"].reader.model.fingerprint() != model.fingerprint()  # an int8 state is not a float one


def test_a_suite_is_eval_run_with_its_files_values_then_a_head_to_head_table(tmp_path, monkeypatch, tiny_llama, tokenizer, capsys):
    """`eval suite FILE`: the file's tasks, lengths, depths, samples and seed, the user's options on top
    (--seed here), then report.md and headline.md with each task marked seen in training or held out."""
    import copy
    import json

    import eval.__main__ as cli
    from infini import InfiniConfig, InfiniModel, InfiniReader
    from infini.pipeline import InfiniPipeline

    loaded = {}

    def tiny_pipelines(names, *args, **kwargs):
        loaded["names"] = names
        return {"infini": InfiniPipeline(InfiniReader(InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=64)), tokenizer))}, tokenizer

    monkeypatch.setattr(cli, "make_pipelines", tiny_pipelines)
    suite = tmp_path / "mine.json"
    suite.write_text(json.dumps({"description": "two tasks", "pipelines": "infini", "tasks": "passkey,babi_qa1",
                                 "lengths": "300", "depths": "50", "samples": 2, "seed": 0, "max_new_tokens": 2}))
    main(["suite", str(suite), "--out", str(tmp_path / "run"), "--seed", "4"])
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert loaded["names"] == ["infini"] and len(rows) == 4 and all(r["id"].endswith(("s4-0", "s4-1")) for r in rows)
    table = (tmp_path / "run" / "headline.md").read_text()
    assert "| babi_qa1 | held out | 300 |" in table and "| passkey | seen in training | 300 |" in table
    assert table in capsys.readouterr().out and (tmp_path / "run" / "report.md").exists()
    suite.write_text(json.dumps({"tasks": "passkey", "colour": "red"}))
    with pytest.raises(SystemExit, match="unknown key 'colour'"):
        main(["suite", str(suite)])


def test_wilson_interval_is_not_a_point_at_zero_or_all():
    from eval.report import mean_ci

    mean, low, high = mean_ci([0, 0, 0, 0])
    assert mean == 0 and low == 0 and 0.45 < high < 0.5  # Wilson's 95% upper bound for 0/4 is 0.49
    mean, low, high = mean_ci([1] * 10)
    assert mean == 1 and 0.70 < low < 0.73 and high == 1  # 10/10: 0.72
    assert mean_ci([0.5, 0.7])[0] == pytest.approx(0.6)  # F1-like scores: the normal approximation
