import copy

import pytest
import torch

from infini import InfiniConfig, InfiniModel
from infini.train import batch_loss
from infini.train_data import IGNORE, Sample, collate


@pytest.fixture
def backward_on_a_random_answer():
    """One training step's backward pass on random tokens: 48 of document, a 10-token question whose last 3
    are the answer. Puts gradients on whatever the loss reaches."""
    def run(model) -> None:
        model.train()
        sample = Sample(torch.randint(0, 49152, (48,)).tolist(), torch.randint(0, 49152, (10,)).tolist(),
                        [IGNORE] * 7 + torch.randint(0, 49152, (3,)).tolist())
        loss, _ = batch_loss(model, *collate([sample], 0, "cpu")[:3], 3)
        loss.backward()
    return run


@pytest.fixture
def open_deltanet():
    """A copy of a base model converted with the deltanet rule and open gates (beta = 0), the variants' flags as given."""
    def convert(lm, **kwargs) -> InfiniModel:
        return InfiniModel(copy.deepcopy(lm), InfiniConfig(gate_init=0.0, update_rule="deltanet", **kwargs))
    return convert


@pytest.fixture
def randomize():
    """Set every parameter whose name holds `part` (a variant's weights, e.g. "memory_conv") to seeded N(0, 1) values."""
    def run(model: InfiniModel, part: str, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in model.lm.named_parameters():
                if part in name:
                    param.copy_(torch.randn(param.shape, generator=g))
    return run


@pytest.fixture
def start_and_randomized(randomize):
    """Check that a variant at its start reads and writes exactly like `plain` on 48 random tokens (3 segments of
    16); then randomize its `part` weights and return how far that moves the last hidden state and layer 0's memory."""
    def run(plain: InfiniModel, variant: InfiniModel, part: str, seed: int = 2) -> tuple[float, float]:
        segments = list(torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(1)).split(16, dim=1))
        with torch.no_grad():
            expected, expected_memory = plain.forward_segments(segments, plain.empty_memory(1))
            got, memory = variant.forward_segments(segments, variant.empty_memory(1))
            randomize(variant, part, seed)
            changed, changed_memory = variant.forward_segments(segments, variant.empty_memory(1))
        torch.testing.assert_close(got[-1], expected[-1])
        for entry, entry_variant in zip(expected_memory, memory):
            torch.testing.assert_close(entry_variant.M, entry.M)
        return (float((changed[-1] - expected[-1]).abs().max()),
                float((changed_memory[0].M - expected_memory[0].M).abs().max()))
    return run


@pytest.fixture
def check_decoding_token_by_token():
    """Check that a model answering after a 20-token document gives, decoding the answer segment's last 6 tokens one
    at a time (the local cache), the hidden states of running the whole answer segment at once."""
    def run(model: InfiniModel, seed: int) -> None:
        document, answer = torch.randint(0, 49152, (2, 1, 20), generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            _, memory = model.segment_hidden(document, model.empty_memory(1))
            whole, _ = model.segment_hidden(answer, memory, write=False)
            cache: list = []
            hidden, _ = model.segment_hidden(answer[:, :14], memory, write=False, local_kv=cache)
            steps = [hidden[:, -1]]
            for t in range(14, 20):
                hidden, _ = model.segment_hidden(answer[:, t:t + 1], memory, write=False, position_offset=t, local_kv=cache)
                steps.append(hidden[:, -1])
        torch.testing.assert_close(torch.stack(steps, dim=1), whole[:, 13:], rtol=0, atol=1e-4)
    return run
