"""Infini-attention: one attention layer with a compressive memory (Munkhdalai et al., 2024).

Equation numbers refer to arXiv 2404.07143 v2. Shapes use
    B batch, T tokens in the segment, Hq query heads, G = Hkv key/value heads,
    R = Hq // Hkv query heads per KV head, d head dim (d_k = d_v = d).

The memory is kept per KV head (K and V exist per KV head under GQA) and read by that
head's R query heads, grouped exactly as `transformers`' `repeat_kv` groups them: query head h
uses KV head h // R.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

MEMORY_EPS = 1e-6  # keeps Eq. 7's division finite while the memory is empty (M_0 = 0, z_0 = 0)
UPDATE_RULES = ("linear", "delta")


def sigma(x: torch.Tensor) -> torch.Tensor:
    """The paper's nonlinearity: sigma = ELU + 1 (elementwise, always > 0)."""
    return F.elu(x).add_(1.0)  # in place: ELU saves its input, not its output, for backward


def memory_read(sigma_q: torch.Tensor, M: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Eq. 7: A_mem = sigma(Q) M_{s-1} / (sigma(Q) z_{s-1}).

    sigma_q (B, G, R, T, d), M (B, G, d, d), z (B, G, d) -> (B, G, R, T, d)
    """
    # One matmul against [M | z] gives numerator and denominator together (cheaper than two einsums).
    read = sigma_q @ torch.cat([M, z.unsqueeze(-1)], dim=-1).unsqueeze(2)  # (B, G, R, T, d + 1)
    return read[..., :-1] / (read[..., -1:] + MEMORY_EPS)


def memory_update(
    sigma_k: torch.Tensor, v: torch.Tensor, M: torch.Tensor, z: torch.Tensor, rule: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 8 (linear) or Eq. 9 (linear + delta), then the normaliser update.

    sigma_k (B, G, T, d), v (B, G, T, d), M (B, G, d, d), z (B, G, d) -> new (M, z)
    """
    if rule == "delta":
        # Eq. 9: write only what the memory cannot already retrieve for these keys.
        retrieved = memory_read(sigma_k.unsqueeze(2), M, z).squeeze(2)  # what the memory returns for K
        v = v - retrieved
    elif rule != "linear":
        raise ValueError(f"unknown memory update rule {rule!r}; expected one of {UPDATE_RULES}")
    M = M + sigma_k.transpose(-1, -2) @ v  # Eq. 8 / 9: M_s = M_{s-1} + sigma(K)^T V'
    z = z + sigma_k.sum(dim=2)  # z_s = z_{s-1} + sum_t sigma(K_t)
    return M, z


@dataclass
class SegmentContext:
    """What every InfiniAttention layer of one model reads and writes for the current segment.

    The decoder stack is Hugging Face's, so the memory travels beside it rather than through
    its call signatures: the model wrapper fills this in before a forward and collects it after.
    """

    use_memory: bool = False
    write: bool = True
    memory_in: list | None = None  # per layer (M (B,G,d,d), z (B,G,d)) float32
    memory_out: list = field(default_factory=list)
    local_kv: list | None = None  # per layer (k_rot, v) of earlier tokens of this segment (generation)


def local_attention(q_rot: torch.Tensor, k_rot: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal softmax attention inside the segment (A_dot), as the base model computes it.

    q_rot (B, Hq, T, d); k_rot, v (B, G, S, d) with S >= T, the last T keys being the queries' own.
    """
    T, S = q_rot.shape[2], k_rot.shape[2]
    if T == S:
        return F.scaled_dot_product_attention(q_rot, k_rot, v, is_causal=True, enable_gqa=True)
    # Queries are the last T positions of S: query i sees keys 0 .. S - T + i.
    allowed = torch.ones(T, S, dtype=torch.bool, device=q_rot.device).tril(diagonal=S - T)
    return F.scaled_dot_product_attention(q_rot, k_rot, v, attn_mask=allowed, enable_gqa=True)


class InfiniAttention(nn.Module):
    """Drop-in replacement for a Llama attention module; reuses its projections unchanged."""

    def __init__(self, base_attention: nn.Module, layer_idx: int, update_rule: str = "delta", gate_init: float = -4.0):
        super().__init__()
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"unknown memory update rule {update_rule!r}; expected one of {UPDATE_RULES}")
        config = base_attention.config
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.update_rule = update_rule
        # The pretrained projections, under their original names so checkpoints and LoRA targets match.
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            base_attention.q_proj, base_attention.k_proj, base_attention.v_proj, base_attention.o_proj,
        )
        # Eq. 10: one learned scalar beta per query head. Starts nearly closed (sigmoid(-4) = 0.018)
        # so that an untrained conversion answers like the base model from its local segment.
        weight = base_attention.q_proj.weight
        self.memory_gate = nn.Parameter(torch.full((self.num_heads,), float(gate_init), device=weight.device))
        self.context: SegmentContext | None = None  # set by InfiniModel; shared by all layers

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, **kwargs):
        B, T, _ = hidden_states.shape
        d, G, R = self.head_dim, self.num_kv_heads, self.num_heads // self.num_kv_heads
        q = self.q_proj(hidden_states).view(B, T, self.num_heads, d).transpose(1, 2)  # (B, Hq, T, d)
        k = self.k_proj(hidden_states).view(B, T, G, d).transpose(1, 2)  # (B, G, T, d)
        v = self.v_proj(hidden_states).view(B, T, G, d).transpose(1, 2)  # (B, G, T, d)

        # Local branch: RoPE, then causal softmax attention within the segment.
        cos, sin = position_embeddings
        q_rot, k_rot = apply_rotary_pos_emb(q, k, cos, sin)
        ctx = self.context
        k_local, v_local = k_rot, v
        if ctx is not None and ctx.local_kv is not None:
            if len(ctx.local_kv) > self.layer_idx:
                past_k, past_v = ctx.local_kv[self.layer_idx]
                k_local, v_local = torch.cat([past_k, k_rot], dim=2), torch.cat([past_v, v], dim=2)
                ctx.local_kv[self.layer_idx] = (k_local, v_local)
            else:
                ctx.local_kv.append((k_local, v_local))
        attn = local_attention(q_rot, k_local, v_local)  # A_dot (B, Hq, T, d)

        if ctx is not None and ctx.use_memory:
            M, z = ctx.memory_in[self.layer_idx]
            # Memory branch: Q and K *without* RoPE, in float32 whatever the model's dtype.
            sigma_q = sigma(q.float()).view(B, G, R, T, d)
            memory_attn = memory_read(sigma_q, M, z).reshape(B, self.num_heads, T, d)  # Eq. 7
            gate = torch.sigmoid(self.memory_gate.float()).view(1, self.num_heads, 1, 1)
            attn = torch.lerp(attn.float(), memory_attn, gate).to(hidden_states.dtype)  # Eq. 10: g A_mem + (1-g) A_dot
            if ctx.write:
                ctx.memory_out.append(memory_update(sigma(k.float()), v.float(), M, z, self.update_rule))

        # Eq. 11: concatenate heads (transpose back first, so heads and positions stay paired), W_O.
        attn = attn.transpose(1, 2).reshape(B, T, self.num_heads * d)
        return self.o_proj(attn), None
