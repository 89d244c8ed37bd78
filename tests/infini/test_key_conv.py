"""The key convolution variant (InfiniConfig.key_conv, attention.causal_conv)."""
import copy

import pytest
import torch

from infini import InfiniReader, MemoryState
from infini.attention import causal_conv


def test_causal_conv_is_the_direct_sum_and_carries_its_tail_across_a_cut():
    g = torch.Generator().manual_seed(0)
    x, weight = torch.randn(1, 2, 10, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    expected = torch.zeros_like(x)
    for h in range(2):
        for t in range(10):
            for j in range(3):  # tap j sees token t - 2 + j; before the document: nothing
                if t - 2 + j >= 0:
                    expected[0, h, t] += weight[h, j] * x[0, h, t - 2 + j]
    whole, tail = causal_conv(x, torch.zeros(1, 2, 2, 4), weight)
    torch.testing.assert_close(whole, expected)
    torch.testing.assert_close(tail, x[:, :, -2:])
    first, carried = causal_conv(x[:, :, :4], torch.zeros(1, 2, 2, 4), weight)
    second, _ = causal_conv(x[:, :, 4:], carried, weight)
    torch.testing.assert_close(torch.cat([first, second], dim=2), expected)


def test_a_negative_or_fractional_window_is_refused_with_a_clear_message(tiny_llama, open_deltanet):
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="key_conv is a number of tokens"):
            open_deltanet(tiny_llama, key_conv=bad)


def test_identity_taps_read_and_write_like_the_model_without_them(tiny_llama, open_deltanet, start_and_randomized):
    hidden_change, _ = start_and_randomized(open_deltanet(tiny_llama), open_deltanet(tiny_llama, key_conv=4), "memory_conv")
    assert hidden_change > 1e-3  # the taps are used


def test_the_key_tail_is_the_last_key_projections_and_the_state_keeps_it(
        tiny_llama, tokenizer, language_reference, tmp_path, open_deltanet, randomize,
):
    model = open_deltanet(tiny_llama, key_conv=3, segment_len=32)
    randomize(model, "memory_conv", 3)
    reader = InfiniReader(model, tokenizer)
    text = language_reference[:3000]
    keys = []  # layer 0's key projections of every segment written
    hook = model.attention_layers()[0].k_proj.register_forward_hook(lambda mod, inp, out: keys.append(out))
    whole = reader.ingest(text)
    hook.remove()
    streamed = reader.new_state()
    for a, b in zip([0, 5, 1234, 2100], [5, 1234, 2100, len(text)]):
        reader.feed(streamed, text[a:b])
    assert whole.extra["segments"] >= 10 and whole.memory[0].q_tail is not None
    last_keys = keys[-1][-1:].view(1, 32, 2, 16).transpose(1, 2)[:, :, -2:]  # the last segment written (B, G, K-1, d)
    torch.testing.assert_close(whole.memory[0].k_tail, last_keys)
    path = tmp_path / "doc.state"
    whole.save(path)
    loaded = MemoryState.load(path, expected_fingerprint=reader.fingerprint())
    for entry, other, again in zip(whole.memory, streamed.memory, loaded.memory):
        assert entry.tensors().keys() == other.tensors().keys() == again.tensors().keys() == {"M", "z", "q_tail", "k_tail"}
        for a, b, c in zip(entry, other, again):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
            assert torch.equal(c, a)


def test_decoding_token_by_token_gives_the_hidden_states_of_the_whole_answer_segment(
        tiny_llama, open_deltanet, randomize, check_decoding_token_by_token,
):
    model = open_deltanet(tiny_llama, key_conv=4)
    randomize(model, "memory_conv", 4)
    check_decoding_token_by_token(model, 5)  # the query convolution must see the answer's tokens, not the memory's tail


def test_taps_learn_at_their_own_rate_or_the_gates_and_the_earlier_taps_get_a_gradient_from_the_start(
        tiny_llama, open_deltanet,
):
    from infini.adapter import add_lora
    from infini.model import mark_trainable
    from infini.train import DEFAULTS, make_optimizer

    model = open_deltanet(tiny_llama, key_conv=3, segment_len=16)
    add_lora(model, 2, 4, ["q_proj", "k_proj", "v_proj"])
    mark_trainable(model.lm)
    taps = {id(p) for a in model.attention_layers() for p in (a.memory_conv_q, a.memory_conv_k)}
    for lr_conv, expected_lr in ((0.02, 0.02), (None, 0.01)):
        groups = make_optimizer(model, {**DEFAULTS, "lr_gate": 0.01, "lr_adapter": 1e-4, "lr_conv": lr_conv}).param_groups
        assert [g["lr"] for g in groups if {id(p) for p in g["params"]} & taps] == [expected_lr]
        assert {id(p) for g in groups if g["lr"] == expected_lr for p in g["params"]} >= taps
    segments = list(torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(6)).split(16, dim=1))
    hiddens, _ = model.forward_segments(segments, model.empty_memory(1))
    hiddens[-1].pow(2).mean().backward()
    for layer in model.attention_layers():  # identity taps: the earlier ones are 0 but already move
        assert layer.memory_conv_k.grad[:, :-1].abs().max() > 0 and layer.memory_conv_q.grad[:, :-1].abs().max() > 0


def test_fixed_shift_artifact_puts_its_taps_in_every_layer_and_zero_shift_is_the_artifact_itself(
        tiny_llama, tmp_path, bench_script, open_deltanet,
):
    from infini.adapter import add_lora, load_adapter, save_adapter
    from infini.model import base_fingerprint

    shift_taps = bench_script("shift_taps")

    model = open_deltanet(tiny_llama, segment_len=16)
    add_lora(model, 2, 4, ["q_proj", "k_proj", "v_proj"])
    with torch.no_grad():  # an artifact whose memory is read (open gates, LoRA B not zero)
        for name, param in model.lm.named_parameters():
            if "lora_B" in name:
                param.copy_(0.1 * torch.randn(param.shape, generator=torch.Generator().manual_seed(7)))
            elif name.endswith("memory_gate"):
                param.fill_(2.0)
    plain = tmp_path / "plain.safetensors"
    save_adapter(model, plain, {"base_model_fingerprint": base_fingerprint(tiny_llama),
                                "infini": {"segment_len": 16, "update_rule": "deltanet", "gate_init": 0.0},
                                "lora": {"rank": 2, "alpha": 4, "targets": ["q_proj", "k_proj", "v_proj"]}})
    segments = list(torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(8)).split(16, dim=1))

    def last_hidden(path):
        loaded = load_adapter(copy.deepcopy(tiny_llama), path)
        with torch.no_grad():
            return loaded, loaded.forward_segments(segments, loaded.empty_memory(1))[0][-1]

    _, expected = last_hidden(plain)
    for taps in ("0,1", "0.25,0.5,1"):
        shift_taps.main([str(plain), str(tmp_path / f"{taps}.safetensors"), "--taps", taps])
        loaded, got = last_hidden(tmp_path / f"{taps}.safetensors")
        weights = [float(w) for w in taps.split(",")]
        assert loaded.config.key_conv == len(weights)
        for layer in loaded.attention_layers():  # (Hq, K, d) and (G, K, d), the same taps in every head and channel
            assert layer.memory_conv_q.shape == (6, len(weights), 16) and layer.memory_conv_k.shape == (2, len(weights), 16)
            for taps_param in (layer.memory_conv_q, layer.memory_conv_k):
                torch.testing.assert_close(taps_param.detach(), torch.tensor(weights).view(1, -1, 1).expand_as(taps_param))
        if taps == "0,1":
            torch.testing.assert_close(got, expected)
        else:
            assert (got - expected).abs().max() > 1e-3


def test_a_state_saved_before_any_segment_is_written_round_trips(tiny_llama, tokenizer, tmp_path, open_deltanet):
    """A document shorter than a segment leaves the empty memory, tails included: it saves and loads."""
    reader = InfiniReader(open_deltanet(tiny_llama, key_conv=4, segment_len=32), tokenizer)
    state = reader.ingest("A short note.")
    assert state.extra.get("segments", 0) == 0
    state.save(tmp_path / "short.state")
    loaded = MemoryState.load(tmp_path / "short.state", expected_fingerprint=reader.fingerprint())
    assert len(loaded.memory) == 3 and all(len(entry.tensors()) == 4 for entry in loaded.memory) and loaded.tail == state.tail


def test_a_wider_window_loads_narrower_taps_as_the_latest_and_reads_like_the_artifact(
        tiny_llama, tmp_path, open_deltanet, randomize,
):
    """Training's next stage may widen the convolution (recipe key_conv above the init artifact's)."""
    from infini.adapter import load_trained_weights, save_adapter

    narrow = open_deltanet(tiny_llama, key_conv=2, segment_len=16)
    randomize(narrow, "memory_conv", 3)
    path = tmp_path / "narrow.safetensors"
    save_adapter(narrow, path, {"infini": {"segment_len": 16, "update_rule": "deltanet", "key_conv": 2}})
    wide = open_deltanet(tiny_llama, key_conv=5, segment_len=16)
    load_trained_weights(wide, path)
    for before, after in zip(narrow.attention_layers(), wide.attention_layers()):
        for name in ("memory_conv_q", "memory_conv_k"):
            taps, widened = getattr(before, name).detach(), getattr(after, name).detach()
            assert widened.shape[1] == 5
            torch.testing.assert_close(widened[:, 3:], taps)  # the artifact's taps at the latest offsets
            assert widened[:, :3].abs().max() == 0  # the added, earlier tokens start unused
    segments = list(torch.randint(0, 49152, (1, 64), generator=torch.Generator().manual_seed(4)).split(16, dim=1))
    with torch.no_grad():
        expected, expected_memory = narrow.forward_segments(segments, narrow.empty_memory(1))
        got, memory = wide.forward_segments(segments, wide.empty_memory(1))
    torch.testing.assert_close(got[-1], expected[-1])
    for entry, entry_wide in zip(expected_memory, memory):
        torch.testing.assert_close(entry_wide.M, entry.M)
