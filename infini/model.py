"""Convert a pretrained Hugging Face Llama-family causal LM into an Infini-attention model.

Conversion swaps every attention module for an InfiniAttention that reuses the same projections
and adds one gate per query head: nothing else changes. With memory disabled the model is the
base model run segment by segment.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import InfiniAttention, SegmentContext
from .memory_state import LayerMemory
from core.loading import base_fingerprint, quantize_int8

Memory = list[LayerMemory]  # one per layer


@dataclass
class InfiniConfig:
    segment_len: int = 512
    update_rule: str = "delta"  # "delta" (Eq. 9), "linear" (Eq. 8) or the variant "deltanet" (see attention.py)
    gate_init: float = -4.0
    read_cap: float = 0.0  # variant: memory read <= this multiple of the local read's RMS (attention.cap_to); 0: off
    memory_layers: list[int] | None = None  # which layers get memory (None: all, as in the paper); others stay base attention
    query_gate: bool = False  # variant: gate per token, sigmoid(beta + x_t W_g) (attention.InfiniAttention)
    key_conv: int = 0  # variant: memory queries and keys convolved over this many tokens (attention.causal_conv); 0: off
    value_shift: bool = False  # variant: each key stores the next token's value (attention.next_token_pairs)
    decay_gate: bool = False  # variant (deltanet): Gated DeltaNet's per-token decay (attention.deltanet_update)
    memory_out_rank: int = 0  # variant: the memory read's own low-rank map into the residual stream (attention.py); 0: off
    context_pool: bool = False  # variant: memory queries and keys plus what local attention gathers of them (attention.attention_pool)

    def __post_init__(self):
        self.read_cap = float(self.read_cap)  # cards written before the multiple say true / false


def describe_memory(config: InfiniConfig) -> str:
    """The memory rule in plain words, as the app and the reports name it."""
    rules = {
        "linear": "the paper's linear update (Eq. 8)",
        "delta": "the paper's delta update (Eq. 9)",
        "deltanet": "a DeltaNet-style delta rule with per-token write strength (a variant, not the paper's Eq. 9)",
    }
    parts = [rules[config.update_rule]]
    if config.key_conv:
        parts.append(f"a {config.key_conv}-token convolution on memory queries and keys")
    if config.value_shift:
        parts.append("keys paired with the next token's value")
    if config.decay_gate:
        parts.append("a per-token decay gate (Gated DeltaNet)")
    if config.context_pool:
        parts.append("memory queries and keys pooled through the local attention")
    if config.memory_out_rank:
        parts.append(f"a rank-{config.memory_out_rank} output map of its own for the memory read")
    if config.query_gate:
        parts.append("a per-token gate")
    if config.read_cap:
        parts.append(f"reads capped at {config.read_cap:g}x the local read")
    if config.memory_layers is not None:
        parts.append(f"memory in layers {','.join(map(str, config.memory_layers))} only")
    return ", ".join(parts) + f"; segments of {config.segment_len} tokens"


def is_trainable_name(name: str) -> bool:
    """What training changes (the base weights stay frozen): gates, the variants' write strength,
    convolutions, pools and memory output map, LoRA."""
    return any(part in name for part in ("memory_gate", "memory_beta", "memory_conv", "memory_decay", "memory_out_", "memory_pool", "lora_"))


def mark_trainable(lm: nn.Module) -> None:
    """Training's split: gates, write strengths and LoRA learn (in float32, as their optimiser state
    will be); the base weights stay frozen."""
    for name, param in lm.named_parameters():
        param.requires_grad_(is_trainable_name(name))
        if is_trainable_name(name):
            param.data = param.data.float()


class InfiniModel(nn.Module):
    def __init__(self, lm: nn.Module, config: InfiniConfig | None = None):
        super().__init__()
        self.lm = lm
        self.config = config or InfiniConfig()
        self.context = SegmentContext()
        self.adapter_path: str | None = None  # the trained artifact loaded on top (adapter.load_adapter), if any
        # "int8" once quantize_int8 has run: its memories differ, so its states must not pass as float ones
        self.quantization: str | None = None
        decoder = lm.model
        layers = self.config.memory_layers
        if layers is not None and not set(layers) <= set(range(len(decoder.layers))):
            raise ValueError(f"memory_layers {sorted(layers)} outside this model's {len(decoder.layers)} layers")
        for idx, layer in enumerate(decoder.layers):
            attention = InfiniAttention(
                layer.self_attn, idx, self.config.update_rule, self.config.gate_init, self.config.read_cap,
                has_memory=layers is None or idx in layers,
                query_gate=self.config.query_gate, key_conv=self.config.key_conv, value_shift=self.config.value_shift,
                decay_gate=self.config.decay_gate, memory_out_rank=self.config.memory_out_rank,
                context_pool=self.config.context_pool,
            )
            attention.context = self.context
            layer.self_attn = attention
        base = lm.config
        self.num_layers = base.num_hidden_layers
        self.num_kv_heads = base.num_key_value_heads
        self.head_dim = getattr(base, "head_dim", None) or base.hidden_size // base.num_attention_heads
        self.num_heads = base.num_attention_heads

    def quantize_int8(self) -> "InfiniModel":
        """The base weights as int8 (loading.quantize_int8), marked so its states never pass as float ones."""
        quantize_int8(self.lm)
        self.quantization = "int8"
        return self

    # ---- memory -----------------------------------------------------------------------------
    def empty_memory(self, batch_size: int = 1, device=None) -> Memory:
        """M_0 = 0 and z_0 = 0: the first segment reads zeros (Eq. 7 with an epsilon). With key_conv, zero
        tails: the document's first tokens are convolved with zero padding."""
        device = device or self.lm.device
        B, G, d, K = batch_size, self.num_kv_heads, self.head_dim, self.config.key_conv

        def layer() -> LayerMemory:  # fresh tensors per layer: a state saved before any write must not share storage
            tails = (torch.zeros(B, self.num_heads, K - 1, d, device=device), torch.zeros(B, G, K - 1, d, device=device)) if K else ()
            return LayerMemory(torch.zeros(B, G, d, d, device=device), torch.zeros(B, G, d, device=device), *tails)

        return [layer() for _ in range(self.num_layers)]

    def attention_layers(self) -> list[InfiniAttention]:
        return [layer.self_attn for layer in self.lm.model.layers]

    def gate_values(self) -> torch.Tensor:
        """(layers, query heads) sigmoid(beta): the share of each head's output read from memory (0: no memory).

        With query_gate, the share where the token term x_t W_g is zero (research/query_gates.py measures it per token).
        """
        device = self.lm.get_input_embeddings().weight.device  # layers without memory: zeros beside the others' gates
        return torch.stack([
            torch.sigmoid(a.memory_gate.detach().float()) if a.has_memory else torch.zeros(a.num_heads, device=device)
            for a in self.attention_layers()
        ])

    def fingerprint(self) -> str:
        """Identifies base weights, conversion settings and trained gates/adapters, for MemoryState checks."""
        digest = hashlib.sha256(base_fingerprint(self.lm).encode())
        settings = asdict(self.config)
        for later in ("key_conv", "value_shift", "decay_gate", "memory_out_rank", "context_pool"):  # added later: off, they leave stored states' fingerprints unchanged
            if not settings[later]:
                del settings[later]
        digest.update(json.dumps(settings, sort_keys=True).encode())
        if self.quantization:
            digest.update(self.quantization.encode())
        with torch.no_grad():
            for name, param in self.lm.named_parameters():
                if is_trainable_name(name):
                    digest.update(name.encode())
                    digest.update(param.detach().float().cpu().numpy().tobytes())
        return digest.hexdigest()[:32]

    # ---- forward ----------------------------------------------------------------------------
    def segment_hidden(
        self,
        input_ids: torch.Tensor,
        memory: Memory | None,
        write: bool = True,
        position_offset: int = 0,
        local_kv: list | None = None,
        detached_reads: int = 0,
        window: int = 1,
    ) -> tuple[torch.Tensor, Memory | None]:
        """Run one segment. input_ids (B, T) -> last hidden states (B, T, D) and the updated memory.

        memory=None disables the memory branch entirely (base model on this segment).
        Positions restart at 0 each segment: RoPE is relative, and local attention never
        crosses a segment boundary. `window` = W > 1: the rows are W consecutive segments of each
        document (write_segments), memory one row per document. `detached_reads`: see forward_segments.
        """
        ctx = self.context
        ctx.use_memory = memory is not None
        ctx.write = write and memory is not None
        if window > 1 and not ctx.write:
            raise ValueError("consecutive segments in one batch are for writing; answering runs one segment")
        ctx.memory_in = memory
        ctx.memory_out = []
        ctx.local_kv = local_kv
        ctx.detached_reads, ctx.window = detached_reads, window
        T = input_ids.shape[1]
        positions = torch.arange(position_offset, position_offset + T, device=input_ids.device).unsqueeze(0)
        try:
            hidden = self.lm.model(input_ids=input_ids, position_ids=positions, use_cache=False).last_hidden_state
            new_memory = ctx.memory_out if ctx.write else memory
        finally:
            ctx.memory_in, ctx.memory_out, ctx.local_kv, ctx.detached_reads, ctx.window = None, [], None, 0, 1
        return hidden, new_memory

    def write_segments(self, input_ids: torch.Tensor, memory: Memory, detached_reads: int = 0) -> tuple[torch.Tensor, Memory]:
        """Write W consecutive segments of each of B documents, layer by layer: input_ids (B, W, T) ->
        (hidden states (B, W, T, D), memory).

        Every layer takes the B * W segments as one batch (projections, local attention, MLP: a segment's
        tokens see only their own segment), and runs the memory recurrence over the W segments in order
        before one batched read (attention.scan_segments). The same memory as W calls of segment_hidden,
        up to floating-point order, in wider matrix products. `memory` holds one row per document.
        """
        B, W, T = input_ids.shape
        hidden, memory = self.segment_hidden(input_ids.reshape(B * W, T), memory, detached_reads=detached_reads, window=W)
        return hidden.view(B, W, T, -1), memory

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm.lm_head(hidden)

    def forward_segments(
        self, segments: list[torch.Tensor], memory: Memory | None, checkpointed: bool = False,
        grad_segments: int | None = None, segments_per_pass: int = 1,
    ):
        """Run segments in order, gradients flowing through the memory (BPTT).

        Returns the last hidden states of every segment and the final memory. With
        `checkpointed`, each pass's activations are recomputed in the backward pass
        (gradient checkpointing per segment, as in the paper, or per window of segments).
        `segments_per_pass` = W > 1 runs W segments per pass over the layers (write_segments): wider
        products for the same memory and gradients.

        `grad_segments` = n (None: all) back-propagates through the whole network for the last n
        segments only. Earlier segments detach their memory reads, so their residual stream carries
        no gradient and costs a plain forward pass; the gradient still reaches them through the
        memory they write (keys, values, write strength: through M_s = f(M_{s-1}, K_s, V_s)). What is
        dropped is how a parameter changes an earlier segment's hidden states via that segment's own
        memory read. Exact when those reads are empty (a single earlier segment); on a CPU it makes
        samples several times longer affordable.
        """
        hiddens = []
        first_full = 0 if grad_segments is None else max(0, len(segments) - grad_segments)
        for start in range(0, len(segments), segments_per_pass):
            ids = torch.stack(segments[start:start + segments_per_pass], dim=1)  # (B, W, T)
            detached = min(max(first_full - start, 0), ids.shape[1])  # leading segments of this window with constant reads
            if detached == ids.shape[1] and torch.is_grad_enabled():  # no gradient in the residual stream: nothing to recompute
                hidden, memory = self.write_segments(ids, memory, detached)
            elif checkpointed and torch.is_grad_enabled():
                flat = [t for entry in memory for t in entry]  # LayerMemory fields, None where a variant is off
                out = checkpoint(self._checkpointable_window, ids, detached, *flat, use_reentrant=False)
                hidden, memory = out[0], self._unflatten(out[1:])
            else:
                hidden, memory = self.write_segments(ids, memory, detached)
            hiddens.extend(hidden.unbind(1))
        return hiddens, memory

    def _unflatten(self, flat) -> Memory:
        """The per-layer entries back from one flat sequence (checkpoint passes and returns flat arguments)."""
        per_layer = len(LayerMemory._fields)
        return [LayerMemory(*flat[per_layer * i:per_layer * (i + 1)]) for i in range(self.num_layers)]

    def _checkpointable_window(self, ids, detached_reads, *flat_memory):
        hidden, new_memory = self.write_segments(ids, self._unflatten(flat_memory), detached_reads)
        return (hidden, *[t for entry in new_memory for t in entry])
