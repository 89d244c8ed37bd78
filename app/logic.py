"""Everything the app does, outside the UI: reading uploads, processing, asking, pictures.

The app holds two objects behind the shared contract (core.contract.Pipeline) and a cache of
processed documents keyed by content hash. One lock guards the model: ingestion takes it per
piece of text, so another user's question waits for at most one piece, not a whole document.
"""
from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from core.contract import AnswerResult, Pipeline  # noqa: E402
from core.documents import (  # noqa: E402, F401  (the page's helpers)
    ACCEPTED, MAX_QUESTION_CHARS, MAX_UPLOAD_BYTES, InputError, check_question, read_document,
)

PIECE_CHARS = 8_000  # ingestion holds the model lock for one piece at a time
# Below this a reply is marked unsure: on 32 held-out fact questions every right answer of the best memory had
# all its tokens above it, and 5 of 13 invented ones did not (research/answerability/control-2k.md). A hint only.
LOW_CONFIDENCE = 0.4
UserError = InputError  # what the page shows as an error message


def content_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


@dataclass
class Settings:
    top_k: int = 3
    chunk_tokens: int = 100
    segment_len: int = 512
    max_new_tokens: int = 64


@dataclass
class Processed:
    key: str
    chars: int
    tokens: int
    handles: dict = field(default_factory=dict)  # pipeline name -> handle


class Workbench:
    """The two pipelines, a lock on the model, and processed documents by content hash."""

    def __init__(self, pipelines: dict[str, Pipeline], count_tokens: Callable[[str], int], kv_bytes_per_token: int,
                 max_documents: int = 16):
        self.pipelines = pipelines
        self.count_tokens = count_tokens
        self.kv_bytes_per_token = kv_bytes_per_token
        self.model_lock = threading.Lock()
        self.documents: OrderedDict[tuple, object] = OrderedDict()  # (pipeline, content, setting) -> handle
        self.token_counts: dict[str, int] = {}
        self.max_documents = max_documents

    @classmethod
    def load(cls, model: str | None = None, adapter: str | None = "default") -> "Workbench":
        """Load the base model once; each pipeline gets its own copy (the Infini one is converted).

        adapter: the trained memory ("default": the committed artifact; None: the untrained conversion).
        """
        from core.loading import kv_bytes_per_token, load_base_model
        from infini.pipeline import InfiniPipeline
        from rag.pipeline import RagPipeline

        lm, tokenizer = load_base_model(model)
        infini = InfiniPipeline.load(adapter=adapter, base=(copy.deepcopy(lm), tokenizer), device="cpu")
        rag = RagPipeline.load(base=(lm, tokenizer), device="cpu")
        return cls({"infini": infini, "rag": rag}, lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"]),
                   kv_bytes_per_token(lm))

    def memory_description(self) -> str:
        """What the Infini column runs, in plain words: the memory rule, and for a trained memory the segment
        length and task families it was trained on (from its card)."""
        from infini.adapter import read_card
        from infini.model import describe_memory

        model = self.pipelines["infini"].reader.model
        rule = describe_memory(model.config)
        if not model.adapter_path:
            return f"Untrained conversion ({rule}): no trained memory loaded, answers come from the last segment"
        card = read_card(model.adapter_path)
        recipe = card.get("recipe") or {}
        trained_len = recipe.get("segment_len") or card.get("infini", {}).get("segment_len")
        families = ", ".join(recipe.get("task_mix") or {}) or "not recorded on its card"
        return (f"Trained memory `{Path(model.adapter_path).name}`: {rule}. Trained at {trained_len}-token segments "
                f"on {families}. (`--adapter none` runs the untrained conversion.)")

    # ---- settings travel with each request: nothing shared is changed ------------------------------
    def _ingest_key(self, name: str, key: str, settings: Settings) -> tuple:
        # Only what a pipeline's ingestion depends on: top-k and answer length re-ingest nothing.
        return (name, key, settings.segment_len if name == "infini" else settings.chunk_tokens)

    def process(self, text: str, settings: Settings,
                progress: Callable[[str, float, str], None] | None = None) -> Processed:
        """Ingest into both pipelines (or take them from the cache). progress(pipeline, fraction, message)."""
        if not text.strip():
            raise UserError("The document is empty.")
        key = content_key(text)
        if key not in self.token_counts:
            self.token_counts[key] = self.count_tokens(text)
        processed = Processed(key, len(text), self.token_counts[key])
        for name, pipeline in self.pipelines.items():
            cache_key = self._ingest_key(name, key, settings)
            if cache_key in self.documents:
                self.documents.move_to_end(cache_key)
                processed.handles[name] = self.documents[cache_key]
                if progress:
                    progress(name, 1.0, "cached: nothing to do")
                continue
            handle = self._ingest(name, pipeline, text, settings, progress)
            self.documents[cache_key] = handle
            while len(self.documents) > self.max_documents:
                self.documents.popitem(last=False)
            processed.handles[name] = handle
        return processed

    def _ingest(self, name: str, pipeline, text: str, settings: Settings, progress) -> object:
        from rag.chunking import ChunkSettings

        started = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            if progress and fraction > 0:
                elapsed = time.perf_counter() - started
                left = elapsed * (1 - fraction) / fraction
                progress(name, fraction, f"{message}, about {left:.0f} s left")

        if name == "infini":  # piece by piece, releasing the model between pieces
            return pipeline.ingest(text, report, lock=self.model_lock, piece=PIECE_CHARS, segment_len=settings.segment_len)
        chunking = ChunkSettings(settings.chunk_tokens, max(1, settings.chunk_tokens // 5))
        with self.model_lock:
            return pipeline.ingest(text, report, settings=chunking)

    def ask(self, processed: Processed, question: str, settings: Settings, name: str) -> Iterator[str]:
        """Stream one pipeline's answer; returns its AnswerResult. The model lock is held while a piece is
        computed, never while it waits on the client: an abandoned stream blocks nobody."""
        stream = self.pipelines[name].answer(processed.handles[name], question, max_new_tokens=settings.max_new_tokens,
                                             top_k=settings.top_k)
        while True:
            with self.model_lock:
                try:
                    piece = next(stream)
                except StopIteration as done:
                    return done.value
            yield piece

    def kv_cache_bytes(self, tokens: int) -> int:
        return tokens * self.kv_bytes_per_token


# ---- what the columns show ---------------------------------------------------------------------
def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def stats_markdown(result: AnswerResult, kv_bytes: int, label: str) -> str:
    return (f"ingest {result.ingest_s:.1f} s · first token {result.time_to_first_token_s:.2f} s · "
            f"total {result.total_s:.2f} s · {result.tokens_per_s:.1f} tokens/s{confidence_note(result)}  \n"
            f"{label} {human_bytes(result.state_bytes)} vs full KV cache {human_bytes(kv_bytes)}")


def confidence_note(result: AnswerResult) -> str:
    """The reply's least sure token: invented answers more often have one below LOW_CONFIDENCE than right ones
    (README, "The app")."""
    if result.confidence is None or not result.text:
        return ""
    return f" · confidence {result.confidence:.2f}" + (" (unsure: check the source)" if result.confidence < LOW_CONFIDENCE else "")


def sources_markdown(result: AnswerResult) -> str:
    """Retrieved chunks with score, rank and offsets; the sentence holding the answer in bold."""
    answer_words = {w for w in re.findall(r"\w{3,}", result.text.lower())}
    blocks = []
    for source in result.sources:
        sentences = re.split(r"(?<=[.!?])\s+", source["text"])
        best = max(sentences, key=lambda s: len(answer_words & set(re.findall(r"\w{3,}", s.lower()))), default="")
        shared = len(answer_words & set(re.findall(r"\w{3,}", best.lower())))
        body = source["text"].replace(best, f"**{best}**", 1) if best and shared >= 2 else source["text"]
        blocks.append(f"<details><summary>#{source['rank']} · score {source['score']:.3f} · characters "
                      f"{source['start']:,}-{source['end']:,}</summary>\n\n{body}\n\n</details>")
    return "\n\n".join(blocks)


def memory_figure(infini_pipeline, handle):
    """Gate per layer and head (which heads read memory) beside the memory norm per layer."""
    from infini.gates import gate_heatmap

    gates = infini_pipeline.reader.model.gate_values().numpy()
    norms = [float(entry.M.norm()) for entry in handle.state.memory]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    gate_heatmap(fig, left, gates)
    right.barh(range(len(norms)), norms, color="tab:blue")
    right.invert_yaxis()
    right.set_xlabel("||M|| (Frobenius)")
    right.set_title("memory norm per layer")
    fig.tight_layout()
    return fig
