import copy

import pytest
import torch
from safetensors import safe_open

from core.contract import collect
from infini import InfiniConfig, InfiniModel, InfiniReader, MemoryState, StateFileError
from infini.attention import sigma
from infini.memory_state import LayerMemory
from infini.model import mark_trainable


def convert(lm, **kwargs):
    return InfiniModel(copy.deepcopy(lm), InfiniConfig(**kwargs))


def test_memory_disabled_single_segment_equals_base_model(tiny_llama):
    ids = torch.randint(0, 49152, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = tiny_llama(ids).logits
        model = convert(tiny_llama, segment_len=40)
        hidden, _ = model.segment_hidden(ids, memory=None)
        torch.testing.assert_close(model.logits(hidden), expected, rtol=0, atol=1e-4)


def test_untrained_gates_nearly_closed_and_empty_memory_reads_like_the_base_model(tiny_llama):
    assert convert(tiny_llama).gate_values().max() < 0.05
    ids = torch.randint(0, 49152, (1, 32), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = tiny_llama(ids).logits
        for rule in ("delta", "deltanet"):
            model = convert(tiny_llama, gate_init=0.0, update_rule=rule)  # gates half open
            hidden, memory = model.segment_hidden(ids, model.empty_memory(1))
            assert len(memory) == 3
            # Nothing written yet: the memory term is left out, not mixed in as zeros.
            torch.testing.assert_close(model.logits(hidden), base, rtol=0, atol=1e-4)
            hidden, _ = model.segment_hidden(ids, memory)  # once written, the memory changes the output
            assert (model.logits(hidden) - base).abs().max() > 1e-2


def test_gqa_query_head_reads_its_own_kv_heads_memory(tiny_llama):
    """Query head h must read KV head h // R's memory (repeat_kv's grouping), built here by hand."""
    model = convert(tiny_llama, gate_init=50.0)  # gate ~1: the output is the memory read alone
    layer = model.attention_layers()[0]
    d, G, R = 16, 2, 3
    M = torch.zeros(1, G, d, d)
    M[0, 0] = torch.eye(d) * 1.0  # KV head 0 returns sigma(q) scaled
    M[0, 1] = torch.eye(d) * -7.0  # KV head 1 returns a distinctly negative read
    z = torch.ones(1, G, d)
    memory = [LayerMemory(M, z)] + [LayerMemory(torch.zeros(1, G, d, d), torch.zeros(1, G, d))] * 2
    captured = {}
    layer.o_proj.register_forward_hook(lambda mod, inp, out: captured.setdefault("x", inp[0]))
    with torch.no_grad():
        model.segment_hidden(torch.randint(0, 100, (1, 5)), memory)
    heads = captured["x"].view(1, 5, 6, d)  # the heads as W_O receives them
    for h in range(6):
        sign = heads[0, :, h].sum()
        if h // R == 0:
            assert sign > 0, f"query head {h} should read KV head 0"
        else:
            assert sign < 0, f"query head {h} should read KV head 1"


@pytest.mark.parametrize("rule", ["delta", "deltanet"])
def test_bptt_gradient_reaches_first_segment_and_every_gate(tiny_llama, rule):
    model = convert(tiny_llama, segment_len=16, gate_init=0.0, update_rule=rule)
    model.train()
    ids = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(3))
    embeds = model.lm.model.embed_tokens
    captured = {}

    def keep(module, inp, out):
        out.retain_grad()
        captured.setdefault("first", out)

    handle = embeds.register_forward_hook(keep)
    segments = list(ids.split(16, dim=1))
    hiddens, _ = model.forward_segments(segments, model.empty_memory(1))
    handle.remove()
    loss = torch.nn.functional.cross_entropy(model.logits(hiddens[-1])[0, :-1], segments[-1][0, 1:])
    loss.backward()
    assert captured["first"].grad[0, 3].abs().sum() > 0  # a first-segment token's embedding
    for layer in model.attention_layers():
        assert layer.memory_gate.grad is not None and (layer.memory_gate.grad != 0).all()
        if rule == "deltanet":  # the write strength learns from what later segments read
            assert layer.memory_beta.weight.grad.abs().sum() > 0


def test_checkpointed_bptt_gives_the_same_gradients(tiny_llama):
    model = convert(tiny_llama, segment_len=16, gate_init=0.0)
    ids = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(4))
    grads = []
    for checkpointed in (False, True):
        model.zero_grad()
        hiddens, _ = model.forward_segments(list(ids.split(16, dim=1)), model.empty_memory(1), checkpointed=checkpointed)
        model.logits(hiddens[-1]).float().logsumexp(-1).mean().backward()
        grads.append(torch.stack([a.memory_gate.grad.clone() for a in model.attention_layers()]))
    torch.testing.assert_close(grads[0], grads[1])


def _trained_grads(model, segments, grad_segments):
    """Loss on the last segment and the gradients of every trained parameter, for one grad_segments."""
    model.zero_grad()
    hiddens, _ = model.forward_segments(segments, model.empty_memory(1), checkpointed=True, grad_segments=grad_segments)
    loss = model.logits(hiddens[-1]).float().logsumexp(-1).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.lm.named_parameters() if "memory_" in n and p.grad is not None}
    return loss.detach(), grads


def test_grad_segments_keeps_the_loss_and_is_exact_when_earlier_reads_are_empty(tiny_llama):
    model = convert(tiny_llama, segment_len=16, gate_init=0.0, update_rule="deltanet", read_cap=True)
    model.train()
    mark_trainable(model.lm)  # as training does: the base weights stay frozen
    ids = torch.randint(0, 49152, (1, 64), generator=torch.Generator().manual_seed(11))
    segments = list(ids.split(16, dim=1))
    # Two segments: the first reads an empty memory, so detaching its reads drops nothing.
    full_loss, full = _trained_grads(model, segments[:2], None)
    cut_loss, cut = _trained_grads(model, segments[:2], 1)
    torch.testing.assert_close(cut_loss, full_loss, rtol=0, atol=0)
    assert full.keys() == cut.keys() and any("memory_beta" in n for n in cut)
    for name in full:
        torch.testing.assert_close(cut[name], full[name], rtol=1e-4, atol=1e-7)
    # Four segments, only the last back-propagated through the network: the forward is unchanged, the
    # first segment's write strength still learns (through M), and the gradient is an approximation.
    full_loss, full = _trained_grads(model, segments, None)
    cut_loss, cut = _trained_grads(model, segments, 1)
    torch.testing.assert_close(cut_loss, full_loss, rtol=0, atol=0)
    hiddens, _ = model.forward_segments(segments[:1], model.empty_memory(1), grad_segments=0)
    assert not hiddens[0].requires_grad  # the residual stream of a writes-only segment carries no gradient
    assert all(cut[n].abs().sum() > 0 for n in cut if "memory_beta.weight" in n)
    assert max((cut[n] - full[n]).abs().max() for n in full) > 1e-6


@pytest.mark.parametrize("rule", ["delta", "deltanet"])
def test_memory_stays_finite_over_500_segments(tiny_llama, rule):
    model = convert(tiny_llama, gate_init=0.0, update_rule=rule)
    memory = model.empty_memory(1)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for _ in range(500):
            hidden, memory = model.segment_hidden(torch.randint(0, 49152, (1, 8), generator=g), memory)
    assert torch.isfinite(hidden).all()
    assert all(torch.isfinite(entry.M).all() and torch.isfinite(entry.z).all() for entry in memory)


@pytest.fixture
def reader(tiny_llama, tokenizer):
    return InfiniReader(convert(tiny_llama, segment_len=32, gate_init=0.0), tokenizer)


def test_streaming_unaligned_pieces_gives_the_same_state(reader, language_reference):
    text = language_reference[:6000]
    whole = reader.ingest(text)
    streamed = reader.new_state()
    cuts = [0, 1, 7, 333, 334, 1250, 2999, 4444, 5990, len(text)]
    for a, b in zip(cuts, cuts[1:]):
        reader.feed(streamed, text[a:b])
    assert whole.extra["segments"] > 30
    assert streamed.tail == whole.tail and streamed.pending_text == whole.pending_text
    assert streamed.tokens_seen == whole.tokens_seen
    for one, other in zip(whole.memory, streamed.memory):
        torch.testing.assert_close(one.M, other.M, rtol=0, atol=1e-5)
        torch.testing.assert_close(one.z, other.z, rtol=0, atol=1e-5)


@pytest.mark.parametrize("settings", [{"update_rule": "delta"}, {"update_rule": "deltanet", "key_conv": 4}])
def test_ingest_many_gives_each_documents_own_state(tiny_llama, tokenizer, language_reference, settings):
    """Documents of different lengths (one empty, one shorter than a segment) ingested as one batch end
    where each ends alone: rows leave the batch mid-piece, and no row's memory leaks into another's."""
    reader = InfiniReader(convert(tiny_llama, segment_len=32, gate_init=0.0, **settings), tokenizer)
    texts = [language_reference[:3000], language_reference[5000:6200], "", language_reference[9000:9050],
             language_reference[20000:22500]]
    written = []
    batched = reader.ingest_many(texts, progress=lambda segments, tokens: written.append(segments), piece_chars=1000)
    alone = [reader.ingest(text, piece_chars=1000) for text in texts]
    counts = [s.extra.get("segments", 0) for s in alone]
    assert counts[2] == 0 and counts[3] < 3 and counts[0] > 15 and len(set(counts)) == 5  # rows leave at 5 different steps
    assert written[-1] == sum(s.extra.get("segments", 0) for s in alone)
    for one, many in zip(alone, batched):
        assert many.tail == one.tail and many.pending_text == one.pending_text
        assert (many.tokens_seen, many.chars_seen) == (one.tokens_seen, one.chars_seen)
        assert many.extra.get("segments", 0) == one.extra.get("segments", 0)
        for entry_one, entry_many in zip(one.memory, many.memory):
            assert entry_many.tensors().keys() == entry_one.tensors().keys()
            for a, b in zip(entry_one.tensors().values(), entry_many.tensors().values()):
                assert b.shape == a.shape and b.device.type == "cpu"
                torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    assert not torch.equal(batched[0].memory[0].M, batched[1].memory[0].M)  # distinct documents, distinct memories


def test_interrupted_write_loses_nothing_and_writes_nothing_twice(reader, language_reference):
    """A write stopped mid-way (here by the progress callback) leaves memory and tail in step: feeding on
    afterwards ends exactly where an uninterrupted ingestion does."""
    text = language_reference[:6000]

    def stop_after_the_first_pass(segments, tokens):
        raise RuntimeError("stopped")

    state = reader.new_state()
    with pytest.raises(RuntimeError, match="stopped"):
        reader.feed(state, text, progress=stop_after_the_first_pass)
    assert state.extra.get("segments", 0) == 0 and len(state.tail) > 5 * reader.segment_len  # nothing half-written
    reader.feed(state, "")
    whole = reader.ingest(text)
    assert state.tail == whole.tail and state.extra["segments"] == whole.extra["segments"] > 30
    for one, other in zip(whole.memory, state.memory):
        torch.testing.assert_close(other.M, one.M, rtol=0, atol=1e-5)
        torch.testing.assert_close(other.z, one.z, rtol=0, atol=1e-5)


def test_state_size_independent_of_length(reader, language_reference):
    sizes = []
    for segments in (4, 64):
        state = reader.new_state()
        position = 0
        while state.extra.get("segments", 0) < segments:
            reader.feed(state, language_reference[position: position + 100])
            position += 100
        sizes.append(state.memory_bytes())
    assert sizes[0] == sizes[1] == 3 * 2 * 16 * 17 * 4  # layers x KV heads x d x (d + 1) float32


def test_answer_does_not_mutate_state(reader):
    state = reader.ingest("Alpha beta gamma. " * 40)
    before = state.clone()
    collect(reader.stream_answer(state, "What was said?", max_new_tokens=3))
    assert state.tail == before.tail and state.tokens_seen == before.tokens_seen
    for after, kept in zip(state.memory, before.memory):
        assert torch.equal(after.M, kept.M)


def test_save_load_round_trip_exact_and_truncated_file_error(reader, tmp_path):
    state = reader.ingest("Gamma delta epsilon zeta. " * 60)
    path = tmp_path / "doc.state"
    state.save(path)
    loaded = MemoryState.load(path, expected_fingerprint=reader.fingerprint())
    assert loaded.tail == state.tail and loaded.pending_text == state.pending_text
    assert loaded.tokens_seen == state.tokens_seen and loaded.segment_len == state.segment_len
    for saved, back in zip(state.memory, loaded.memory):
        assert torch.equal(saved.M, back.M) and torch.equal(saved.z, back.z) and back.q_tail is None
    # The file names each layer's tensors (states saved before LayerMemory existed load the same way).
    with safe_open(str(path), framework="pt") as handle:
        assert set(handle.keys()) == {f"layer{i}.{name}" for i in range(3) for name in ("M", "z")} | {"tail"}
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StateFileError, match="corrupt or truncated"):
        MemoryState.load(path)
    path.write_bytes(data)
    with pytest.raises(StateFileError, match="different model"):
        MemoryState.load(path, expected_fingerprint="0" * 32)


def test_lora_adapters_change_the_memory_branch_only(tiny_llama):
    from infini.adapter import add_lora

    model = convert(tiny_llama, gate_init=0.0, update_rule="deltanet")
    plain_memory = None
    ids = torch.randint(0, 49152, (1, 24), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        _, plain_memory = model.segment_hidden(ids, model.empty_memory(1))
        add_lora(model, rank=4, alpha=8, targets=["q_proj", "k_proj", "v_proj"])
        for name, param in model.lm.named_parameters():
            if "lora_B" in name:  # peft starts B at zero; make the adapters do something
                param.normal_(0, 0.5, generator=torch.Generator().manual_seed(8))
        base = tiny_llama(ids).logits
        hidden, memory = model.segment_hidden(ids, model.empty_memory(1))
        torch.testing.assert_close(model.logits(hidden), base, rtol=0, atol=1e-4)  # empty memory: base model
        hidden, _ = model.segment_hidden(ids, memory=None)
        torch.testing.assert_close(model.logits(hidden), base, rtol=0, atol=1e-4)  # memory off: base model
    # What the adapters change is what is written to (and read from) memory.
    assert max((entry.M - plain.M).abs().max() for entry, plain in zip(memory, plain_memory)) > 1e-3


def test_read_cap_makes_the_output_independent_of_a_loud_memorys_scale(tiny_llama):
    """However loud the memory (a long document), the capped read mixes in at most at its multiple of the
    local read's scale."""
    first, second = torch.randint(0, 49152, (2, 1, 24), generator=torch.Generator().manual_seed(9))
    shift = {}  # how far the memory moves the logits from the base model's, per (read_cap, scale)
    with torch.no_grad():
        base = tiny_llama(second).logits
        for read_cap in (0.0, 1.0, 4.0):
            model = convert(tiny_llama, gate_init=0.0, update_rule="deltanet", read_cap=read_cap)
            _, memory = model.segment_hidden(first, model.empty_memory(1))
            for scale in (1.0, 1e3, 1e4):
                loud = [entry._replace(M=entry.M * scale) for entry in memory]
                hidden, _ = model.segment_hidden(second, loud, write=False)
                shift[read_cap, scale] = model.logits(hidden) - base
    for read_cap in (1.0, 4.0):
        torch.testing.assert_close(shift[read_cap, 1e3], shift[read_cap, 1e4], rtol=0, atol=1e-4)
    capped, looser, uncapped = (shift[read_cap, 1e3].abs().max() for read_cap in (1.0, 4.0, 0.0))
    assert capped < 1.2 * shift[1.0, 1.0].abs().max()  # as far from the base as a memory at its natural scale
    # Without the cap a loud memory pulls the model furthest; the 4x cap lets it pull further than the 1x one.
    assert uncapped > looser > 1.5 * capped
    with pytest.raises(ValueError, match="read_cap is a multiple"):
        convert(tiny_llama, read_cap=-1.0)


def test_gate_values_with_layers_left_without_memory_stay_on_the_models_device(tiny_llama):
    """Layers without memory show zeros, made where the gates are (a CUDA model must not stack a CPU row;
    the meta device stands in for it here)."""
    model = convert(tiny_llama, memory_layers=[1], gate_init=0.0)
    gates = model.gate_values()
    assert gates.shape == (3, 6) and (gates[0] == 0).all() and (gates[2] == 0).all()
    torch.testing.assert_close(gates[1], torch.full((6,), 0.5))
    model.lm.to("meta")
    assert model.gate_values().device.type == "meta"


def test_feeding_token_ids_gives_the_state_that_feeding_their_text_gives(reader, language_reference):
    text = language_reference[:3000]
    by_text = reader.ingest(text)
    tokenized = text[:len(text) - len(by_text.pending_text)]  # ingest holds back a word that may go on
    by_ids = reader.feed_ids(reader.new_state(), reader.encode(tokenized))
    assert by_ids.tail == by_text.tail and by_ids.tokens_seen == by_text.tokens_seen
    assert by_ids.extra["segments"] == by_text.extra["segments"] > 10
    for one, other in zip(by_text.memory, by_ids.memory):
        torch.testing.assert_close(other.M, one.M)
    pending = reader.feed(reader.new_state(), "Text that ends in the middle of a wo")
    with pytest.raises(ValueError, match="not yet tokenized"):
        reader.feed_ids(pending, [1, 2, 3])
