"""The layers' match_log and infini.train.logged_keys (research/key_margin.py, match_loss): the keys a memory stored, position by position."""
import copy

import torch

from infini import InfiniConfig, InfiniModel
from infini.train import logged_keys as logged


def logged_keys(model: InfiniModel, ids: torch.Tensor, window: int) -> tuple[dict, list]:
    """Write `ids` (1, S * T) in passes of `window` segments with the match log on: (the log's keys (G, S * T, d)
    and write strengths (G, S * T) per layer; the memory left)."""
    segments = ids.view(1, -1, model.config.segment_len)
    memory = model.empty_memory(1)
    model.context.match_log = []
    with torch.no_grad():
        for start in range(0, segments.shape[1], window):
            _, memory = model.write_segments(segments[:, start:start + window], memory)
    log, model.context.match_log = model.context.match_log, None
    return {layer: (k[0], b[0]) for layer, (k, b) in logged(log, 1).items()}, memory


def test_stored_keys_line_up_with_the_document_whatever_the_window(tiny_llama):
    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=8, update_rule="deltanet", key_conv=3))
    with torch.no_grad():
        for name, param in model.lm.named_parameters():
            if "memory_conv" in name:
                param.normal_(generator=torch.Generator().manual_seed(0))
    ids = torch.randint(0, 49152, (1, 32), generator=torch.Generator().manual_seed(1))
    one_by_one, _ = logged_keys(model, ids, 1)
    windowed, _ = logged_keys(model, ids, 2)
    layers = model.attention_layers()
    assert sorted(one_by_one) == list(range(len(layers)))
    for layer in one_by_one:
        keys, strength = one_by_one[layer]
        assert keys.shape == (layers[layer].num_kv_heads, 32, layers[layer].head_dim) and strength.shape == (keys.shape[0], 32)
        torch.testing.assert_close(keys.norm(dim=-1), torch.ones(keys.shape[:2]))  # unit keys, as deltanet_update takes them
        torch.testing.assert_close(windowed[layer][0], keys, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(windowed[layer][1], strength, atol=1e-5, rtol=1e-4)
    # Independent check of the order: layer 0's keys are its input embeddings projected, then convolved over 3
    # tokens, so changing token 20 (segment 2) changes exactly the keys at positions 20, 21 and 22.
    changed = ids.clone()
    changed[0, 20] = (changed[0, 20] + 1) % 49152
    other, _ = logged_keys(model, changed, 2)
    differs = (other[0][0] - one_by_one[0][0]).abs().amax(dim=(0, 2)) > 1e-6  # (32,)
    assert differs.nonzero().flatten().tolist() == [20, 21, 22]
