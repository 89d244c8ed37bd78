import copy

from app.logic import Workbench
from infini import InfiniConfig, InfiniModel
from infini.adapter import load_adapter, save_adapter
from infini.pipeline import InfiniPipeline
from infini.stream import InfiniReader


def test_app_names_the_memory_it_reads_with(tiny_llama, tokenizer, tmp_path):
    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, update_rule="deltanet"))
    path = tmp_path / "my-memory.safetensors"
    save_adapter(model, path, {"infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0}, "lora": None})
    for adapter_model, expected in ((load_adapter(copy.deepcopy(tiny_llama), path), "my-memory.safetensors"),
                                    (model, "Untrained conversion")):
        workbench = Workbench({"infini": InfiniPipeline(InfiniReader(adapter_model, tokenizer))}, len, 1)
        assert expected in workbench.memory_description()
