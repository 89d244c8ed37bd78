"""Fine-tune the memory: gates (own learning rate, no weight decay) plus LoRA on the attention projections.

    python -m infini.train --recipe infini/recipes/cpu.json --out runs/cpu

Full back-propagation through the memory across every segment of a sample, with gradient
checkpointing per segment. Samples mix passkey, needle-in-real-text and language modelling, with
the segment count drawn per batch and its maximum growing over training (a curriculum). Progress
is the larger of step/steps and elapsed/max_minutes, so a time-boxed run still completes its
curriculum and schedule. Resumes from OUT/checkpoint.safetensors.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .adapter import add_lora, load_trained_weights, read_card, save_adapter, trainable_state
from .gates import head_kinds
from core.loading import load_base_model
from .model import InfiniConfig, InfiniModel, base_fingerprint, mark_trainable
from .stream import InfiniReader
from .train_data import IGNORE, SampleMaker, answer_spans, collate

DEFAULTS = {
    "segment_len": 256, "update_rule": "delta", "gate_init": 0.0, "read_cap": False,
    "lora_rank": 16, "lora_alpha": 32, "lora_targets": ["q_proj", "k_proj", "v_proj"],  # memory branch only (attention.project)
    "lr_adapter": 3e-4, "lr_gate": 0.01, "weight_decay": 0.0, "warmup_fraction": 0.05,
    "batch_size": 4, "steps": 200, "max_minutes": 80.0,
    "min_segments": 1, "start_max_segments": 4, "max_segments": 8, "curriculum_fraction": 0.6,
    "tail_min": 48, "no_memory_share": 0.05, "last_segment_share": 0.2,
    "task_mix": {"passkey": 0.4, "niah": 0.4, "language_modelling": 0.2},
    "dtype": "float32", "device": "cpu", "seed": 0, "checkpoint_every": 25,
    "init_adapter": None,  # start from a trained artifact (a second stage with longer samples)
    "grad_segments": None,  # back-propagate through the whole network for the last n memory segments only
    # Memory segments per pass over the layers (InfiniModel.forward_segments): the same loss and gradients in
    # wider products; 1 (one at a time) is how every artifact before it was trained.
    "segments_per_pass": 1,
    # Variant (deltanet): loss += write_penalty * mean write strength, so that filler stops overwriting needles.
    "write_penalty": 0.0,
    "memory_layers": None,  # which layers get memory (None: all, the paper's layer everywhere)
    "lr_write": None,  # learning rate of the write strength (weight and bias); None: bias with the gates, weight with LoRA
    "niah_needles": 3, "niah_ask_all": False,  # needles per niah sample; ask for each of them (one ingestion, several reads)
    "repeat_digit_share": 0.0,  # share of needle numbers with a repeated adjacent digit (0: drawn as the eval draws them)
    # This stage's number in the project's history. Numbers are global: two stages trained from one artifact
    # (siblings) differ, so a lineage can skip some. None: the init card's last stage + 1.
    "stage": None,
    "query_gate": False,  # variant: gates per token (InfiniConfig.query_gate)
    "lr_query_gate": None,  # learning rate of the query gates' W_g; None: the adapters' (stage 6: W_g barely moved)
    "key_conv": 0,  # variant: memory queries and keys convolved over this many tokens (InfiniConfig.key_conv)
    "value_shift": False,  # variant: each key stores the next token's value (InfiniConfig.value_shift)
    "decay_gate": False,  # variant (deltanet): Gated DeltaNet's per-token decay (InfiniConfig.decay_gate)
    "lr_decay": 0.05,  # the decay gate's bias: from -10 (no decay) an Adam step moves it about this much
    "memory_out_rank": 0,  # variant: the memory read's own low-rank output map (InfiniConfig.memory_out_rank); trains with LoRA
    "context_pool": False,  # variant: memory queries and keys plus what local attention gathers of them (InfiniConfig.context_pool)
    "lr_conv": None,  # learning rate of the convolutions' taps; None: the gates' (the adapters' would barely move them)
    "lr_pool": None,  # learning rate of the pools' mix (context_pool); None: the gates'
    # The text documents are made of (train_data.TEXTS): the Language Reference's first 90% (every artifact up to
    # the key-convolution chain; the eval's haystack) or the standard library's docstrings (disjoint from it).
    "text": "language_reference",
    "unanswerable_share": 0.0,  # facts samples that also ask something the text does not say (answer: a refusal)
    # Auxiliary loss (deltanet): loss += match_loss * how badly the queries at a fact's answer find the keys that
    # wrote it among all the sample's stored keys (train.match_loss), in match_layers (None: every memory layer),
    # at the answer's first match_tokens tokens (None: all it shares with the text; 1: the one asked from the question).
    "match_loss": 0.0, "match_layers": None, "match_temperature": 0.1, "match_tokens": None,
}


DATA_NOTES = {
    "language_reference": "generated on the fly in pydoc_data.topics (first 90%; the eval's haystack)",
    "stdlib_docstrings": "generated on the fly in the standard library's docstrings (infini/train_text.py), "
                         "facts from infini/train_facts.py",
}


def trained_formats(task_mix: dict) -> dict:
    """What the card says each task family was trained with: the eval formats it shares, or its own templates."""
    from . import train_facts
    from .train_data import INSTRUCTIONS, RECALL_QUESTIONS, REFUSALS

    own = {"relations": len(train_facts.RELATIONS), "statement_forms": sum(len(r.statements) for r in train_facts.RELATIONS),
           "question_forms": sum(len(r.questions) for r in train_facts.RELATIONS), "lead_ins": len(set(train_facts.LEAD_INS)),
           "instructions": len(set(INSTRUCTIONS)), "refusals": len(REFUSALS)}
    formats = {"passkey": "the eval's passkey format (core/formats.py)", "niah": "the eval's needle format (core/formats.py)",
               "facts": {"templates": "infini/train_facts.py", **own},
               "facts_2hop": {"templates": "infini/train_facts.py", "links": len(train_facts.LINKS), **own},
               "recall": {"questions": len(RECALL_QUESTIONS)}, "language_modelling": "next-token loss on the text"}
    return {task: formats[task] for task in task_mix}


def load_recipe(path: str | None, overrides: list[str]) -> dict:
    recipe = dict(DEFAULTS)
    if path:
        recipe.update(json.loads(Path(path).read_text()))
    for item in overrides:  # key=value, value parsed as JSON when it can be
        key, value = item.split("=", 1)
        try:
            recipe[key] = json.loads(value)
        except json.JSONDecodeError:
            recipe[key] = value
    unknown = set(recipe) - set(DEFAULTS)
    if unknown:
        raise SystemExit(f"unknown recipe keys: {sorted(unknown)}")
    if recipe["write_penalty"] and recipe["update_rule"] != "deltanet":
        raise SystemExit("write_penalty needs update_rule deltanet (the only rule with a write strength)")
    if recipe["match_loss"] and (recipe["update_rule"] != "deltanet" or recipe["value_shift"]):
        raise SystemExit("match_loss needs update_rule deltanet (unit keys) and each key at its own token (no value_shift)")
    return recipe


def build_model(recipe: dict, model_path: str | None = None):
    dtype = getattr(torch, recipe["dtype"])
    lm, tokenizer = load_base_model(model_path, dtype=dtype, device=recipe["device"])
    config = InfiniConfig(recipe["segment_len"], recipe["update_rule"], recipe["gate_init"], recipe["read_cap"],
                          recipe["memory_layers"], recipe["query_gate"], recipe["key_conv"], recipe["value_shift"],
                          recipe["decay_gate"], recipe["memory_out_rank"], recipe["context_pool"])
    model = InfiniModel(lm, config)
    add_lora(model, recipe["lora_rank"], recipe["lora_alpha"], recipe["lora_targets"])
    if recipe["init_adapter"]:
        card = read_card(recipe["init_adapter"])
        if card["infini"]["update_rule"] != recipe["update_rule"] or card["lora"]["rank"] != recipe["lora_rank"]:
            raise SystemExit(f"{recipe['init_adapter']} was trained with other settings: {card['infini']}, {card['lora']}")
        if card["infini"].get("value_shift", False) != recipe["value_shift"]:
            raise SystemExit(f"{recipe['init_adapter']} has value_shift {card['infini'].get('value_shift', False)}, the recipe {recipe['value_shift']}")
        if card["infini"].get("key_conv", 0) > recipe["key_conv"]:  # a wider window takes the taps (adapter.widen_taps)
            raise SystemExit(f"{recipe['init_adapter']} has key_conv {card['infini']['key_conv']}, the recipe {recipe['key_conv']}")
        if card["infini"].get("decay_gate", False) and not recipe["decay_gate"]:  # the other way round starts one fresh
            raise SystemExit(f"{recipe['init_adapter']} has a decay gate (decay_gate true), the recipe none: set decay_gate")
        if card["infini"].get("context_pool", False) and not recipe["context_pool"]:
            raise SystemExit(f"{recipe['init_adapter']} pools memory queries and keys (context_pool true), the recipe does not")
        if card["infini"].get("memory_out_rank", 0) not in (0, recipe["memory_out_rank"]):
            raise SystemExit(f"{recipe['init_adapter']} has memory_out_rank {card['infini']['memory_out_rank']}, "
                             f"the recipe {recipe['memory_out_rank']}")
        fresh = [name for name, new in (("memory_gate_proj", recipe["query_gate"] and not card["infini"].get("query_gate", False)),
                                        ("memory_conv", recipe["key_conv"] and not card["infini"].get("key_conv", 0)),
                                        ("memory_decay", recipe["decay_gate"] and not card["infini"].get("decay_gate", False)),
                                        ("memory_out_", recipe["memory_out_rank"] and not card["infini"].get("memory_out_rank", 0)),
                                        ("memory_pool", recipe["context_pool"] and not card["infini"].get("context_pool", False)))
                 if new]
        load_trained_weights(model, recipe["init_adapter"], fresh)
    mark_trainable(model.lm)
    return model, tokenizer


def make_optimizer(model: InfiniModel, recipe: dict) -> torch.optim.Optimizer:
    # Scalars per head (gates, the variant's write-strength bias) take the large learning rate; matrices over
    # the hidden state (LoRA, query gates' W_g) the adapters' smaller one.
    own_write_lr = recipe["lr_write"] is not None
    own_query_lr = recipe["lr_query_gate"] is not None
    named = list(model.lm.named_parameters())
    writes = [p for n, p in named if "memory_beta" in n] if own_write_lr else []
    query_gates = [p for n, p in named if "memory_gate_proj" in n] if own_query_lr else []
    convs = [p for n, p in named if "memory_conv" in n]  # taps near 1 and 0: a scale like the gates', no decay
    pools = [p for n, p in named if "memory_pool" in n]  # mixes from 0, the same kind of scale
    gates = [p for n, p in named if n.endswith("memory_gate") or ("memory_beta.bias" in n and not own_write_lr)]
    decay_biases = [p for n, p in named if "memory_decay.bias" in n]  # weight over the hidden state: with LoRA
    adapters = [p for n, p in named if "lora_" in n or ("memory_gate_proj" in n and not own_query_lr)
                or ("memory_beta.weight" in n and not own_write_lr) or "memory_decay.weight" in n or "memory_out_" in n]

    def group(params, lr, weight_decay=0.0):  # base_lr: what the schedule scales each step
        return {"params": params, "lr": lr, "weight_decay": weight_decay, "base_lr": lr}

    groups = [group(gates, recipe["lr_gate"]), group(adapters, recipe["lr_adapter"], recipe["weight_decay"])]
    # Optional groups last, so that checkpoints of recipes without them keep their group numbers.
    if writes:
        groups.append(group(writes, recipe["lr_write"]))
    if query_gates:
        groups.append(group(query_gates, recipe["lr_query_gate"]))
    if convs:
        groups.append(group(convs, recipe["lr_conv"] if recipe["lr_conv"] is not None else recipe["lr_gate"]))
    if decay_biases:
        groups.append(group(decay_biases, recipe["lr_decay"]))
    if pools:
        groups.append(group(pools, recipe["lr_pool"] if recipe["lr_pool"] is not None else recipe["lr_gate"]))
    return torch.optim.AdamW(groups, betas=(0.9, 0.95))


def schedule(progress: float, warmup: float) -> float:
    """Linear warm-up, then cosine decay to 10%."""
    if progress < warmup:
        return progress / warmup
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def draw_batch(maker: SampleMaker, recipe: dict, rng: random.Random, progress: float):
    ramp = min(1.0, progress / recipe["curriculum_fraction"])
    top = round(recipe["start_max_segments"] + ramp * (recipe["max_segments"] - recipe["start_max_segments"]))
    S = 0 if rng.random() < recipe["no_memory_share"] else rng.randint(recipe["min_segments"], max(recipe["min_segments"], top))
    kinds = list(recipe["task_mix"])
    weights = [recipe["task_mix"][k] for k in kinds]
    samples = []
    for _ in range(recipe["batch_size"]):
        kind = rng.choices(kinds, weights)[0]
        if S == 0 and kind != "passkey":  # no memory: a short passkey document fits the final segment
            kind = "passkey"
        tail = rng.randint(recipe["tail_min"], max(recipe["tail_min"], maker.N // 2))
        samples.append(getattr(maker, kind)(rng, S, tail, recipe["last_segment_share"]))
    return S, samples


def batch_loss(model: InfiniModel, memory_ids, final_ids, targets, S: int, grad_segments: int | None = None,
               owner: torch.Tensor | None = None, segments_per_pass: int = 1,
               match_log: list | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Answer loss and the mean write strength of the memory segments (None: nothing written, or not deltanet).

    memory_ids (B, S * N); final_ids, targets (F, T); owner (F,) the memory row each final segment
    reads (None: row i for final i). Final segments of one sample read copies of its memory.
    `match_log`, a list: the layers log into it what they store and query (SegmentContext.match_log), for match_loss.
    """
    N = model.config.segment_len
    memory = model.empty_memory(memory_ids.shape[0], device=final_ids.device)
    segments = list(memory_ids.split(N, dim=1)) if S else []
    model.context.write_strengths, model.context.match_log = [], match_log
    try:
        _, memory = model.forward_segments(segments, memory, checkpointed=True, grad_segments=grad_segments,
                                           segments_per_pass=segments_per_pass)
        # Read and unset the list before backward, where checkpointed segments run their layers again.
        strengths = torch.stack(model.context.write_strengths).mean() if model.context.write_strengths else None
        if owner is not None:
            memory = [entry.map(lambda t: t[owner]) for entry in memory]
        hidden, _ = model.segment_hidden(final_ids, memory, write=False)
    finally:
        model.context.write_strengths = model.context.match_log = None
    keep = targets != IGNORE
    logits = model.logits(hidden[keep]).float()  # only where there is a loss: the vocabulary is large
    return F.cross_entropy(logits, targets[keep]), strengths


def logged_keys(log: list[dict], documents: int) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, the unit keys (B, G, tokens, d) and write strengths (B, G, tokens) of every memory segment a
    match log saw written, in document order. Each logged write holds B * W rows: W consecutive segments of each of
    the B documents, document-major (InfiniModel.write_segments)."""
    per_layer: dict[int, list] = {}
    for entry in log:
        if entry["keys"] is not None:
            per_layer.setdefault(entry["layer"], []).append((entry["keys"], entry["strength"]))

    def joined(parts):  # per pass (B * W, G, T, ...) -> (B, G, passes * W * T, ...)
        return torch.cat([p.unflatten(0, (documents, -1)).transpose(1, 2).flatten(2, 3) for p in parts], dim=2)
    return {layer: (joined([k for k, _ in parts]), joined([b for _, b in parts])) for layer, parts in per_layer.items()}


def match_loss(log: list[dict], targets: torch.Tensor, owner: torch.Tensor, spans: list, layers: list[int] | None,
               temperature: float, tokens: int | None = None) -> torch.Tensor | None:
    """How badly each memory layer's queries at an answer find the keys that wrote it (recipe key match_loss).

    A final segment f whose answer sits in memory (spans[f] = (a, n): answer tokens a .. a+n-1 of its document's
    memory, train_data.Sample.answer_spans) has, at the token that predicts answer token i, a unit query per head
    q (d,). Against every unit key its document stored, k_j (tokens, d):
        p_h(j) = softmax_j(q_h . k_j / temperature),  loss = -log mean_h p_h(a + i)
    the mean over heads taken of probabilities, so one head that finds the key is enough and heads may specialise.
    Averaged over (layer, answer token), for the answer's first `tokens` tokens (None: all). Measured at the answer's
    first token by research/key_margin.py, among the facts only. The first is the hard one: its query sits on the
    prompt's last token and has to come from the question, where a later one sits on the answer's previous token,
    which the text holds just before the key to find.
    log: batch_loss's match_log; targets (F, T); owner (F,). None: no answer of the batch in memory.
    """
    keys = logged_keys(log, documents=int(owner.max()) + 1)
    queries = {entry["layer"]: entry["queries"] for entry in log if entry["keys"] is None}  # final read (F, Hq, T, d)
    terms = []
    for f, span in enumerate(spans):
        if span is None:
            continue
        start, count = span
        count = count if tokens is None else min(count, tokens)
        first = int((targets[f] != IGNORE).nonzero()[0])  # predicts the answer's first token
        for layer in sorted(keys if layers is None else set(layers) & set(keys)):
            stored = keys[layer][0][owner[f]]  # (G, tokens, d)
            q = queries[layer][f, :, first:first + count]  # (Hq, n, d)
            stored = stored.repeat_interleave(q.shape[0] // stored.shape[0], dim=0)  # each head's KV group
            log_p = (q @ stored.transpose(-1, -2) / temperature).log_softmax(dim=-1)  # (Hq, n, tokens)
            right = log_p[:, torch.arange(count), torch.arange(start, start + count)]  # (Hq, n)
            terms.append(math.log(q.shape[0]) - right.logsumexp(dim=0))  # (n,)
    return torch.cat(terms).mean() if terms else None


def save_checkpoint(path: Path, model, optimizer, step: int, elapsed: float, tokens: int) -> None:
    tensors = {f"param.{n}": t for n, t in trainable_state(model).items()}
    for gi, group in enumerate(optimizer.param_groups):
        for pi, p in enumerate(group["params"]):
            for key, value in optimizer.state.get(p, {}).items():
                tensors[f"opt.{gi}.{pi}.{key}"] = value.detach().float().cpu().reshape(-1) if value.dim() == 0 else value.detach().cpu()
    tmp = path.with_suffix(".tmp")
    save_file(tensors, tmp, metadata={"step": str(step), "elapsed": str(elapsed), "tokens": str(tokens)})
    tmp.replace(path)


def checkpoint_params(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The trained parameters of a checkpoint (its other entries are optimiser state)."""
    return {n[len("param."):]: t for n, t in tensors.items() if n.startswith("param.")}


def load_checkpoint(path: Path, model, optimizer) -> tuple[int, float, int | None]:
    """Loads the parameters and optimiser state; returns (step, seconds trained, tokens trained on; None from
    checkpoints saved before the count was kept)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    tensors = load_file(str(path))
    model.lm.load_state_dict(checkpoint_params(tensors), strict=False)
    for gi, group in enumerate(optimizer.param_groups):
        for pi, p in enumerate(group["params"]):
            state = {}
            for key in ("step", "exp_avg", "exp_avg_sq"):
                value = tensors.get(f"opt.{gi}.{pi}.{key}")
                if value is not None:
                    state[key] = value.reshape(()) if key == "step" else value.to(p.device)
            if state:
                optimizer.state[p] = state
    return int(meta["step"]), float(meta["elapsed"]), int(meta["tokens"]) if "tokens" in meta else None


LOG_FIELDS = ["step", "segments", "loss", "write_strength", "match", "lr_adapter", "tokens", "elapsed_s", "tokens_per_s",
              "gate_mean", "gate_min", "gate_max", "memory_heads", "local_heads"]


def open_log(path: Path, step: int):
    """The training log, opened to append from `step` (0: a new log). On resume the rows logged after the
    checkpoint are dropped, since those steps run again. Returns (file, csv writer, the token count of the
    last row kept: what a checkpoint without its own count resumes from)."""
    kept = []
    if step and path.exists():
        with path.open(newline="") as old:
            kept = [row for row in csv.DictReader(old) if row.get("step", "").isdigit() and int(row["step"]) <= step]
    tmp = path.with_suffix(".tmp")  # rewritten beside, then swapped: a crash here leaves the old log whole
    with tmp.open("w", newline="") as fresh:
        writer = csv.DictWriter(fresh, fieldnames=LOG_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
    tmp.replace(path)
    log_file = path.open("a", newline="")
    tokens = int(kept[-1]["tokens"]) if kept and kept[-1].get("tokens", "").isdigit() else 0
    return log_file, csv.DictWriter(log_file, fieldnames=LOG_FIELDS), tokens


def gate_stats(model: InfiniModel) -> dict:
    g = model.gate_values()
    return {
        "gate_mean": round(g.mean().item(), 4), "gate_min": round(g.min().item(), 4),
        "gate_max": round(g.max().item(), 4),
        **{k: v for k, v in head_kinds(g).items() if k != "mixers"},
    }


# What a chained stage's card records of its recipe (the whole recipe is in the card as well).
STAGE_KEYS = ("seed", "min_segments", "start_max_segments", "max_segments", "curriculum_fraction", "task_mix",
              "last_segment_share", "lr_adapter", "grad_segments", "write_penalty", "lr_write", "niah_needles",
              "niah_ask_all", "repeat_digit_share")


def chained_stages(init_card: dict, init_adapter: str, recipe: dict, recipe_file: str | None,
                   steps: int, seconds: float) -> list[dict]:
    """The training history of an artifact trained from another one: the init card's stages, then this one.

    The new stage's number is the recipe's `stage`, else the init card's last + 1; an init artifact
    without a history is stage 1.
    """
    earlier = [dict(stage) for stage in init_card.get("stages", [])]
    if not earlier:
        earlier = [{"stage": 1, "artifact": init_adapter, "steps": init_card.get("steps"),
                    "train_seconds": init_card.get("train_seconds")}]
    return earlier + [{
        "stage": recipe["stage"] or earlier[-1]["stage"] + 1, "recipe_file": recipe_file, "init_adapter": init_adapter,
        "steps": steps, "train_seconds": seconds, **{key: recipe[key] for key in STAGE_KEYS},
    }]


def train(recipe: dict, out: Path, model_path: str | None = None, log_every: int = 5,
          recipe_file: str | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2))
    torch.manual_seed(recipe["seed"])
    model, tokenizer = build_model(recipe, model_path)
    reader = InfiniReader(model, tokenizer)
    maker = SampleMaker(tokenizer, reader.turn_open, reader.turn_close, recipe["segment_len"],
                        recipe["niah_needles"], recipe["niah_ask_all"], recipe["repeat_digit_share"],
                        recipe["text"], recipe["unanswerable_share"])
    optimizer = make_optimizer(model, recipe)
    checkpoint_path = out / "checkpoint.safetensors"
    step, elapsed_before, tokens_before = 0, 0.0, None
    if checkpoint_path.exists():
        step, elapsed_before, tokens_before = load_checkpoint(checkpoint_path, model, optimizer)
        print(f"resumed at step {step}")
    log_file, writer, tokens_logged = open_log(out / "train_log.csv", step)
    tokens_before = tokens_logged if tokens_before is None else tokens_before
    model.train()
    started = time.perf_counter() - elapsed_before
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    losses, strengths, matches, tokens = [], [], [], tokens_before
    while True:
        elapsed = time.perf_counter() - started
        progress = max(step / recipe["steps"], elapsed / (60 * recipe["max_minutes"]))
        if progress >= 1.0:
            break
        rng = random.Random(recipe["seed"] * 1_000_003 + step)  # data depends only on the step: resumable
        S, samples = draw_batch(maker, recipe, rng, progress)
        memory_ids, final_ids, targets, owner = collate(samples, pad_id, recipe["device"])
        scale = schedule(progress, recipe["warmup_fraction"])
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * scale
        log = [] if recipe["match_loss"] and S else None
        loss, strength = batch_loss(model, memory_ids, final_ids, targets, S, recipe["grad_segments"], owner,
                                    recipe["segments_per_pass"], log)
        total = loss if strength is None else loss + recipe["write_penalty"] * strength
        match = None if log is None else match_loss(log, targets, owner, answer_spans(samples), recipe["match_layers"],
                                                    recipe["match_temperature"], recipe["match_tokens"])
        if match is not None:
            total = total + recipe["match_loss"] * match
            matches.append(match.item())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if strength is not None:
            strengths.append(strength.item())
        tokens += memory_ids.numel() + final_ids.numel()
        if step % log_every == 0:
            elapsed = time.perf_counter() - started
            row = {"step": step, "segments": S, "loss": round(sum(losses) / len(losses), 4),
                   "write_strength": round(sum(strengths) / len(strengths), 4) if strengths else "",
                   "match": round(sum(matches) / len(matches), 4) if matches else "",
                   "lr_adapter": f"{optimizer.param_groups[1]['lr']:.2e}", "tokens": tokens,
                   "elapsed_s": round(elapsed, 1), "tokens_per_s": round((tokens - tokens_before) / max(elapsed - elapsed_before, 1e-9)),
                   **gate_stats(model)}
            writer.writerow(row)
            log_file.flush()
            print(row, flush=True)
            losses, strengths, matches = [], [], []
        if step % recipe["checkpoint_every"] == 0:
            save_checkpoint(checkpoint_path, model, optimizer, step, time.perf_counter() - started, tokens)
    log_file.close()
    save_checkpoint(checkpoint_path, model, optimizer, step, time.perf_counter() - started, tokens)
    card = {
        "base_model_fingerprint": base_fingerprint(model.lm),
        "infini": asdict(model.config),
        "lora": {"rank": recipe["lora_rank"], "alpha": recipe["lora_alpha"], "targets": recipe["lora_targets"]},
        "recipe": recipe, "steps": step, "train_seconds": round(time.perf_counter() - started, 1),
        "data": DATA_NOTES[recipe["text"]] + f"; tasks {recipe['task_mix']}; see infini/train_data.py",
        "trained_formats": trained_formats(recipe["task_mix"]),
        **gate_stats(model),
    }
    if recipe["init_adapter"]:
        card["stages"] = chained_stages(read_card(recipe["init_adapter"]), recipe["init_adapter"], recipe,
                                        recipe_file, step, card["train_seconds"])
    adapter_path = out / "adapter.safetensors"
    save_adapter(model, adapter_path, card)
    return adapter_path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", help="JSON recipe file (infini/recipes/*.json)")
    parser.add_argument("--out", required=True, help="run folder: log, checkpoint, adapter")
    parser.add_argument("--model", help="base model: checkpoint folder or .gguf (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override recipe entries")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe, args.set)
    print(train(recipe, Path(args.out), args.model, recipe_file=args.recipe))


if __name__ == "__main__":
    main()
