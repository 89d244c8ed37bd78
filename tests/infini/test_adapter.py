import copy
import json

import pytest
import torch
from safetensors import safe_open

from infini import InfiniConfig, InfiniModel
from infini.model import base_fingerprint
from infini.adapter import add_lora, load_adapter, load_trained_weights, read_card, save_adapter, update_card
from infini.gates import gate_matrix, head_kinds
from infini.pipeline import build_infini_model


def test_artifact_round_trip_card_update_and_gate_counts(tiny_llama, tmp_path):
    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, update_rule="deltanet", gate_init=0.0))
    add_lora(model, rank=2, alpha=4, targets=["q_proj", "k_proj", "v_proj"])
    layers = model.attention_layers()
    with torch.no_grad():  # layer 0: two memory heads, one local head; layer 2: all local
        layers[0].memory_gate[:] = torch.tensor([5.0, 5.0, -5.0, 0.0, 0.0, 0.0])
        layers[2].memory_gate[:] = -5.0
        layers[1].memory_beta.bias[:] = 1.5
    path = tmp_path / "a.safetensors"
    save_adapter(model, path, {"base_model_fingerprint": base_fingerprint(tiny_llama),
                               "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "read_cap": True},
                               "lora": {"rank": 2, "alpha": 4, "targets": ["q_proj", "k_proj", "v_proj"]}})

    gates = gate_matrix(path)
    assert gates.shape == (3, 6)
    assert head_kinds(gates) == {"memory_heads": 2, "local_heads": 7, "mixers": 9}

    update_card(path, eval={"passkey": "3/3"})
    assert read_card(path)["eval"] == {"passkey": "3/3"}
    with safe_open(str(path), framework="pt") as handle:
        assert json.loads(handle.metadata()["card"])["eval"] == {"passkey": "3/3"}

    loaded = load_adapter(copy.deepcopy(tiny_llama), path)
    assert loaded.config.update_rule == "deltanet" and loaded.adapter_path == str(path)
    # The card's variant settings come along; an older card's "read_cap": true is the 1x cap.
    assert [layer.read_cap for layer in loaded.attention_layers()] == [1.0] * 3
    uncapped = build_infini_model(copy.deepcopy(tiny_llama), path, read_cap=0.0)  # eval run --read-cap off
    assert not uncapped.config.read_cap and not any(layer.read_cap for layer in uncapped.attention_layers())
    looser = build_infini_model(copy.deepcopy(tiny_llama), path, read_cap=3.0)  # eval run --read-cap 3
    assert [layer.read_cap for layer in looser.attention_layers()] == [3.0] * 3
    torch.testing.assert_close(loaded.gate_values(), gates)
    torch.testing.assert_close(loaded.attention_layers()[1].memory_beta.bias.detach(), torch.full((2,), 1.5))


def test_memory_in_some_layers_reads_like_closed_gates_elsewhere_and_loads_a_full_artifact(tiny_llama, tmp_path):
    segments = list(torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(5)).split(16, dim=1))
    full = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, update_rule="deltanet", gate_init=0.0))
    with torch.no_grad():
        full.attention_layers()[1].memory_beta.bias[:] = 1.0
        full.attention_layers()[1].memory_gate[:] = 2.0
    path = tmp_path / "full.safetensors"
    save_adapter(full, path, {"base_model_fingerprint": base_fingerprint(tiny_llama),
                              "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0}})
    only_middle = build_infini_model(copy.deepcopy(tiny_llama), path, memory_layers=[1])  # eval run --memory-layers 1
    layers = only_middle.attention_layers()
    assert [layer.has_memory for layer in layers] == [False, True, False]
    assert not any(hasattr(layers[i], "memory_gate") or hasattr(layers[i], "memory_beta") for i in (0, 2))
    torch.testing.assert_close(only_middle.gate_values()[1], torch.sigmoid(torch.full((6,), 2.0)))
    assert only_middle.gate_values()[[0, 2]].abs().max() == 0
    # Reference: the full model with the other layers' gates shut (they write, but nothing reads it).
    with torch.no_grad():
        for i in (0, 2):
            full.attention_layers()[i].memory_gate[:] = float("-inf")
        expected, _ = full.forward_segments(segments, full.empty_memory(1))
        got, memory = only_middle.forward_segments(segments, only_middle.empty_memory(1))
    torch.testing.assert_close(got[-1], expected[-1])
    assert memory[0].M.abs().max() == 0 and memory[1].M.abs().max() > 0  # only layer 1 writes
    with pytest.raises(ValueError, match="outside"):
        InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(memory_layers=[3]))


def test_query_gates_start_as_the_static_gates_then_follow_each_token(tiny_llama, tmp_path):
    segments = list(torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(6)).split(16, dim=1))
    static = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, update_rule="deltanet", gate_init=0.0))
    with torch.no_grad():
        static.attention_layers()[1].memory_gate[:] = torch.linspace(-2.0, 2.0, 6)
    path = tmp_path / "static.safetensors"
    save_adapter(static, path, {"base_model_fingerprint": base_fingerprint(tiny_llama),
                                "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0}})
    query = InfiniModel(copy.deepcopy(tiny_llama),
                        InfiniConfig(segment_len=16, update_rule="deltanet", gate_init=0.0, query_gate=True))
    with pytest.raises(ValueError, match="does not fit"):  # a static artifact lacks W_g ...
        load_trained_weights(query, path)
    load_trained_weights(query, path, fresh=["memory_gate_proj"])  # ... which training's next stage starts at zero
    with torch.no_grad():
        expected, _ = static.forward_segments(segments, static.empty_memory(1))
        got, _ = query.forward_segments(segments, query.empty_memory(1))
    torch.testing.assert_close(got[-1], expected[-1])

    # With W_g set, each token's gate is sigmoid(beta + x_t W_g), x_t the attention's input (hooked here).
    layer = query.attention_layers()[1]
    with torch.no_grad():
        layer.memory_gate_proj.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(7))
    inputs = []
    layer.register_forward_pre_hook(lambda mod, args, kwargs: inputs.append(kwargs["hidden_states"]), with_kwargs=True)
    query.context.gate_log = []
    with torch.no_grad():
        changed, _ = query.forward_segments(segments, query.empty_memory(1))
    logged, query.context.gate_log = query.context.gate_log, None
    assert len(logged) == 3 * 3  # 3 segments x 3 layers
    assert all(g.abs().max() == 0 for g in logged[:3])  # the first segment has nothing to read: gates shut
    x = inputs[2]  # layer 1's input in the third segment: (1, 16, 96)
    reference = torch.sigmoid(layer.memory_gate.detach() + x @ layer.memory_gate_proj.weight.T).transpose(1, 2)
    torch.testing.assert_close(logged[2 * 3 + 1], reference)  # (1, 6 heads, 16 tokens)
    assert reference.std(dim=-1).min() > 0.01  # the gate now varies from token to token
    assert (changed[-1] - expected[-1]).abs().max() > 1e-3
