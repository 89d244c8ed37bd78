import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM


@pytest.fixture
def tiny_llama():
    """A random Llama with the real model's head layout (3 query heads per KV head), tiny sizes."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152, hidden_size=96, intermediate_size=192, num_hidden_layers=3,
        num_attention_heads=6, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tokenizer():
    from core.loading import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def smollm():
    from core.loading import load_base_model

    return load_base_model()


@pytest.fixture(scope="session")
def language_reference():
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


@pytest.fixture(scope="session")
def bench_script():
    """Loads a script of research/ (not a package) as a module: bench_script("shift_taps")."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "research" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
