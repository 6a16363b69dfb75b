"""The web chat: streaming answers whose ``[n]`` markers link to a sources panel (supporting sentence
highlighted, whole document one click away), and a documents tab (list, upload, remove).

One answer is written at a time (two at once on 2 cores would both be slow): chat questions wait in
the same bounded queue as the API's, first come first served, and past its bound or its timeout the
chat says so in the answer's place. Each browser tab has its own conversation (``gr.State``). What
reaches the page is escaped by ``ui.render``.

``build_app(workspace)`` is the entry point; ``ui.server`` serves it with the document view.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator

import gradio as gr

from rag import MODES, RagError
from rag.documents import SUPPORTED_SUFFIXES
from rag.errors import BusyError, WaitTimeoutError
from rag.workspace import Workspace

from . import render

EXAMPLES = [
    "Which countries could join AUKUS Pillar 2?",
    "Which fighter jet project was involved in the South Korean leak case?",
    "Who said New Zealand was still a long way from deciding whether to join?",
    "What is the total budget of AUKUS Pillar 2?",
]
UPDATE_EVERY_S = 0.12
# Gradio's Stop closes this generator, which it can only do between two yields (it retries meanwhile,
# holding the app's lock for every other Stop): so while the answer waits for its turn, is retrieved or
# verified, the generator still yields a no-op this often.
WAIT_TICK_S = 0.25
HEADERS = ["title", "file", "chunks", "size", "added (UTC)"]


def documents_table(documents: list[dict]) -> list[list]:
    return [[d["title"], d["doc_id"], d["chunks"], f"{d['size'] / 1e3:.1f} kB", d["added"][:16].replace("T", " ")]
            for d in documents]


def build_app(workspace: Workspace) -> gr.Blocks:
    """The Gradio app around a warmed-up ``workspace`` (its uploads go to ``workspace.uploads``)."""
    defaults = workspace.settings
    max_upload_mb = workspace.max_upload_mb

    with gr.Blocks(title="Ask your documents") as app:
        gr.Markdown("## Ask your documents\nAnswers come only from the indexed documents, with numbered "
                    "citations; when the documents don't say, the assistant says so.")
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=460, sanitize_html=True, render_markdown=True,
                                  latex_delimiters=[], elem_id="chat")
                box = gr.Textbox(placeholder="Ask a question about the documents", show_label=False)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    stop = gr.Button("Stop")
                    clear = gr.Button("Clear")
                gr.Examples(EXAMPLES, inputs=box, label="Examples")
                with gr.Accordion("Settings", open=False):
                    k = gr.Slider(1, 10, value=defaults.k, step=1, label="Passages given to the model")
                    mode = gr.Radio(list(MODES), value=defaults.mode, label="Retrieval mode")
                    generator = gr.Radio(list(dict.fromkeys([defaults.generator, "extractive"])),
                                         value=defaults.generator,
                                         label="Generator (extractive: no language model, instant)")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(render.PANEL_HINT, elem_id="sources")
        with gr.Tab("Documents"):
            listed = workspace.documents()
            table = gr.Dataframe(documents_table(listed), headers=HEADERS, interactive=False, wrap=True,
                                 column_widths=["32%", "30%", "8%", "10%", "20%"], label="Indexed documents")
            kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
            files = gr.File(file_count="multiple", file_types=sorted(SUPPORTED_SUFFIXES),
                            label=f"Add documents ({kinds}; up to {max_upload_mb:g} MB each)")
            add = gr.Button("Add to the index", variant="primary")
            with gr.Row():
                doc = gr.Dropdown([d["doc_id"] for d in listed], value=None, label="Document to remove")
                remove = gr.Button("Remove", variant="stop")
            status = gr.Markdown()
        turns = gr.State([])  # this tab's conversation: [{"question", "answer", "sources"}]

        def respond(question: str, messages: list, done: list, k: int, mode: str,
                    generator: str) -> Iterator[tuple]:
            question = (question or "").strip()
            if not question:
                yield "", messages, gr.skip(), done
                return
            history = [(t["question"], t["answer"]) for t in done]
            messages = [*messages, {"role": "user", "content": render.user_message(question)},
                        {"role": "assistant", "content": "…"}]
            yield "", messages, gr.skip(), done
            try:
                stream = workspace.stream(question, history, k=int(k), mode=mode, generator=generator)
                text, shown_at = "", 0.0
                try:
                    for piece in stream.updates(every=WAIT_TICK_S):
                        if piece is None:  # nothing new: hand control back, so a Stop can close us now
                            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
                            continue
                        text += piece
                        # The first words at once, then at most ~8 updates a second: every update is
                        # re-rendered by the browser, and on 2 cores that work slows the model down.
                        if time.monotonic() - shown_at >= UPDATE_EVERY_S:
                            shown_at = time.monotonic()
                            messages[-1] = {"role": "assistant", "content": render.md_literal(text)}
                            yield "", messages, gr.skip(), done
                finally:
                    stream.close()  # a stop or a closed tab frees the model for the next question
            except (BusyError, WaitTimeoutError) as exc:  # the shared answer queue is full, or was too slow
                reason = str(exc)  # e.g. "the assistant is busy: …": its first letter up, the rest as written
                reply = reason[:1].upper() + reason[1:] + "."
                messages[-1] = {"role": "assistant", "content": render.md_literal(reply)}
                yield "", messages, gr.skip(), done
                return
            except RagError as exc:  # e.g. the index was removed under us: say so, keep the page
                raise gr.Error(str(exc)) from None
            answer = stream.answer
            if answer is None:
                return
            turn = len(done) + 1
            messages[-1] = {"role": "assistant", "content": render.answer_message(answer, turn)}
            done = [*done, {"question": question, "answer": answer.text,
                            "sources": render.sources_html(answer, turn, workspace.index.locate)}]
            yield "", messages, render.sources_panel([(t["question"], t["sources"]) for t in done]), done

        inputs = [box, chat, turns, k, mode, generator]
        outputs = [box, chat, sources, turns]
        # No progress overlay: the bubble's "…" already says an answer is coming, and the overlay's
        # animated timer costs CPU that the model needs on a 2-core machine.
        # Chat questions join the answer queue the API's questions wait in (one bound, one timeout, first come
        # first served): Gradio lets as many through as that queue holds, plus the one being answered.
        answers = {"concurrency_limit": (workspace.max_waiting or 8) + 1, "concurrency_id": "answers"}
        asked = [send.click(respond, inputs, outputs, show_progress="hidden", **answers),
                 box.submit(respond, inputs, outputs, show_progress="hidden", **answers)]
        # gradio documents `cancels` as a list of events but annotates it as a list of dicts
        stop.click(None, cancels=asked)  # pyright: ignore[reportArgumentType]
        clear.click(lambda: ([], render.PANEL_HINT, []), None, [chat, sources, turns])

        def refreshed() -> tuple:
            """The documents table and the remove list, from one read of the index."""
            listed = workspace.documents()
            return documents_table(listed), gr.update(choices=[d["doc_id"] for d in listed], value=None)

        def add_files(paths: list[str] | None, progress=gr.Progress()) -> tuple:  # noqa: B008 - gradio's idiom
            if not paths:
                return gr.skip(), gr.skip(), gr.skip(), "Choose one or more files first."
            progress(0, desc="Waiting for the current answer…")  # the index changes between answers
            result = workspace.upload(paths, progress=_progress(progress))
            report = result.report
            lines = [f"Added {len(report.added)} and updated {len(report.updated)} document(s)." if report else ""]
            lines += [f"- not added: {html.escape(p)}" for p in result.problems]
            table, choices = refreshed()
            return table, choices, None, "\n".join(line for line in lines if line)

        def remove_doc(doc_id: str | None) -> tuple:
            if not doc_id:
                return gr.skip(), gr.skip(), "Choose a document to remove."
            try:
                workspace.remove(doc_id)
            except RagError as exc:
                return gr.skip(), gr.skip(), f"error: {html.escape(str(exc))}"
            return *refreshed(), f"Removed {html.escape(doc_id)}."

        add.click(add_files, [files], [table, doc, files, status])
        remove.click(remove_doc, [doc], [table, doc, status])
    return app


def _progress(progress: gr.Progress):
    """The index's progress callback shown as Gradio's progress bar."""
    def start(label: str, total: int):
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            progress((done, max(total, 1)), desc=f"{label} {'chunks' if label == 'Embedding' else 'files'}")
        return advance
    return start
