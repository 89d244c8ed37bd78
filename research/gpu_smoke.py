"""A quick check of training and ingestion on the GPU with a random model shaped like SmolLM2-135M.

    python research/gpu_smoke.py [--segments 8,64] [--batch 16] [--update-rule deltanet] [--grad-segments 2]

Prints a table: seconds per training step and tokens per second at a few segment counts, then the
seconds per segment of a batch-1 ingestion (what the eval's long cases cost); needs no model files.
"""
import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from infini.adapter import add_lora
from infini.model import InfiniConfig, InfiniModel, mark_trainable
from infini.train import batch_loss

parser = argparse.ArgumentParser()
parser.add_argument("--batch", type=int, default=16)
parser.add_argument("--segment-len", type=int, default=128)
parser.add_argument("--segments", default="8,64")
parser.add_argument("--update-rule", default="deltanet")
parser.add_argument("--grad-segments", type=int, default=2)
parser.add_argument("--dtype", default="float32")
args = parser.parse_args()
device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = getattr(torch, args.dtype)
config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                     num_attention_heads=9, num_key_value_heads=3, head_dim=64, tie_word_embeddings=True)
lm = LlamaForCausalLM(config).to(device=device, dtype=dtype)
model = InfiniModel(lm, InfiniConfig(segment_len=args.segment_len, update_rule=args.update_rule, gate_init=0.0,
                                     read_cap=True))
add_lora(model, 16, 32, ["q_proj", "k_proj", "v_proj"])
mark_trainable(lm)


def synchronize():
    if device == "cuda":
        torch.cuda.synchronize()


model.train()
print(f"| segments | batch | s/step | tokens/s | peak GB |  ({device}, {args.dtype}, {args.update_rule})")
for S in [int(s) for s in args.segments.split(",")]:
    B, N = args.batch, args.segment_len
    memory_ids = torch.randint(0, 49152, (B, S * N), device=device)
    final = torch.randint(0, 49152, (B, 96), device=device)
    targets = torch.full_like(final, -100)
    targets[:, -10:] = final[:, -10:]
    for i in range(3):
        if i == 1:
            synchronize()
            started = time.perf_counter()
        loss, _ = batch_loss(model, memory_ids, final, targets, S, args.grad_segments)
        loss.backward()
    synchronize()
    step = (time.perf_counter() - started) / 2
    peak = torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else 0
    print(f"| {S} | {B} | {step:.2f} | {B * (S * N + 96) / step:,.0f} | {peak:.1f} |", flush=True)

model.eval()
with torch.no_grad():
    memory = model.empty_memory(1, device=device)
    segment = torch.randint(0, 49152, (1, args.segment_len), device=device)
    for i in range(23):
        if i == 3:
            synchronize()
            started = time.perf_counter()
        _, memory = model.segment_hidden(segment, memory)
    synchronize()
print(f"ingestion, batch 1: {(time.perf_counter() - started) / 20 * 1000:.1f} ms per {args.segment_len}-token segment")
