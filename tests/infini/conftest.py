import pytest
import torch

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
