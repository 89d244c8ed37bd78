"""The reader: the same base model as the Infini pipeline, unmodified, answering from retrieved chunks."""
from __future__ import annotations

import inspect
import time
from collections.abc import Iterator

import torch
from langchain_core.documents import Document

from core.decoding import Answer, greedy_pieces

# Worded after a small trial (3/5 passkey and needle cases against 1/5 for two other wordings).
INSTRUCTION = ("Read the excerpts from a document, then answer the question with the exact words or numbers "
               "from the excerpts. Be brief.")


class QuestionTooLongError(ValueError):
    pass


class RagReader:
    def __init__(self, lm, tokenizer, context_tokens: int | None = None):
        self.lm = lm.eval()
        self.tokenizer = tokenizer
        limit = getattr(lm.config, "max_position_embeddings", 8192)
        self.context_tokens = min(context_tokens or limit, limit)
        self.stop_ids = {i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if i is not None}
        # transformers renamed past_key_values to cache (5.2x); pass whichever this version takes.
        self.cache_arg = "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"

    def render(self, chunks: list[Document], question: str, answer_prefix: str = "") -> list[int]:
        excerpts = "\n\n".join(
            f"[Excerpt, characters {d.metadata['start']}-{d.metadata['end']}]\n{d.page_content}"
            for d in sorted(chunks, key=lambda d: d.metadata["start"])  # document order
        )
        content = f"{INSTRUCTION}\n\n{excerpts}\n\nQuestion: {question.strip()}"
        prompt = self.tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                    add_generation_prompt=True)
        return self.tokenizer(prompt + answer_prefix, add_special_tokens=False)["input_ids"]

    def fit_prompt(self, chunks: list[Document], question: str, max_new_tokens: int,
                   answer_prefix: str = "") -> tuple[list[int], list[Document]]:
        """Drop the lowest-ranked chunks until the prompt and the answer fit; never trim the question."""
        budget = self.context_tokens - max_new_tokens
        kept = sorted(chunks, key=lambda d: d.metadata["rank"])
        while True:
            ids = self.render(kept, question, answer_prefix)
            if len(ids) <= budget:
                return ids, kept
            if not kept:
                raise QuestionTooLongError(
                    f"the question alone takes {len(ids)} tokens; the model's window leaves {budget}")
            kept = kept[:-1]

    @torch.no_grad()
    def stream(self, prompt_ids: list[int], max_new_tokens: int) -> Iterator[str]:
        """Greedy decoding with the model's own KV cache; returns an Answer (StopIteration.value)."""
        started = time.perf_counter()
        device = self.lm.device
        out = self.lm(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True)

        def advance(token_id: int) -> torch.Tensor:
            nonlocal out
            out = self.lm(input_ids=torch.tensor([[token_id]], device=device), use_cache=True,
                          **{self.cache_arg: getattr(out, self.cache_arg)})
            return out.logits[0, -1]

        detokenizer, first_token_s = yield from greedy_pieces(
            out.logits[0, -1], advance, self.tokenizer, self.stop_ids, max_new_tokens, started)
        return Answer(detokenizer.text, len(detokenizer.ids), len(prompt_ids), first_token_s,
                      time.perf_counter() - started)
