import pytest

from eval.__main__ import main


def test_missing_adapter_file_stops_before_any_model_loads(tmp_path):
    with pytest.raises(SystemExit, match="no adapter file at .*missing.safetensors"):
        main(["run", "--tasks", "passkey", "--lengths", "1k", "--pipelines", "infini",
              "--adapter", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()  # nothing written
