import pytest

import torch

from eval.__main__ import main, make_pipelines, parse_layers, parse_read_cap


def test_missing_adapter_file_stops_before_any_model_loads(tmp_path):
    with pytest.raises(SystemExit, match="no adapter file at .*missing.safetensors"):
        main(["run", "--tasks", "passkey", "--lengths", "1k", "--pipelines", "infini",
              "--adapter", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()  # nothing written


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
    M, z = model.empty_memory(1)[0]
    assert M.dtype == z.dtype == torch.float32
