import copy

from app.logic import Workbench
from infini import InfiniConfig, InfiniModel
from infini.adapter import load_adapter, save_adapter
from infini.pipeline import InfiniPipeline
from infini.stream import InfiniReader


def test_app_names_the_memory_it_reads_with(tiny_llama, tokenizer, tmp_path):
    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, update_rule="deltanet", key_conv=4))
    path = tmp_path / "my-memory.safetensors"
    save_adapter(model, path, {"infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "key_conv": 4},
                               "lora": None, "recipe": {"segment_len": 16, "task_mix": {"passkey": 0.5, "niah": 0.5}}})
    trained = load_adapter(copy.deepcopy(tiny_llama), path)
    for adapter_model, expected in ((trained, ["my-memory.safetensors", "DeltaNet-style", "4-token convolution",
                                               "Trained at 16-token segments on passkey, niah"]),
                                    (model, ["Untrained conversion", "DeltaNet-style"])):
        workbench = Workbench({"infini": InfiniPipeline(InfiniReader(adapter_model, tokenizer))}, len, 1)
        description = workbench.memory_description()
        assert all(part in description for part in expected), description
