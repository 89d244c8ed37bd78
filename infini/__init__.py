"""Infini-attention over a pretrained Hugging Face causal LM: layer, conversion, streaming memory."""
from .attention import InfiniAttention, memory_read, memory_update, sigma
from .loading import ModelLoadError, load_base_model
from .memory_state import MemoryState, StateFileError
from .model import InfiniConfig, InfiniModel
from .stream import Answer, InfiniReader

__all__ = [
    "Answer", "InfiniAttention", "InfiniConfig", "InfiniModel", "InfiniReader", "MemoryState",
    "ModelLoadError", "StateFileError", "load_base_model", "memory_read", "memory_update", "sigma",
]
