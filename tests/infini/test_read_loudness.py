"""research/read_loudness.py's recorder: it must see every layer's read without changing what the model computes."""
import copy

import pytest
import torch

from infini import InfiniConfig, InfiniModel
from infini.attention import cap_to


@pytest.mark.parametrize("read_cap", [0.0, 0.5])
def test_recorded_reads_are_the_reads_the_model_mixes_in_and_leave_its_output_unchanged(tiny_llama, bench_script,
                                                                                        read_cap):
    read_loudness = bench_script("read_loudness")
    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(gate_init=0.0, update_rule="deltanet",
                                                                 segment_len=16, read_cap=read_cap))
    segments = list(torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(3)).split(16, dim=1))
    with torch.no_grad():
        expected, _ = model.forward_segments(segments, model.empty_memory(1))
        with read_loudness.recorded_reads(model) as calls:
            got, _ = model.forward_segments(segments, model.empty_memory(1))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    assert len(calls) == 3 * len(model.attention_layers())  # one per layer and segment
    for raw, read, local in calls:
        assert raw.shape == read.shape == local.shape == (1, 6, 16, 16)
        torch.testing.assert_close(read, cap_to(raw, local, read_cap) if read_cap else raw)
    if read_cap:  # the cap bit somewhere: the recorder gave the capped read, not the raw one
        assert any((raw - read).abs().max() > 1e-4 for raw, read, _ in calls[len(model.attention_layers()):])
    assert [layer.read_cap for layer in model.attention_layers()] == [read_cap] * 3  # restored
