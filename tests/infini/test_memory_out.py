"""The memory read's own output map (InfiniConfig.memory_out_rank): how it starts, what it changes, how it
trains and loads."""
import copy

import pytest
import torch

from infini import InfiniConfig, InfiniModel
from infini.adapter import add_lora, load_adapter, save_adapter
from infini.model import base_fingerprint, mark_trainable
from infini.train import DEFAULTS, build_model, make_optimizer

LORA = {"rank": 2, "alpha": 4, "targets": ["q_proj", "k_proj", "v_proj"]}


def memory_model(lm, rank=4) -> InfiniModel:
    model = InfiniModel(copy.deepcopy(lm), InfiniConfig(segment_len=16, update_rule="deltanet", gate_init=0.0,
                                                        memory_out_rank=rank))
    add_lora(model, LORA["rank"], LORA["alpha"], LORA["targets"])
    mark_trainable(model.lm)
    return model


def segment_hiddens(model, ids):
    with torch.no_grad():
        hiddens, _ = model.forward_segments(list(ids.split(16, dim=1)), model.empty_memory(1))
    return hiddens


def card(lm, rank):
    return {"base_model_fingerprint": base_fingerprint(lm), "lora": LORA,
            "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "memory_out_rank": rank}}


def test_a_fresh_output_map_reads_exactly_like_the_model_without_it(tiny_llama):
    ids = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(1))
    without, fresh = memory_model(tiny_llama, 0), memory_model(tiny_llama)
    fresh.lm.load_state_dict(without.lm.state_dict(), strict=False)  # the same LoRA and gates
    assert not hasattr(without.attention_layers()[0], "memory_out_up")
    for a, b in zip(segment_hiddens(without, ids), segment_hiddens(fresh, ids)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_trained_output_map_changes_only_what_reads_a_memory(tiny_llama):
    ids = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(2))
    without, trained = memory_model(tiny_llama, 0), memory_model(tiny_llama)
    trained.lm.load_state_dict(without.lm.state_dict(), strict=False)
    with torch.no_grad():
        for layer in trained.attention_layers():
            layer.memory_out_up.weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(layer.layer_idx))
    first_a, *later_a = segment_hiddens(without, ids)
    first_b, *later_b = segment_hiddens(trained, ids)
    torch.testing.assert_close(first_a, first_b, rtol=0, atol=0)  # the first segment reads an empty memory
    for a, b in zip(later_a, later_b):
        assert (a - b).abs().max() > 1e-3


def test_the_output_map_trains_with_the_adapters(tiny_llama, backward_on_a_random_answer):
    model = memory_model(tiny_llama)
    backward_on_a_random_answer(model)
    layers = model.attention_layers()
    # up starts at zero (as LoRA's B), so it takes the first gradient; down's follows once up has moved
    assert all(a.memory_out_up.weight.grad.abs().sum() > 0 for a in layers)
    optimizer = make_optimizer(model, {**DEFAULTS, "lr_gate": 0.01, "lr_adapter": 1e-4})
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in optimizer.param_groups}
    assert {id(p) for a in layers for p in (a.memory_out_down.weight, a.memory_out_up.weight)} <= by_lr[1e-4]


def test_an_artifact_with_an_output_map_loads_with_it(tiny_llama, tmp_path):
    model = memory_model(tiny_llama)
    with torch.no_grad():
        for layer in model.attention_layers():
            layer.memory_out_up.weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(layer.layer_idx))
    path = tmp_path / "out.safetensors"
    save_adapter(model, path, card(tiny_llama, 4))
    loaded = load_adapter(copy.deepcopy(tiny_llama), path)
    assert loaded.config.memory_out_rank == 4
    ids = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(3))
    for a, b in zip(segment_hiddens(model, ids), segment_hiddens(loaded, ids)):
        torch.testing.assert_close(a, b)


def test_a_recipe_adds_an_output_map_to_an_artifact_without_one_and_keeps_one_it_has(tiny_llama, tokenizer, tmp_path):
    folder = tmp_path / "tiny"
    tiny_llama.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    plain, mapped = tmp_path / "plain.safetensors", tmp_path / "mapped.safetensors"
    save_adapter(memory_model(tiny_llama, 0), plain, card(tiny_llama, 0))
    save_adapter(memory_model(tiny_llama, 4), mapped, card(tiny_llama, 4))
    recipe = {**DEFAULTS, "segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "lora_rank": 2, "lora_alpha": 4}
    model, _ = build_model({**recipe, "init_adapter": str(plain), "memory_out_rank": 4}, str(folder))
    assert all(a.memory_out_up.weight.abs().sum() == 0 for a in model.attention_layers())  # starts fresh
    with pytest.raises(SystemExit, match="memory_out_rank"):
        build_model({**recipe, "init_adapter": str(mapped), "memory_out_rank": 0}, str(folder))
    with pytest.raises(ValueError, match="memory_out_rank"):
        InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, memory_out_rank=-1))
