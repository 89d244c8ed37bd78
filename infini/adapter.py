"""The trained artifact: memory gates plus LoRA adapters, in safetensors, with a JSON card.

Only these parameters are trained (the base model stays frozen), so the artifact is a few MB and
applies on top of the same base model, whose fingerprint the card records.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from peft import LoraConfig, inject_adapter_in_model
from safetensors.torch import load_file, save_file

from .model import InfiniConfig, InfiniModel, is_trainable_name

TRAINED_DIR = Path(__file__).parent / "trained"
# The committed artifact the pipelines load unless told otherwise (README, "The key-convolution chain's stage 9
# is the default"; the chain's stage 8 before it, the lineage's stage 9 before that).
DEFAULT_ADAPTER = TRAINED_DIR / "smollm2-135m-deltanet-keyconv4-cpu.safetensors"


def adapter_option(value: str) -> str | None:
    """A command line's --adapter: 'none' -> None (the untrained conversion); 'default' or a path as given."""
    return None if value == "none" else value


def add_lora(model: InfiniModel, rank: int, alpha: float, targets: list[str]) -> None:
    """Inject LoRA adapters into the attention projections, in place (the model keeps its class)."""
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets, bias="none")
    inject_adapter_in_model(config, model.lm)


def trainable_state(model: InfiniModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().float().cpu().contiguous() for n, p in model.lm.named_parameters() if is_trainable_name(n)}


def write_artifact(path: str | os.PathLike, weights: dict[str, torch.Tensor], card: dict) -> None:
    """The weights in safetensors (card in its header, written whole then renamed) and the card as JSON beside."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(weights, tmp, metadata={"card": json.dumps(card)})
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


def write_derived_artifact(path: str | os.PathLike, weights: dict[str, torch.Tensor], card: dict, derived_from: str,
                           **infini) -> None:
    """An artifact made from another by hand (research/ ablations): the card's `infini` settings changed by
    `infini`, its origin named, and what was measured on the origin (eval, default) left out."""
    card = {**card, "infini": {**card["infini"], **infini}, "derived_from": derived_from}
    for key in ("eval", "default", "why_default", "why_not_default"):
        card.pop(key, None)
    write_artifact(path, weights, card)


def save_adapter(model: InfiniModel, path: str | os.PathLike, card: dict) -> None:
    write_artifact(path, trainable_state(model), card)


def update_card(path: str | os.PathLike, **fields) -> dict:
    """Add fields (e.g. the eval table) to an artifact's card, in the JSON file and the safetensors header."""
    card = {**read_card(path), **fields}
    write_artifact(path, load_file(str(path)), card)
    return card


def read_card(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text())


def load_adapter(lm, path: str | os.PathLike, **overrides) -> InfiniModel:
    """Convert `lm` with the card's settings (or `overrides` of InfiniConfig fields), add its LoRA,
    load gates and adapters.

    The adapters stay unmerged: they apply to the memory branch only (attention.project).
    """
    path = Path(path)
    card = read_card(path)
    model = InfiniModel(lm, InfiniConfig(**{**card["infini"], **overrides}))
    lora = card.get("lora")
    if lora:
        add_lora(model, lora["rank"], lora["alpha"], lora["targets"])
    load_trained_weights(model, path)
    model.adapter_path = str(path)
    model.lm.eval()
    return model


def widen_taps(weights: dict[str, torch.Tensor], params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Key-convolution taps (H, K', d) from an artifact, for a model with K >= K' taps: (H, K, d), zeros first.

    Tap K-1 is the token's own vector (attention.causal_conv), so the artifact's taps keep the offsets they were
    trained at and the earlier tokens the wider window adds start with weight 0 (training's next stage).
    """
    widened = dict(weights)
    for name, taps in weights.items():
        param = params.get(name)
        if "memory_conv" in name and param is not None and taps.dim() == 3 and param.shape[1] > taps.shape[1]:
            widened[name] = torch.cat([taps.new_zeros(taps.shape[0], param.shape[1] - taps.shape[1], taps.shape[2]), taps], dim=1)
    return widened


def load_trained_weights(model: InfiniModel, path: str | os.PathLike, fresh: tuple[str, ...] | list[str] = ()) -> None:
    """Gates, write strengths and LoRA from an artifact into a model built with the same settings.

    A model with memory in fewer layers (InfiniConfig.memory_layers) takes the artifact's weights
    for those layers only: that is how a memory trained everywhere is measured layer by layer.
    `fresh`: names of parameters the model adds to the artifact (training's next stage), e.g.
    "memory_gate_proj" (query gates on static ones), "memory_conv" (the key convolution) or "memory_decay"
    (the decay gate); they keep their start (zero token terms, identity taps, a decay of 1 - 4.5e-5), which
    reads exactly (the decay: nearly) like the artifact.
    A model with a longer key convolution than the artifact's takes its taps as the latest ones and zeros
    before them (widen_taps), which reads exactly like the artifact too.
    """
    weights = widen_taps(load_file(str(path)), dict(model.lm.named_parameters()))
    without_memory = {f"layers.{a.layer_idx}." for a in model.attention_layers() if not a.has_memory}
    weights = {n: t for n, t in weights.items()
               if not ("memory_" in n and any(layer in n for layer in without_memory))}
    missing = [n for n, _ in model.lm.named_parameters() if is_trainable_name(n) and n not in weights
               and not any(part in n for part in fresh)]
    unexpected = set(weights) - {n for n, _ in model.lm.named_parameters()}
    if missing or unexpected:
        raise ValueError(f"{path} does not fit this model: missing {missing[:3]}, unexpected {sorted(unexpected)[:3]}")
    model.lm.load_state_dict(weights, strict=False)
