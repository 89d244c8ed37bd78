"""Segment-parallel ingestion (InfiniModel.write_segments) against segment-by-segment ingestion."""
import copy

import pytest
import torch

from infini import InfiniConfig, InfiniModel, InfiniReader
from infini.attention import scan_segments, segments_to_sequence, sequence_to_segments

RULES = [
    {"update_rule": "linear"},
    {"update_rule": "delta"},
    {"update_rule": "deltanet"},
    {"update_rule": "deltanet", "key_conv": 4},
    {"update_rule": "deltanet", "key_conv": 3, "value_shift": True, "read_cap": 1.0},
    {"update_rule": "deltanet", "key_conv": 4, "decay_gate": True},
]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize("settings", RULES, ids=lambda s: "-".join(map(str, s.values())))
def test_parallel_state_equals_sequential_per_layer(tiny_llama, tokenizer, language_reference, settings):
    """Every layer's M, z and convolution tails within 1e-4 relative error (fp32) of segment by segment,
    for windows that do and do not divide the document's segment count."""
    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=32, gate_init=0.0, **settings))
    if model.config.decay_gate:  # a decay that matters (about 0.9 a token, varying), not the near-1 start
        torch.manual_seed(0)
        for layer in model.attention_layers():
            layer.memory_decay.bias.data.fill_(-2.0)
            layer.memory_decay.weight.data.normal_(0.0, 0.05)
    text = language_reference[:9000]
    sequential = InfiniReader(model, tokenizer, segments_per_pass=1).ingest(text)
    assert sequential.extra["segments"] > 60
    for window in (None, 7):
        parallel = InfiniReader(model, tokenizer, segments_per_pass=window).ingest(text)
        assert parallel.tail == sequential.tail and parallel.extra == sequential.extra
        for layer, (seq, par) in enumerate(zip(sequential.memory, parallel.memory, strict=True)):
            assert par.tensors().keys() == seq.tensors().keys()
            for name, a in par.tensors().items():
                b = seq.tensors()[name]
                assert a.shape == b.shape
                if b.abs().max() > 0:
                    assert relative_error(a, b) < 1e-4, (layer, name)
                else:
                    assert a.abs().max() == 0, (layer, name)
        assert sequential.memory[0].M.abs().max() > 0  # something was written


def test_parallel_windows_are_bounded_by_the_token_budget(tiny_llama, tokenizer, language_reference, monkeypatch):
    """Automatic windows never put more than PASS_TOKENS tokens through the layers at once."""
    import infini.stream as stream

    monkeypatch.setattr(stream, "PASS_TOKENS", 32 * 5)
    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=32, update_rule="deltanet"))
    widths = []
    original = model.write_segments
    model.write_segments = lambda ids, memory: widths.append(ids.shape) or original(ids, memory)
    InfiniReader(model, tokenizer).ingest_many([language_reference[:3000], language_reference[3000:4000]])
    assert max(b * w * t for b, w, t in widths) <= 32 * 5
    assert max(w for _, w, _ in widths) == 5  # the lone long document gets the whole budget


def test_scan_matches_a_loop_and_sequence_round_trip():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2 * 3, 4, 5, 6, generator=g)  # (B * W, H, T, d)
    joined = segments_to_sequence(x, 3)
    assert joined.shape == (2, 4, 15, 6)
    torch.testing.assert_close(joined[1, :, 5:10], x[4])  # document 1's second segment
    torch.testing.assert_close(sequence_to_segments(joined, 3), x)
    state = (torch.zeros(2, 6),)
    writes = (torch.randn(6, 6, generator=g),)
    before, final = scan_segments(lambda s, w: (s * 0.5 + w,), state, writes, 3)
    expected = torch.zeros(2, 6)
    for w in range(3):
        torch.testing.assert_close(before[0][w::3], expected)
        expected = expected * 0.5 + writes[0][w::3]
    torch.testing.assert_close(final[0], expected)


def _loss_and_grads(model, segments, per_pass, grad_segments, checkpointed):
    model.zero_grad()
    hiddens, _ = model.forward_segments(segments, model.empty_memory(2), checkpointed=checkpointed,
                                        grad_segments=grad_segments, segments_per_pass=per_pass)
    loss = sum(model.logits(h).float().logsumexp(-1).mean() for h in hiddens[-2:])
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.lm.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("grad_segments", [None, 2])
def test_training_through_windows_gives_the_same_loss_and_gradients(tiny_llama, grad_segments):
    """forward_segments with several segments per pass (checkpointed or not, windows that split the
    detached and the back-propagated segments) matches one segment per pass, gradients included."""
    from infini.model import mark_trainable

    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, gate_init=0.0, update_rule="deltanet", key_conv=3))
    model.train()
    mark_trainable(model.lm)
    ids = torch.randint(0, 49152, (2, 7 * 16), generator=torch.Generator().manual_seed(3))
    segments = list(ids.split(16, dim=1))
    loss, grads = _loss_and_grads(model, segments, 1, grad_segments, checkpointed=True)
    assert any("memory_beta" in n for n in grads) and any("memory_conv_k" in n for n in grads)
    for per_pass, checkpointed in ((3, True), (4, False), (7, True)):
        other_loss, other = _loss_and_grads(model, segments, per_pass, grad_segments, checkpointed)
        torch.testing.assert_close(other_loss, loss, rtol=1e-5, atol=0)
        assert other.keys() == grads.keys()
        for name in grads:
            scale = grads[name].abs().max().clamp_min(1e-12)
            assert ((other[name] - grads[name]).abs().max() / scale).item() < 1e-3, (per_pass, name)
