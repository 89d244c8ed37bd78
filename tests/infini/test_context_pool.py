"""The pooled memory queries and keys variant (InfiniConfig.context_pool, attention.attention_pool)."""
import copy
import math

import pytest
import torch

from infini import InfiniConfig, InfiniModel
from infini.attention import attention_pool


def convert(lm, **kwargs):
    return InfiniModel(copy.deepcopy(lm), InfiniConfig(gate_init=0.0, update_rule="deltanet", **kwargs))


def random_pools(model: InfiniModel, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.lm.named_parameters():
            if "memory_pool" in name:
                param.copy_(torch.randn(param.shape, generator=g))


def tokens(seed: int, count: int) -> torch.Tensor:
    return torch.randint(0, 49152, (1, count), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("value_heads", [6, 2])
def test_attention_pool_is_the_causal_softmax_weighted_sum_written_out(value_heads):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 6, 5, 4, generator=g), torch.randn(1, 2, 7, 4, generator=g)  # 5 queries, the last of 7 keys
    x = torch.randn(1, value_heads, 7, 4, generator=g)
    expected = torch.zeros(1, 6, 5, 4)
    for h in range(6):
        group = h // 3  # query head h scores KV head h // R, R = 3
        for t in range(5):
            seen = range(0, 2 + t + 1)  # query t sits at key position 2 + t and sees keys 0 .. 2 + t
            scores = torch.tensor([float(q[0, h, t] @ k[0, group, s]) / math.sqrt(4) for s in seen])
            weights = scores.softmax(dim=0)
            row = h if value_heads == 6 else group
            expected[0, h, t] = sum(w * x[0, row, s] for w, s in zip(weights, seen))
    torch.testing.assert_close(attention_pool(q, k, x), expected)


def test_zero_mix_reads_and_writes_like_the_model_without_it_and_a_mix_changes_both(tiny_llama):
    segments = list(tokens(1, 48).split(16, dim=1))
    plain, pooled = convert(tiny_llama, key_conv=3), convert(tiny_llama, key_conv=3, context_pool=True)
    with torch.no_grad():
        expected, expected_memory = plain.forward_segments(segments, plain.empty_memory(1))
        got, memory = pooled.forward_segments(segments, pooled.empty_memory(1))
        random_pools(pooled, 2)
        changed, changed_memory = pooled.forward_segments(segments, pooled.empty_memory(1))
    torch.testing.assert_close(got[-1], expected[-1])
    for entry, entry_pooled in zip(expected_memory, memory):
        torch.testing.assert_close(entry_pooled.M, entry.M)
    assert (changed[-1] - expected[-1]).abs().max() > 1e-3  # the pooled queries are read with
    assert (changed_memory[0].M - expected_memory[0].M).abs().max() > 1e-3  # the pooled keys are written


def test_writing_segments_together_gives_the_memory_of_writing_them_one_by_one(tiny_llama):
    model = convert(tiny_llama, key_conv=3, context_pool=True, segment_len=16)
    random_pools(model, 3)
    segments = list(tokens(4, 64).split(16, dim=1))
    with torch.no_grad():
        _, one_by_one = model.forward_segments(segments, model.empty_memory(1))
        _, together = model.forward_segments(segments, model.empty_memory(1), segments_per_pass=4)
    for a, b in zip(one_by_one, together):
        torch.testing.assert_close(b.M, a.M, rtol=1e-4, atol=1e-5)


def test_decoding_token_by_token_gives_the_hidden_states_of_the_whole_answer_segment(tiny_llama):
    model = convert(tiny_llama, key_conv=3, context_pool=True)
    random_pools(model, 5)
    document, answer = tokens(6, 20), tokens(7, 20)
    with torch.no_grad():
        _, memory = model.segment_hidden(document, model.empty_memory(1))
        whole, _ = model.segment_hidden(answer, memory, write=False)
        cache: list = []
        hidden, _ = model.segment_hidden(answer[:, :14], memory, write=False, local_kv=cache)
        steps = [hidden[:, -1]]
        for t in range(14, 20):  # each new token's pooled query must gather the prompt's memory queries too
            hidden, _ = model.segment_hidden(answer[:, t:t + 1], memory, write=False, position_offset=t, local_kv=cache)
            steps.append(hidden[:, -1])
    torch.testing.assert_close(torch.stack(steps, dim=1), whole[:, 13:], rtol=0, atol=1e-4)


def test_a_stage_adds_fresh_pools_to_an_artifact_without_them_and_refuses_to_drop_them(tiny_llama, tokenizer, tmp_path):
    from infini.adapter import add_lora, save_adapter
    from infini.model import base_fingerprint
    from infini.train import DEFAULTS, build_model, make_optimizer

    folder = tmp_path / "base"
    tiny_llama.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    recipe = {**DEFAULTS, "segment_len": 16, "update_rule": "deltanet", "lora_rank": 2, "lora_alpha": 4, "key_conv": 3}
    artifacts = {}
    for pooled in (False, True):
        model = convert(tiny_llama, key_conv=3, context_pool=pooled, segment_len=16)
        add_lora(model, 2, 4, recipe["lora_targets"])
        if pooled:
            random_pools(model, 8)
        artifacts[pooled] = tmp_path / f"pooled-{pooled}.safetensors"
        save_adapter(model, artifacts[pooled], {
            "base_model_fingerprint": base_fingerprint(tiny_llama), "lora": {"rank": 2, "alpha": 4, "targets": recipe["lora_targets"]},
            "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0, "key_conv": 3, "context_pool": pooled}})
    model, _ = build_model({**recipe, "init_adapter": str(artifacts[False]), "context_pool": True}, str(folder))
    layer = model.attention_layers()[0]
    assert layer.memory_pool_q.abs().max() == 0 and layer.memory_pool_k.abs().max() == 0
    assert layer.memory_pool_q.requires_grad
    pools = {id(p) for a in model.attention_layers() for p in (a.memory_pool_q, a.memory_pool_k)}
    for lr_pool, expected_lr in ((None, 0.01), (0.05, 0.05)):  # the pools alone in their group
        groups = make_optimizer(model, {**recipe, "lr_gate": 0.01, "lr_conv": 0.02, "lr_pool": lr_pool}).param_groups
        assert [{id(p) for p in g["params"]} for g in groups if g["lr"] == expected_lr and {id(p) for p in g["params"]} & pools] == [pools]
    with pytest.raises(SystemExit, match="context_pool"):
        build_model({**recipe, "init_adapter": str(artifacts[True])}, str(folder))
