"""The value-shift variant (InfiniConfig.value_shift, attention.next_token_pairs): key t stores value t+1."""
import copy

import torch
from test_memory_math import elu_plus_one, naive_deltanet

from infini import InfiniConfig, InfiniModel

SEGMENT = 16


def written_memory(lm, update_rule: str, value_shift: bool, segments):
    """Layer 0's memory after the segments, and what its projections produced (recorded by hooks)."""
    model = InfiniModel(copy.deepcopy(lm), InfiniConfig(gate_init=0.0, update_rule=update_rule, value_shift=value_shift,
                                                         segment_len=SEGMENT))
    layer = model.attention_layers()[0]
    recorded = {"k": [], "v": [], "beta": []}
    hooks = [layer.k_proj.register_forward_hook(lambda m, i, out: recorded["k"].append(out)),
             layer.v_proj.register_forward_hook(lambda m, i, out: recorded["v"].append(out))]
    if update_rule == "deltanet":
        with torch.no_grad():  # a write strength that varies by token, so a misaligned beta shows
            layer.memory_beta.weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(4))
        hooks.append(layer.memory_beta.register_forward_hook(lambda m, i, out: recorded["beta"].append(torch.sigmoid(out))))
    with torch.no_grad():
        _, memory = model.forward_segments(segments, model.empty_memory(1))
    for hook in hooks:
        hook.remove()
    G, d = layer.num_kv_heads, layer.head_dim
    per_head = {name: [x.view(SEGMENT, G, -1).squeeze(-1) if name == "beta" else x.view(SEGMENT, G, -1) for x in xs]
                for name, xs in recorded.items()}  # layer 0 sees the embeddings: one record per segment
    return (memory[0].M, memory[0].z), per_head, G, d


def random_segments(seed: int, count: int = 3):
    return list(torch.randint(0, 49152, (1, SEGMENT * count), generator=torch.Generator().manual_seed(seed)).split(SEGMENT, dim=1))


def test_deltanet_with_value_shift_writes_each_key_with_the_next_tokens_value(tiny_llama):
    segments = random_segments(5)
    (M, _z), rec, G, d = written_memory(tiny_llama, "deltanet", True, segments)
    for g in range(G):
        expected = torch.zeros(d, d, dtype=torch.float64)
        for k, v, beta in zip(rec["k"], rec["v"], rec["beta"]):  # pairs stay inside a segment
            k, v, beta = k[:, g].double(), v[:, g].double(), beta[:, g].double()
            expected = naive_deltanet(k[:-1], v[1:], beta[:-1], expected)
        torch.testing.assert_close(M[0, g].double(), expected, rtol=1e-4, atol=1e-5)
    (M_plain, _), *_ = written_memory(tiny_llama, "deltanet", False, segments)
    assert (M_plain - M).abs().max() > 1e-2  # the shift changes what is stored


def test_linear_rule_with_value_shift_writes_next_values_and_counts_the_keys_it_wrote(tiny_llama):
    segments = random_segments(6, count=2)
    (M, z), rec, G, d = written_memory(tiny_llama, "linear", True, segments)
    for g in range(G):
        expected_M, expected_z = torch.zeros(d, d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
        for k, v in zip(rec["k"], rec["v"]):
            for t in range(SEGMENT - 1):  # Eq. 8 token by token, key t with value t + 1
                key = elu_plus_one(k[t, g].double())
                expected_M += torch.outer(key, v[t + 1, g].double())
                expected_z += key
        torch.testing.assert_close(M[0, g].double(), expected_M, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(z[0, g].double(), expected_z, rtol=1e-4, atol=1e-4)
