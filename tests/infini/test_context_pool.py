"""The pooled memory queries and keys variant (InfiniConfig.context_pool, attention.attention_pool)."""
import math

import pytest
import torch

from infini.attention import attention_pool


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


def test_zero_mix_reads_and_writes_like_the_model_without_it_and_a_mix_changes_both(
        tiny_llama, open_deltanet, start_and_randomized,
):
    plain, pooled = open_deltanet(tiny_llama, key_conv=3), open_deltanet(tiny_llama, key_conv=3, context_pool=True)
    hidden_change, memory_change = start_and_randomized(plain, pooled, "memory_pool")
    assert hidden_change > 1e-3  # the pooled queries are read with
    assert memory_change > 1e-3  # the pooled keys are written


def test_writing_segments_together_gives_the_memory_of_writing_them_one_by_one(tiny_llama, open_deltanet, randomize):
    model = open_deltanet(tiny_llama, key_conv=3, context_pool=True, segment_len=16)
    randomize(model, "memory_pool", 3)
    segments = list(tokens(4, 64).split(16, dim=1))
    with torch.no_grad():
        _, one_by_one = model.forward_segments(segments, model.empty_memory(1))
        _, together = model.forward_segments(segments, model.empty_memory(1), segments_per_pass=4)
    for a, b in zip(one_by_one, together):
        torch.testing.assert_close(b.M, a.M, rtol=1e-4, atol=1e-5)


def test_decoding_token_by_token_gives_the_hidden_states_of_the_whole_answer_segment(
        tiny_llama, open_deltanet, randomize, check_decoding_token_by_token,
):
    model = open_deltanet(tiny_llama, key_conv=3, context_pool=True)
    randomize(model, "memory_pool", 5)
    check_decoding_token_by_token(model, 6)  # each new token's pooled query must gather the prompt's memory queries too


def test_a_stage_adds_fresh_pools_to_an_artifact_without_them_and_refuses_to_drop_them(
        tiny_llama, tokenizer, tmp_path, open_deltanet, randomize,
):
    from infini.adapter import add_lora, save_adapter
    from infini.model import base_fingerprint
    from infini.train import DEFAULTS, build_model, make_optimizer

    folder = tmp_path / "base"
    tiny_llama.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    recipe = {**DEFAULTS, "segment_len": 16, "update_rule": "deltanet", "lora_rank": 2, "lora_alpha": 4, "key_conv": 3}
    artifacts = {}
    for pooled in (False, True):
        model = open_deltanet(tiny_llama, key_conv=3, context_pool=pooled, segment_len=16)
        add_lora(model, 2, 4, recipe["lora_targets"])
        if pooled:
            randomize(model, "memory_pool", 8)
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
