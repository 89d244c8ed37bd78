"""The Gradio page: declarative layout; every action is a short function over app.logic."""
from __future__ import annotations

import random

import gradio as gr

from eval.tasks import TokenCounter, language_reference, make_passkey

from .logic import Settings, UserError, Workbench, check_question, memory_figure, read_document, sources_markdown, stats_markdown

# The 135M reader answers this wording reliably; "What is the pass key?" often gets a definition.
PASSKEY_QUESTION = "Which number is the pass key?"
DEFAULT_QUESTIONS = [
    "What does the assert statement do?",
    "What does the pass statement do?",
    "How are default parameter values evaluated?",
]


def build(workbench: Workbench) -> gr.Blocks:
    default_text = language_reference()

    def describe(text: str, name: str) -> str:
        return f"**{name}**: {len(text):,} characters, {workbench.count_tokens(text):,} tokens"

    default_label = describe(default_text, "Python's Language Reference (default)")

    def settings_of(top_k, chunk_tokens, segment_len, max_new_tokens) -> Settings:
        return Settings(int(top_k), int(chunk_tokens), int(segment_len), int(max_new_tokens))

    def load_file(path, session):
        if path is None:
            return {"text": default_text, "name": "default", "processed": None}, default_label
        try:
            text = read_document(path)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        name = path.split("/")[-1]
        return {"text": text, "name": name, "processed": None}, describe(text, name)

    def passkey_example(session):
        case = make_passkey(TokenCounter(workbench.pipelines["infini"].reader.tokenizer), 3000, 40, random.Random())
        return ({"text": case.document, "name": "passkey", "processed": None}, describe(case.document, "generated passkey document"),
                PASSKEY_QUESTION)

    def process(session, top_k, chunk_tokens, segment_len, max_new_tokens, progress=gr.Progress()):
        text = session.get("text") or default_text
        status = {}

        def report(name, fraction, message):
            status[name] = f"{name}: {fraction:.0%} ({message})"
            progress(fraction, desc=" · ".join(status.values()))

        try:
            processed = workbench.process(text, settings_of(top_k, chunk_tokens, segment_len, max_new_tokens), report)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        return session | {"processed": processed}, f"Processed: {processed.tokens:,} tokens. " + " · ".join(status.values())

    def ask(session, question, top_k, chunk_tokens, segment_len, max_new_tokens):
        try:
            question = check_question(question)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        settings = settings_of(top_k, chunk_tokens, segment_len, max_new_tokens)
        # Costs nothing for a processed document; after a settings change it re-ingests only what that affects.
        session, _ = process(session, top_k, chunk_tokens, segment_len, max_new_tokens, progress=lambda *a, **k: None)
        processed = session["processed"]
        kv = workbench.kv_cache_bytes(processed.tokens)
        out = {"infini": "", "rag": ""}
        stats = {"infini": "", "rag": ""}
        sources, figure = "", None
        for name in ("infini", "rag"):
            stream = workbench.ask(processed, question, settings, name)
            while True:
                try:
                    out[name] += next(stream)
                except StopIteration as done:
                    result = done.value
                    break
                yield out["infini"], stats["infini"], out["rag"], stats["rag"], sources, figure
            label = "memory state" if name == "infini" else "FAISS index"
            stats[name] = stats_markdown(result, kv, label)
            if name == "rag":
                sources = sources_markdown(result)
            else:
                figure = memory_figure(workbench.pipelines["infini"], processed.handles["infini"])
            yield out["infini"], stats["infini"], out["rag"], stats["rag"], sources, figure

    with gr.Blocks(title="Infini-attention vs retrieval") as demo:
        gr.Markdown("# Long-document QA: Infini-attention memory vs retrieval (FAISS)\n"
                    "Same base model (SmolLM2-135M-Instruct), same question, two ways of reading the document.")
        session = gr.State({"text": default_text, "name": "default", "processed": None})
        with gr.Row():
            upload = gr.File(label="Upload a document (.txt, .md, .html, .pdf; up to 20 MB)", type="filepath",
                             file_types=[".txt", ".md", ".html", ".htm", ".pdf"])
            with gr.Column():
                doc_info = gr.Markdown(default_label)
                process_button = gr.Button("Process", variant="secondary")
                process_status = gr.Markdown()
        with gr.Row():
            question = gr.Textbox(label="Question", placeholder="Ask about the document", scale=5)
            ask_button = gr.Button("Ask", variant="primary", scale=1)
        with gr.Row():
            with gr.Column():
                gr.Markdown("### Infini-attention memory")
                gr.Markdown(workbench.memory_description())
                infini_answer = gr.Markdown(elem_id="infini-answer")
                infini_stats = gr.Markdown()
                memory_plot = gr.Plot(label="gates and memory")
            with gr.Column():
                gr.Markdown("### Retrieval (FAISS)")
                rag_answer = gr.Markdown(elem_id="rag-answer")
                rag_stats = gr.Markdown()
                with gr.Accordion("Retrieved chunks", open=False):
                    rag_sources = gr.Markdown()
        with gr.Accordion("Settings", open=False):
            top_k = gr.Slider(1, 10, value=3, step=1, label="top-k chunks")
            chunk_tokens = gr.Slider(50, 400, value=100, step=10, label="chunk size (tokens)")
            trained_len = workbench.pipelines["infini"].reader.segment_len  # what the loaded adapter was trained with
            segment_len = gr.Slider(128, 2048, value=trained_len, step=128, label="Infini segment length (tokens)")
            max_new_tokens = gr.Slider(8, 256, value=64, step=8, label="max new tokens")
        settings = [top_k, chunk_tokens, segment_len, max_new_tokens]
        with gr.Row():
            gr.Markdown("**Examples**")
            passkey_button = gr.Button("Passkey document (generated)", size="sm")
            gr.Examples(DEFAULT_QUESTIONS, inputs=question, label="Questions about the default document")

        upload.change(load_file, [upload, session], [session, doc_info], concurrency_limit=4)
        passkey_button.click(passkey_example, session, [session, doc_info, question])
        process_button.click(process, [session, *settings], [session, process_status], concurrency_limit=1,
                             concurrency_id="ingest")
        outputs = [infini_answer, infini_stats, rag_answer, rag_stats, rag_sources, memory_plot]
        for trigger in (ask_button.click, question.submit):
            trigger(ask, [session, question, *settings], outputs, concurrency_limit=1, concurrency_id="answer")
    return demo
