import pytest

from eval.__main__ import main, parse_layers


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
