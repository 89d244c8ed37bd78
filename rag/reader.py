"""The reader: the same base model as the Infini pipeline, unmodified, answering from retrieved chunks."""
from __future__ import annotations

from collections.abc import Iterator

from langchain_core.documents import Document

from core.decoding import stream_plain

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

    def stream(self, prompt_ids: list[int], max_new_tokens: int) -> Iterator[str]:
        """Greedy decoding with the model's own KV cache; returns an Answer (StopIteration.value)."""
        return stream_plain(self.lm, self.tokenizer, prompt_ids, max_new_tokens)
