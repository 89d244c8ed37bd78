"""How selectively a deltanet memory writes, and how much of a needle is still there at the end.

    python research/write_strength.py --adapter A [--adapter B ...] [--lengths 4k,16k]

For a passkey document (repeated filler) and a needle in the Language Reference (eval.tasks), with
the needle at depth 0 (the most text is written after it), prints per artifact:
- the mean write strength beta_t on the needle's tokens and on every other token;
- retention: cos(k M_needle, k M_later), what the memory returns for the needle's keys k right after
  the needle's segment and 1, 4, 16 segments later and at the end of the document, averaged over
  the needle's tokens, the KV heads and the layers. 1: the needle is intact; near 0: later writes
  replaced it. The curve says whether a needle is lost to the text right after it or worn away
  over the whole document.
Why it matters: a write of strength beta along a unit key removes beta (k . k_needle)^2 of the
needle's association, so thousands of weak writes of unrelated text erase it as surely as one strong.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.runner import parse_length  # noqa: E402
from eval.tasks import NIAH_NEEDLE, PASSKEY_NEEDLE, TokenCounter, make_niah_single, make_passkey  # noqa: E402
from infini.attention import project, unit  # noqa: E402
from core.loading import load_base_model  # noqa: E402
from infini.pipeline import build_infini_model  # noqa: E402

TASKS = {"passkey": make_passkey, "niah_single": make_niah_single}


def needle_tokens(tokenizer, document: str, needle_text: str) -> list[int]:
    start = document.index(needle_text)
    offsets = tokenizer(document, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [i for i, (s, e) in enumerate(offsets) if s < start + len(needle_text) and e > start]


RETENTION_AFTER = (1, 4, 16)  # segments after the needle's, where retention is also read


def reads(keys: list[torch.Tensor], memory) -> list[torch.Tensor]:
    """What each layer's memory returns for the needle's keys: per layer (needle tokens, G, d)."""
    return [torch.einsum("tgd,gde->tge", k, entry.M[0]) for k, entry in zip(keys, memory)]


def retention(keys: list[torch.Tensor], after: list[torch.Tensor], memory) -> float:
    """Mean cos(k M_needle, k M) over the needle's tokens, KV heads and layers."""
    return torch.stack([torch.cosine_similarity(a, e, dim=-1).mean() for a, e in zip(after, reads(keys, memory))]).mean().item()


def measure(model, ids: torch.Tensor, needle: list[int]) -> tuple[float, float, dict[int, float], float]:
    """Mean beta on the needle, mean beta elsewhere, retention RETENTION_AFTER segments later and at the end."""
    N, layers = model.config.segment_len, model.attention_layers()
    inputs, strengths = {}, {}
    hooks = [layer.register_forward_pre_hook(
        lambda mod, args, kwargs: inputs.__setitem__(mod.layer_idx, kwargs.get("hidden_states", args[0] if args else None)),
        with_kwargs=True) for layer in layers]
    hooks += [layer.memory_beta.register_forward_hook(
        lambda mod, args, out, i=i: strengths.setdefault(i, []).append(torch.sigmoid(out[0]))) for i, layer in enumerate(layers)]
    needle_segment = needle[-1] // N
    local = [t - needle_segment * N for t in needle if t // N == needle_segment]
    memory, keys, after, curve = model.empty_memory(1), None, None, {}
    with torch.no_grad():
        for index, segment in enumerate(ids.split(N, dim=1)):
            _, memory = model.segment_hidden(segment, memory)
            if index == needle_segment:
                keys = [unit(project(layer.k_proj, inputs[i][0, local], True)[1].view(len(local), layer.num_kv_heads, -1))
                        for i, layer in enumerate(layers)]  # per layer (needle tokens, G, d)
                after = reads(keys, memory)
            elif index - needle_segment in RETENTION_AFTER:  # after the needle's segment, so keys are set
                curve[index - needle_segment] = retention(keys, after, memory)
    for hook in hooks:
        hook.remove()
    beta = torch.stack([torch.cat(strengths[i]) for i in range(len(layers))])  # (layers, tokens, G)
    on_needle = torch.zeros(beta.shape[1], dtype=torch.bool)
    on_needle[needle] = True
    return beta[:, on_needle].mean().item(), beta[:, ~on_needle].mean().item(), curve, retention(keys, after, memory)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", action="append", required=True, help="a deltanet artifact (repeat to compare)")
    parser.add_argument("--lengths", default="4k,16k")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    lm, tokenizer = load_base_model()
    later = " | ".join(f"retention +{n} segments" for n in RETENTION_AFTER)
    print(f"| artifact | task | tokens | beta on the needle | beta elsewhere | ratio | {later} | retention at the end |")
    print("|---|---|---|---|---|---|" + "---|" * len(RETENTION_AFTER) + "---|")
    for adapter in args.adapter:
        model = build_infini_model(copy.deepcopy(lm), adapter)
        for task, make in TASKS.items():
            for length in (parse_length(x) for x in args.lengths.split(",")):
                case = make(TokenCounter(tokenizer), length, 0.0, random.Random(f"{args.seed}-{task}-{length}"))
                ids = tokenizer(case.document, return_tensors="pt", add_special_tokens=False).input_ids
                needle_text = (PASSKEY_NEEDLE.format(key=case.answers[0]) if task == "passkey"
                               else NIAH_NEEDLE.format(key=case.meta["key"], value=case.answers[0]))
                needle, elsewhere, curve, at_end = measure(model, ids, needle_tokens(tokenizer, case.document, needle_text))
                later = " | ".join(f"{curve[n]:.3f}" if n in curve else "-" for n in RETENTION_AFTER)
                print(f"| {Path(adapter).stem} | {task} | {ids.shape[1]} | {needle:.4f} | {elsewhere:.4f} | "
                      f"{needle / elsewhere:.2f} | {later} | {at_end:.3f} |", flush=True)


if __name__ == "__main__":
    main()
