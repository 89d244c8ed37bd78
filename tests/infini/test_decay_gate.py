"""The decay gate (Gated DeltaNet's per-token decay on the deltanet rule): how it starts, learns and loads."""
import copy

import pytest
import torch

from infini import InfiniConfig, InfiniModel
from infini.adapter import add_lora, load_adapter, save_adapter
from infini.model import base_fingerprint, mark_trainable
from infini.train import DEFAULTS, build_model, make_optimizer


def decay_model(lm, decay_gate=True) -> InfiniModel:
    model = InfiniModel(copy.deepcopy(lm), InfiniConfig(segment_len=16, update_rule="deltanet", gate_init=0.0,
                                                        decay_gate=decay_gate))
    add_lora(model, 2, 4, ["q_proj", "k_proj", "v_proj"])
    mark_trainable(model.lm)
    return model


def memory_after(model, ids):
    with torch.no_grad():
        return model.forward_segments(list(ids.split(16, dim=1)), model.empty_memory(1))[1]


def test_only_the_deltanet_rule_takes_a_decay_gate(tiny_llama):
    with pytest.raises(ValueError, match="deltanet"):
        InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, update_rule="delta", decay_gate=True))


def test_a_fresh_decay_gate_barely_decays_and_a_strong_one_forgets_the_start(tiny_llama):
    ids = torch.randint(0, 49152, (1, 64), generator=torch.Generator().manual_seed(1))
    without, fresh = decay_model(tiny_llama, False), decay_model(tiny_llama)
    for a, b in zip(memory_after(without, ids), memory_after(fresh, ids)):
        # 64 tokens at alpha = exp(-softplus(-10)): the memory keeps at least 1 - 64 * 4.5e-5 of itself
        assert (a[0] - b[0]).abs().max() <= 5e-3 * a[0].abs().max()
        assert not torch.equal(a[0], b[0])
    # alpha ~ exp(-softplus(5)) = 0.007 a token: only the last token's write survives in the memory
    with torch.no_grad():
        for layer in fresh.attention_layers():
            layer.memory_decay.bias.fill_(5.0)
    late = ids.clone()
    late[:, :48] = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(2))
    # Layer 0's last segment sees the same tokens either way (deeper layers also see what earlier reads returned)
    a, b = memory_after(fresh, ids)[0].M, memory_after(fresh, late)[0].M
    assert (a - b).abs().max() < 1e-6 * a.abs().max()  # the first 3 segments are forgotten
    assert (memory_after(without, ids)[0].M - memory_after(without, late)[0].M).abs().max() > 1e-2 * a.abs().max()


def test_the_decay_gate_learns_bias_at_its_own_rate_and_weight_with_the_adapters(tiny_llama, backward_on_a_random_answer):
    model = decay_model(tiny_llama)
    backward_on_a_random_answer(model)
    layers = model.attention_layers()
    assert all(a.memory_decay.weight.grad.abs().sum() > 0 and a.memory_decay.bias.grad.abs().sum() > 0 for a in layers[:-1])
    optimizer = make_optimizer(model, {**DEFAULTS, "lr_gate": 0.01, "lr_adapter": 1e-4, "lr_decay": 0.05})
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in optimizer.param_groups}
    assert by_lr[0.05] == {id(a.memory_decay.bias) for a in layers}
    assert {id(a.memory_decay.weight) for a in layers} <= by_lr[1e-4]


def test_an_artifact_with_a_decay_gate_loads_with_it(tiny_llama, tmp_path):
    model = decay_model(tiny_llama)
    with torch.no_grad():
        for layer in model.attention_layers():
            layer.memory_decay.bias.normal_(-3.0, 1.0, generator=torch.Generator().manual_seed(layer.layer_idx))
    path = tmp_path / "decay.safetensors"
    save_adapter(model, path, {"base_model_fingerprint": base_fingerprint(tiny_llama),
                               "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "decay_gate": True},
                               "lora": {"rank": 2, "alpha": 4, "targets": ["q_proj", "k_proj", "v_proj"]}})
    loaded = load_adapter(copy.deepcopy(tiny_llama), path)
    assert loaded.config.decay_gate
    ids = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(3))
    for a, b in zip(memory_after(model, ids), memory_after(loaded, ids)):
        torch.testing.assert_close(a[0], b[0])


def test_a_recipe_without_the_decay_gate_refuses_an_artifact_with_one(tiny_llama, tokenizer, tmp_path):
    """Starting from an artifact with a decay gate, a recipe must keep it: dropping it would answer differently."""
    folder = tmp_path / "tiny"
    tiny_llama.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    path = tmp_path / "decay.safetensors"
    save_adapter(decay_model(tiny_llama), path, {
        "base_model_fingerprint": base_fingerprint(tiny_llama),
        "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "decay_gate": True},
        "lora": {"rank": 2, "alpha": 4, "targets": ["q_proj", "k_proj", "v_proj"]}})
    recipe = {**DEFAULTS, "segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "lora_rank": 2,
              "lora_alpha": 4, "init_adapter": str(path)}
    with pytest.raises(SystemExit, match="decay gate"):
        build_model({**recipe, "decay_gate": False}, str(folder))
    model, _ = build_model({**recipe, "decay_gate": True}, str(folder))
    assert all(a.memory_decay.bias.abs().sum() > 0 for a in model.attention_layers())
