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
from peft.tuners.lora import LoraLayer
from torch import nn
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from .memory_state import LayerMemory

MEMORY_EPS = 1e-6  # keeps Eq. 7's division finite while the memory is empty (M_0 = 0, z_0 = 0)
UPDATE_RULES = ("linear", "delta", "deltanet")  # the paper's two, and one variant (not the paper's)


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


def unit(x: torch.Tensor) -> torch.Tensor:
    """The variant's feature map: L2-normalised, signed (so unrelated keys can be orthogonal)."""
    return F.normalize(x, dim=-1, eps=MEMORY_EPS)


def deltanet_update(
    k_unit: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, M: torch.Tensor, log_alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """Variant, not the paper's: the delta rule applied token by token, with write strength beta.

        M_t = M_{t-1} + beta_t k_t^T (v_t - k_t M_{t-1})        (Schlag et al. 2021; DeltaNet)

    Why: with ELU+1 features and the z denominator (Eq. 7), every written token adds to z, so a
    needle's share of the read falls like 1 / tokens written. Here there is no denominator, keys are
    unit vectors and each write replaces what the key retrieved: text already stored (repeated
    filler) writes nothing, so the needle survives however much follows. New text does not: a write
    of strength beta along k removes beta (k . k')^2 of what is stored along k', so many weak writes
    erase a needle too, hence the training's write penalty (recipe key write_penalty).
    The T sequential steps in closed form (WY form): with U_t = beta_t (v_t - k_t M_{t-1}),
        (I + diag(beta) tril(K K^T, -1)) U = diag(beta) (V - K M_0),   M_T = M_0 + K^T U.

    With `log_alpha` (variant decay_gate: Gated DeltaNet, Yang et al. 2024) the memory also decays by
    alpha_t in (0, 1] before each write, so the model can clear what it no longer needs instead of
    overwriting it key by key:
        M_t = alpha_t M_{t-1} + beta_t k_t^T (v_t - alpha_t k_t M_{t-1}).
    With Gamma_t = alpha_1 ... alpha_t, the same closed form holds with decayed terms:
        (I + diag(beta) tril((Gamma_i / Gamma_j) K K^T, -1)) U = diag(beta) (V - diag(Gamma) K M_0),
        M_T = Gamma_T M_0 + K^T diag(Gamma_T / Gamma) U.

    k_unit (B, G, T, d), v (B, G, T, d), beta (B, G, T), M (B, G, d, d), log_alpha (B, G, T) <= 0 or None
    -> M (B, G, d, d)
    """
    T = k_unit.shape[2]
    b = beta.unsqueeze(-1)  # (B, G, T, 1)
    strictly_lower = torch.ones(T, T, dtype=torch.bool, device=k_unit.device).tril(-1)
    overlap = k_unit @ k_unit.transpose(-1, -2)  # (B, G, T, T)
    retrieved = k_unit @ M  # (B, G, T, d): K M_0
    if log_alpha is not None:
        log_gamma = log_alpha.cumsum(dim=-1)  # (B, G, T) log Gamma_t
        # log(Gamma_i / Gamma_j) <= 0 below the diagonal; masked before exp so the upper part cannot overflow
        pair_decay = (log_gamma.unsqueeze(-1) - log_gamma.unsqueeze(-2)).masked_fill(~strictly_lower, float("-inf"))
        overlap = overlap * pair_decay.exp()
        retrieved = retrieved * log_gamma.exp().unsqueeze(-1)  # diag(Gamma) K M_0
    system = b * overlap.masked_fill(~strictly_lower, 0.0)  # (B, G, T, T)
    system = system + torch.eye(T, device=k_unit.device)
    new_values = torch.linalg.solve_triangular(system, b * (v - retrieved), upper=False, unitriangular=True)
    if log_alpha is None:
        return M + k_unit.transpose(-1, -2) @ new_values  # (B, G, d, d)
    to_end = (log_gamma[..., -1:] - log_gamma).exp().unsqueeze(-1)  # (B, G, T, 1) Gamma_T / Gamma_t
    return log_gamma[..., -1].exp()[..., None, None] * M + k_unit.transpose(-1, -2) @ (to_end * new_values)


def causal_conv(x: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Variant, not the paper's: a short causal convolution over time, per channel (DeltaNet's short conv).

    Why: the memory's keys and queries carry no position, so the two 6s of 1656671 write and read
    alike (research/digit_misses.py: numbers with a repeated adjacent digit are read 48% of the time from
    earlier segments, others 84%). Mixing in the previous K-1 tokens' vectors makes each key an n-gram.
    Tap K-1 is the token's own vector: a weight that is 1 there and 0 elsewhere is the identity.

    x (B, H, T, d); tail (B, H, K-1, d) the K-1 vectors before x (carried across segments, zeros at the
    start of a document); weight (H, K, d) -> (out (B, H, T, d), the new tail (B, H, K-1, d)).
    """
    K, T = weight.shape[1], x.shape[2]
    padded = torch.cat([tail.to(x.dtype), x], dim=2)  # (B, H, K-1+T, d)
    out = sum(padded[:, :, j:j + T] * weight[:, j].unsqueeze(1) for j in range(K))  # out_t = sum_j w_j x_{t-K+1+j}
    return out, padded[:, :, T:]


def attention_pool(q_rot: torch.Tensor, k_local: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Variant, not the paper's (context_pool): what the local attention reads at each position when its
    values are `x`, per query head: sum_s a_ts x_s, with a_ts the base model's own attention weights.

    Why: the memory's queries and keys are per token (or per few tokens, causal_conv). At a prompt's last
    token, the one that predicts the answer, the early layers' hidden state holds the chat turn's
    "<|im_start|>assistant\n" and nothing of the question, so every question there reads the same thing
    (research/key_margin.py: layers 0-13 pick the asked fact exactly at chance). Local attention already
    gathers the question's words at that token; pooled through its weights, the memory vectors carry them.
    As the projections are linear, this equals projecting the attention-weighted hidden states.
    Measured (docs/research-log.md, 2026-12-08): trained in one stage it changed neither the picks nor the facts
    found; those early layers write facts no harder than any other token, so there is little there to pick.

    q_rot (B, Hq, T, d); k_local (B, G, S, d); x (B, Hx, S, d) with Hx = Hq or G -> (B, Hq, T, d)
    """
    if x.shape[1] != k_local.shape[1]:  # one value row per query head: each query head scores its own KV group's keys
        k_local = k_local.repeat_interleave(x.shape[1] // k_local.shape[1], dim=1)
    return local_attention(q_rot, k_local, x)


def next_token_pairs(keys: torch.Tensor, values: torch.Tensor, *per_key: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Variant, not the paper's (value_shift): pair each key with the *next* token's value.

    Why: the memory is only read by later segments, so a write may look one token ahead. Stored as
    k_t -> v_{t+1}, the memory answers "what came after this context" directly: the question's
    "... is" finds the needle's "... is" and reads its first digit, that digit finds the second, and a
    repeated digit is told apart by what preceded it, which the hidden states carry. The unshifted
    memory must instead match a query for token t to the key of token t+1, a shifted match that stage 9
    learned for most digits but not for the two 6s of 1656671 (research/digit_misses.py). The segment's
    last key has no next value inside the segment and writes nothing (1 token in segment_len).

    keys (B, G, T, d), values (B, G, T, d), per_key tensors (B, G, T, ...) -> the same with T - 1 tokens
    """
    return keys[:, :, :-1], values[:, :, 1:], *(x[:, :, :-1] for x in per_key)


def segments_to_sequence(x: torch.Tensor, window: int) -> torch.Tensor:
    """Rows that are `window` consecutive segments of one document, joined in time.

    x (B * W, H, T, d) -> (B, H, W * T, d)
    """
    BW, H, T, d = x.shape
    return x.view(BW // window, window, H, T, d).transpose(1, 2).reshape(BW // window, H, window * T, d)


def sequence_to_segments(x: torch.Tensor, window: int) -> torch.Tensor:
    """The inverse of segments_to_sequence: (B, H, W * T, d) -> (B * W, H, T, d)."""
    B, H, WT, d = x.shape
    return x.view(B, H, window, WT // window, d).transpose(1, 2).reshape(B * window, H, WT // window, d)


def scan_segments(step, state: tuple, writes: tuple, window: int) -> tuple[tuple, tuple]:
    """Run a memory update over `window` consecutive segments: what each segment reads, and the final state.

    Segment w of a document reads the memory its earlier segments left (M_{s-1} in Eq. 7), so the reads of
    all W segments can be one batched product once this cheap d x d recurrence has run (segment-parallel
    ingestion: everything else in the layer is per segment and batches freely).

    step(*state, *write) -> new state (memory_update or deltanet_update); state: tensors (B, ...);
    writes: tensors (B * W, ...) one row per segment, document-major -> (state before each segment, each
    (B * W, ...); the state after the last segment, each (B, ...)).
    """
    seen = []
    for w in range(window):
        seen.append(state)
        state = step(*state, *(x[w::window] for x in writes))
    before = tuple(torch.stack(parts, dim=1).flatten(0, 1) for parts in zip(*seen))  # (B, W, ...) -> (B * W, ...)
    return before, state


@dataclass
class SegmentContext:
    """What every InfiniAttention layer of one model reads and writes for the current segment.

    The decoder stack is Hugging Face's, so the memory travels beside it rather than through
    its call signatures: the model wrapper fills this in before a forward and collects it after.
    """

    use_memory: bool = False
    write: bool = True
    # Segment-parallel ingestion (InfiniModel.write_segments): the batch's rows are `window` consecutive
    # segments of each document, document-major, and memory_in / memory_out hold one row per document.
    window: int = 1
    # Training shortcut (InfiniModel.forward_segments' grad_segments): the first n segments of each document
    # in the batch read the memory as a constant, so no gradient runs through their residual stream; it still
    # flows through what they write.
    detached_reads: int = 0
    # one LayerMemory per layer (memory_state.py): what this forward reads, and (memory_out) what it leaves
    memory_in: list | None = None
    # Training (recipe key write_penalty): when a list, every deltanet write appends its mean write
    # strength here, so the loss can charge for what is written (see deltanet_update).
    write_strengths: list | None = None
    # Measurement (research/query_gates.py): when a list, every memory layer appends its gates (B, Hq, T) here.
    gate_log: list | None = None
    # Measurement (research/key_margin.py) and training (train.match_loss): when a list, every deltanet memory
    # layer appends a dict of what it matched: its layer index, unit queries (B, Hq, T, d) and, when it writes,
    # the keys and write strengths it stored ((B, G, T', d), (B, G, T')), else None.
    match_log: list | None = None
    memory_out: list = field(default_factory=list)
    # Generation: one LocalCache per layer, the earlier tokens of this segment
    local_kv: list | None = None


@dataclass
class LocalCache:
    """One layer's view of the tokens generated or prompted so far in the answering segment."""

    keys: torch.Tensor  # (B, G, S, d) with RoPE: the local branch's keys
    values: torch.Tensor  # (B, G, S, d)
    query_tail: torch.Tensor | None = None  # key_conv: the last key_conv - 1 memory queries (causal_conv's tail)
    memory_queries: torch.Tensor | None = None  # context_pool: the memory queries before pooling (B, Hq, S, d)


def project(proj: nn.Module, x: torch.Tensor, adapted: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A projection's base output, and (if `adapted`) the output with its LoRA adapters added.

    Training adapts the projections for the memory branch only: the local branch keeps the base
    weights, so with nothing in memory the model is exactly the base model (the same short answers,
    the same perplexity), and retrieval is not traded against language ability.
    """
    if not isinstance(proj, LoraLayer) or proj.merged:
        out = proj(x)
        return out, out
    base = proj.base_layer(x)
    if not adapted or proj.disable_adapters:
        return base, base
    with_adapters = base
    for name in proj.active_adapters:  # the sum peft's LoRA Linear.forward adds, kept apart here
        if name in proj.lora_A:
            lora_in = proj.lora_dropout[name](x.to(proj.lora_A[name].weight.dtype))
            with_adapters = with_adapters + (proj.lora_B[name](proj.lora_A[name](lora_in)) * proj.scaling[name]).to(base.dtype)
    return base, with_adapters


def head_rms(attn: torch.Tensor) -> torch.Tensor:
    """Each head's read per token as one scale: (B, Hq, T, d) -> (B, Hq, T, 1).

    The epsilon inside the root: an empty read (first segment) would otherwise give sqrt'(0) = inf.
    """
    return (attn.pow(2).mean(dim=-1, keepdim=True) + MEMORY_EPS).sqrt()


def cap_to(memory_attn: torch.Tensor, local_attn: torch.Tensor, limit: float = 1.0) -> torch.Tensor:
    """Variant, not the paper's: scale each head's memory read down to `limit` times the local read's
    RMS, never up.

    Why: the memory's norm keeps growing as more text is written (research/memory_drift.py), so at
    lengths beyond training the read is louder than anything the next layers saw, and it garbles
    even answers that sit in the local segment. A weak read (nothing stored along the query)
    stays weak; only a loud one is brought back to the head's usual scale. A limit above 1 leaves
    room for a memory that trained with a read louder than the local one to make up for a small gate
    (research/read_loudness.py: the key-convolution chain's reads were 1.59x the local read's RMS).

    memory_attn, local_attn (B, Hq, T, d) -> (B, Hq, T, d)
    """
    return memory_attn * (limit * head_rms(local_attn) / head_rms(memory_attn)).clamp(max=1.0)


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

    def __init__(
        self, base_attention: nn.Module, layer_idx: int, update_rule: str = "delta", gate_init: float = -4.0,
        read_cap: float = 0.0, has_memory: bool = True, query_gate: bool = False, key_conv: int = 0,
        value_shift: bool = False, decay_gate: bool = False, memory_out_rank: int = 0, context_pool: bool = False,
    ):
        super().__init__()
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"unknown memory update rule {update_rule!r}; expected one of {UPDATE_RULES}")
        if not read_cap >= 0:
            raise ValueError(f"read_cap is a multiple of the local read's RMS, 0 (off) or more; got {read_cap!r}")
        if isinstance(key_conv, bool) or not isinstance(key_conv, int) or key_conv < 0:
            raise ValueError(f"key_conv is a number of tokens, 0 (off) or more; got {key_conv!r}")
        if isinstance(memory_out_rank, bool) or not isinstance(memory_out_rank, int) or memory_out_rank < 0:
            raise ValueError(f"memory_out_rank is a rank, 0 (off) or more; got {memory_out_rank!r}")
        config = base_attention.config
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.update_rule = update_rule
        self.read_cap = float(read_cap)  # older cards say true: 1.0
        # Without memory (InfiniConfig.memory_layers leaves this layer out) the layer is the base attention
        # and passes its (empty) memory entry on unchanged, so every layer keeps its index in the state.
        self.has_memory = has_memory
        self.query_gate = has_memory and query_gate
        # The pretrained projections, under their original names so checkpoints and LoRA targets match.
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            base_attention.q_proj, base_attention.k_proj, base_attention.v_proj, base_attention.o_proj,
        )
        # Eq. 10: one learned scalar beta per query head. Starts nearly closed (sigmoid(-4) = 0.018)
        # so that an untrained conversion answers like the base model from its local segment.
        weight = base_attention.q_proj.weight
        if has_memory:
            self.memory_gate = nn.Parameter(torch.full((self.num_heads,), float(gate_init), device=weight.device))
        if self.query_gate:
            # Variant, not the paper's: the gate also depends on the token, g_t = sigmoid(beta + x_t W_g), so a
            # head can read memory where a question asks for it and shut it over ordinary text. W_g starts at
            # zero: the static gate of Eq. 10, so a trained static-gate artifact is where training resumes.
            self.memory_gate_proj = nn.Linear(config.hidden_size, self.num_heads, bias=False, device=weight.device)
            nn.init.zeros_(self.memory_gate_proj.weight)
        if has_memory and update_rule == "deltanet":
            # Per-token write strength beta_t = sigmoid(x W + b) per KV head; starts at 0.5 everywhere.
            self.memory_beta = nn.Linear(config.hidden_size, self.num_kv_heads, device=weight.device)
            nn.init.zeros_(self.memory_beta.weight)
            nn.init.zeros_(self.memory_beta.bias)
        self.decay_gate = has_memory and decay_gate
        if self.decay_gate:
            if update_rule != "deltanet":
                raise ValueError("decay_gate is a variant of the deltanet rule (Gated DeltaNet)")
            # Variant: per-token decay alpha_t = exp(-softplus(x W_a + b_a)) per KV head (deltanet_update). Starts at
            # W_a = 0, b_a = -10: alpha = 1 - 4.5e-5, a memory that keeps 69% after 8K tokens, so a trained artifact
            # without decay is where training resumes; Adam moves b_a at its learning rate whatever the small gradient.
            self.memory_decay = nn.Linear(config.hidden_size, self.num_kv_heads, device=weight.device)
            nn.init.zeros_(self.memory_decay.weight)
            nn.init.constant_(self.memory_decay.bias, -10.0)
        self.value_shift = value_shift  # variant: key t stores value t+1 (next_token_pairs)
        self.key_conv = key_conv if has_memory else 0
        if self.key_conv:
            # Variant (causal_conv): per channel taps over the last key_conv tokens, for the memory branch's
            # queries and keys; identity at the start, so a trained artifact without them is where training resumes.
            def identity_taps(heads):
                taps = torch.zeros(heads, key_conv, self.head_dim, device=weight.device)
                taps[:, -1] = 1.0
                return nn.Parameter(taps)

            self.memory_conv_q, self.memory_conv_k = identity_taps(self.num_heads), identity_taps(self.num_kv_heads)
        self.context_pool = has_memory and context_pool
        if self.context_pool:
            # Variant (attention_pool): memory queries and keys plus, per channel, what the local attention gathers
            # of them. Zero at the start: a trained artifact without it is where training resumes.
            self.memory_pool_q = nn.Parameter(torch.zeros(self.num_heads, 1, self.head_dim, device=weight.device))
            self.memory_pool_k = nn.Parameter(torch.zeros(self.num_kv_heads, 1, self.head_dim, device=weight.device))
        self.memory_out_rank = memory_out_rank if has_memory else 0
        if self.memory_out_rank:
            # Variant: the gated memory read also goes through a low-rank map of its own into the residual stream,
            # beside W_O. W_O sends each head's read into the 64 directions the base model gave that head; a fact
            # read from memory may need others. Up starts at zero (as LoRA's B): a trained artifact without it
            # is where training resumes, and an empty memory (gate 0) still leaves the base model.
            width = self.num_heads * self.head_dim
            self.memory_out_down = nn.Linear(width, memory_out_rank, bias=False, device=weight.device)
            self.memory_out_up = nn.Linear(memory_out_rank, config.hidden_size, bias=False, device=weight.device)
            nn.init.zeros_(self.memory_out_up.weight)
        self.context: SegmentContext | None = None  # set by InfiniModel; shared by all layers

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, **kwargs):
        B, T, _ = hidden_states.shape
        d, G, R = self.head_dim, self.num_kv_heads, self.num_heads // self.num_kv_heads
        ctx = self.context
        use_memory = ctx is not None and ctx.use_memory
        if use_memory and not self.has_memory:
            if ctx.write:
                ctx.memory_out.append(ctx.memory_in[self.layer_idx])
            use_memory = False
        # Base projections for the local branch; with LoRA, adapted ones for the memory branch.
        (q, q_mem), (k, k_mem), (v, v_mem) = (project(p, hidden_states, use_memory) for p in (self.q_proj, self.k_proj, self.v_proj))
        q, q_mem = (x.view(B, T, self.num_heads, d).transpose(1, 2) for x in (q, q_mem))  # (B, Hq, T, d)
        k, k_mem, v, v_mem = (x.view(B, T, G, d).transpose(1, 2) for x in (k, k_mem, v, v_mem))  # (B, G, T, d)

        # Local branch: RoPE, then causal softmax attention within the segment.
        cos, sin = position_embeddings
        q_rot, k_rot = apply_rotary_pos_emb(q, k, cos, sin)
        k_local, v_local = k_rot, v
        generating = ctx is not None and ctx.local_kv is not None
        past = ctx.local_kv[self.layer_idx] if generating and len(ctx.local_kv) > self.layer_idx else None
        if past is not None:
            k_local, v_local = torch.cat([past.keys, k_rot], dim=2), torch.cat([past.values, v], dim=2)
        attn = local_attention(q_rot, k_local, v_local)  # A_dot (B, Hq, T, d)

        if use_memory:
            W = ctx.window
            M, z, q_tail, k_tail = ctx.memory_in[self.layer_idx]
            q_seen = q_mem  # context_pool: the memory queries of every token so far in this segment
            if self.context_pool:  # variant: + what the local attention gathers of the memory queries and keys
                if past is not None:
                    q_seen = torch.cat([past.memory_queries, q_mem], dim=2)
                q_mem = q_mem + self.memory_pool_q * attention_pool(q_rot, k_local, q_seen)
                if ctx.write:  # each KV head's key: the mean of its R query heads' pools
                    pooled_k = attention_pool(q_rot, k_local, k_mem).view(B, G, R, T, d).mean(dim=2)
                    k_mem = k_mem + self.memory_pool_k * pooled_k
            if self.key_conv:  # variant: queries and keys as n-grams (causal_conv), over the segments joined in time
                if past is not None:  # the generated tokens follow the prompt, not the memory's last segment
                    q_tail = past.query_tail
                q_mem, q_tail = causal_conv(segments_to_sequence(q_mem, W), q_tail, self.memory_conv_q)
                q_mem = sequence_to_segments(q_mem, W)
                if ctx.write:  # keys only matter for a write; answering and decoding skip them
                    k_mem, k_tail = causal_conv(segments_to_sequence(k_mem, W), k_tail, self.memory_conv_k)
                    k_mem = sequence_to_segments(k_mem, W)
            # Write: the memory each segment reads (M_{s-1}) and the one the last segment leaves (M_s).
            # Memory branch: Q and K *without* RoPE, in float32 whatever the model's dtype.
            M_read, z_read = M, z
            stored = (None, None)  # (keys, write strengths) for match_log
            if ctx.write and self.update_rule == "deltanet":
                beta = torch.sigmoid(self.memory_beta(hidden_states.to(self.memory_beta.weight.dtype))).transpose(1, 2)  # (B, G, T)
                k_write, v_write = unit(k_mem.float()), v_mem.float()
                log_alpha = ()  # with the decay gate: (log alpha_t (B, G, T),)
                if self.decay_gate:
                    decay_in = self.memory_decay(hidden_states.to(self.memory_decay.weight.dtype))
                    log_alpha = (-F.softplus(decay_in.float()).transpose(1, 2),)
                if self.value_shift:
                    k_write, v_write, beta, *log_alpha = next_token_pairs(k_write, v_write, beta, *log_alpha)
                if ctx.write_strengths is not None:
                    ctx.write_strengths.append(beta.mean())
                stored = (k_write, beta)
                (M_read,), (M_new,) = scan_segments(
                    lambda M, k, v, b, *log_a: (deltanet_update(k, v, b, M, *log_a),), (M,),
                    (k_write, v_write, beta, *log_alpha), W)
                ctx.memory_out.append(LayerMemory(M_new, z, q_tail, k_tail))
            elif ctx.write:
                k_write, v_write = sigma(k_mem.float()), v_mem.float()
                if self.value_shift:
                    k_write, v_write = next_token_pairs(k_write, v_write)
                (M_read, z_read), (M_new, z_new) = scan_segments(
                    lambda M, z, k, v: memory_update(k, v, M, z, self.update_rule), (M, z), (k_write, v_write), W)
                ctx.memory_out.append(LayerMemory(M_new, z_new, q_tail, k_tail))
            # Read
            if self.update_rule == "deltanet":  # variant: unit-vector read, no denominator
                q_unit = unit(q_mem.float())  # (B, Hq, T, d)
                memory_attn = (q_unit.view(B, G, R, T, d) @ M_read.unsqueeze(2)).reshape(B, self.num_heads, T, d)
                if ctx.match_log is not None:
                    ctx.match_log.append({"layer": self.layer_idx, "queries": q_unit, "keys": stored[0], "strength": stored[1]})
            else:
                sigma_q = sigma(q_mem.float()).view(B, G, R, T, d)
                memory_attn = memory_read(sigma_q, M_read, z_read).reshape(B, self.num_heads, T, d)  # Eq. 7
            if self.read_cap:
                memory_attn = cap_to(memory_attn, attn.float(), self.read_cap)
            # Gated mix
            gate_logit = self.memory_gate.float().view(1, self.num_heads, 1, 1)
            if self.query_gate:  # + x_t W_g: (B, T, Hq) -> (B, Hq, T, 1)
                token_term = self.memory_gate_proj(hidden_states.to(self.memory_gate_proj.weight.dtype))
                gate_logit = gate_logit + token_term.float().transpose(1, 2).unsqueeze(-1)
            gate = torch.sigmoid(gate_logit)  # Eq. 10's sigmoid(beta), per head (and per token with query_gate)
            if ctx.detached_reads >= W:  # the reads (and gates) as constants: no gradient in the residual stream
                memory_attn, gate = memory_attn.detach(), gate.detach()
            elif ctx.detached_reads:  # the same for the first segments of each document only
                constant = (torch.arange(B, device=gate.device) % W < ctx.detached_reads).view(B, 1, 1, 1)
                memory_attn = torch.where(constant, memory_attn.detach(), memory_attn)
                gate = torch.where(constant, gate.detach(), gate)
            # Nothing written yet (M_0 = 0; Eq. 7 is then 0/0): no memory term, so a first segment or a
            # short question without a document reads exactly as in the base model.
            gate = gate * (M_read.flatten(1).abs().amax(dim=1) > 0).view(B, 1, 1, 1)
            if ctx.gate_log is not None:
                ctx.gate_log.append(gate.detach().expand(B, self.num_heads, T, 1)[..., 0])
            if self.memory_out_rank:  # variant: g A_mem (B, Hq, T, d) -> (B, T, hidden) through its own map
                gated_read = (gate * memory_attn).transpose(1, 2).reshape(B, T, self.num_heads * d)
                memory_out = self.memory_out_up(self.memory_out_down(gated_read.to(self.memory_out_down.weight.dtype)))
            attn = torch.lerp(attn.float(), memory_attn, gate).to(hidden_states.dtype)  # Eq. 10: g A_mem + (1-g) A_dot
        if generating:
            cache = LocalCache(k_local, v_local, q_tail if use_memory and self.key_conv else None,
                               q_seen if use_memory and self.context_pool else None)
            if past is not None:
                ctx.local_kv[self.layer_idx] = cache
            else:
                ctx.local_kv.append(cache)

        # Eq. 11: concatenate heads (transpose back first, so heads and positions stay paired), W_O.
        attn = attn.transpose(1, 2).reshape(B, T, self.num_heads * d)
        out = self.o_proj(attn)  # (B, T, hidden)
        if use_memory and self.memory_out_rank:
            out = out + memory_out.to(out.dtype)
        return out, None
