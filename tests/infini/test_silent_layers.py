"""research/silent_layers.py: the given layers write (almost) nothing and keep their gates; the others are untouched."""
import copy

import torch

from infini.adapter import load_adapter, save_adapter
from infini.model import base_fingerprint


def test_silenced_layers_keep_an_almost_empty_memory_and_their_gates(tiny_llama, open_deltanet, bench_script, tmp_path):
    model = open_deltanet(tiny_llama, segment_len=16)
    source, out = tmp_path / "a.safetensors", tmp_path / "silent.safetensors"
    save_adapter(model, source, {"base_model_fingerprint": base_fingerprint(tiny_llama),
                                 "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0}})
    bench_script("silent_layers").main([str(source), "1-2", str(out)])
    silent = load_adapter(copy.deepcopy(tiny_llama), out)
    ids = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(1))
    context = silent.context
    with torch.no_grad():
        _, memory = silent.forward_segments(list(ids.split(16, dim=1)), silent.empty_memory(1))
        context.gate_log = []
        silent.segment_hidden(ids[:, :16], memory, write=False)
        gates, context.gate_log = context.gate_log, None
        _, kept = model.forward_segments(list(ids.split(16, dim=1)), model.empty_memory(1))
    assert [float(entry.M.abs().max()) < 1e-6 for entry in memory] == [False, True, True]
    torch.testing.assert_close(memory[0].M, kept[0].M)  # layer 0 writes as before
    assert all(float(g.min()) > 0.4 for g in gates)  # gate_init 0: sigmoid(0) = 0.5 in every layer, still on
