"""Infini-attention over a pretrained Hugging Face causal LM: layer, conversion, streaming memory."""
from core.decoding import Answer
from core.loading import ModelLoadError, load_base_model

from .attention import InfiniAttention, memory_read, memory_update, sigma
from .memory_state import LayerMemory, MemoryState, StateFileError
from .model import InfiniConfig, InfiniModel
from .stream import InfiniReader

__all__ = [
    "Answer", "InfiniAttention", "InfiniConfig", "InfiniModel", "InfiniReader", "LayerMemory", "MemoryState",
    "ModelLoadError", "StateFileError", "load_base_model", "memory_read", "memory_update", "sigma",
]
