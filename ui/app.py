"""The web chat: streaming answers, numbered citations, a sources panel with the quote highlighted,
and a documents tab (list, upload, remove).

Every piece of document text, document name and question reaches the page escaped (``html.escape``)
or as plain chat text (``sanitize_html``, no markdown), never as live HTML. One generation runs at a
time (the queue's concurrency limit is 1: two answers at once on 2 cores would both be slow);
each browser tab has its own conversation (``gr.State``).

Built by ``rag serve``; ``build_app(assistant)`` is the entry point.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr

from rag import MODES, Answer, AnswerSettings, Assistant, Hit, RagError
from rag.documents import SUPPORTED_SUFFIXES

MAX_UPLOAD_MB = 20

EXAMPLES = [
    "Which countries could join AUKUS Pillar 2?",
    "Which fighter jet project was involved in the South Korean leak case?",
    "Who said New Zealand was still a long way from deciding whether to join?",
    "What is the total budget of AUKUS Pillar 2?",
]

CSS = """
.source { border-left: 3px solid #2563eb; padding: 4px 10px; margin: 8px 0; }
.source mark { background: #fde68a; }
.abstained { border-left: 3px solid #9ca3af; padding: 4px 10px; color: #374151; }
.meta { color: #6b7280; font-size: 0.85em; }
"""


def sources_html(answer: Answer | None) -> str:
    """The sources panel for ``answer``: cited passages with the supporting sentence marked, or,
    for an abstention, the closest passages found. All document text is escaped."""
    if answer is None:
        return ""
    if answer.abstained:
        return ("<div class='abstained'><p><b>The documents don't say.</b> Closest passages found:</p><ol>"
                + "".join(_passage(h) for h in answer.passages[:3]) + "</ol></div>")
    parts = []
    for c in answer.citations:
        q0, q1 = c.quote_start - c.start, c.quote_end - c.start
        body = (html.escape(c.text[:q0]) + "<mark>" + html.escape(c.text[q0:q1]) + "</mark>"
                + html.escape(c.text[q1:]))
        parts.append(f"<div class='source' id='source-{c.n}'><b>[{c.n}] {html.escape(c.title)}</b>"
                     f"<div class='meta'>{html.escape(c.doc_id)}, characters {c.start} to {c.end}</div>"
                     f"<p>{body}</p></div>")
    return "".join(parts)


def _passage(hit: Hit) -> str:
    return (f"<li><b>{html.escape(hit.title)}</b><div class='meta'>{html.escape(hit.doc_id)}</div>"
            f"<p>{html.escape(' '.join(hit.text.split()))}</p></li>")


def safe_name(name: str) -> str:
    """A file name that cannot leave the uploads folder: base name only, plain characters, no leading dot."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")
    return base[:120] or "upload"


def store_uploads(files: Sequence[str], uploads: Path, max_mb: float = MAX_UPLOAD_MB) -> tuple[list[Path], list[str]]:
    """Copy uploaded temp files into ``uploads`` under safe names; return the stored paths and one
    problem line per refused file (wrong type, too large), naming it."""
    uploads.mkdir(parents=True, exist_ok=True)
    stored, problems = [], []
    for tmp in files:
        tmp = Path(tmp)
        name = safe_name(tmp.name)
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            problems.append(f"{name}: not a supported type (use {', '.join(sorted(SUPPORTED_SUFFIXES))})")
            continue
        size = tmp.stat().st_size
        if size > max_mb * 1_000_000:
            problems.append(f"{name}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit")
            continue
        target = uploads / name
        if not target.resolve().is_relative_to(uploads.resolve()):
            problems.append(f"{name}: refused (unsafe name)")
            continue
        shutil.copyfile(tmp, target)
        stored.append(target)
    return stored, problems


def documents_table(documents: list[dict]) -> list[list]:
    return [[d["title"], d["doc_id"], d["chunks"], f"{d['size'] / 1e3:.1f} kB", d["added"]] for d in documents]


def build_app(assistant: Assistant, uploads: Path | None = None, max_upload_mb: float = MAX_UPLOAD_MB) -> gr.Blocks:
    """The Gradio app around a warmed-up ``assistant``; uploaded files are stored in ``uploads``."""
    defaults = assistant.settings
    uploads = Path(uploads or assistant.index.path.parent / "uploads")
    variants: dict[tuple[int, str, str], Assistant] = {}

    with gr.Blocks(title="Ask your documents") as app:
        gr.Markdown("## Ask your documents\nAnswers come only from the indexed documents, with numbered "
                    "citations; when the documents don't say, the assistant says so.")
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=460, sanitize_html=True, render_markdown=False)
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
                sources = gr.HTML("<p class='meta'>The passages an answer cites appear here, "
                                  "with the supporting sentence highlighted.</p>")
        with gr.Tab("Documents"):
            listed = assistant.index.documents()
            table = gr.Dataframe(documents_table(listed), headers=["title", "file", "chunks", "size", "added"],
                                 interactive=False, label="Indexed documents")
            kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
            files = gr.File(file_count="multiple", file_types=sorted(SUPPORTED_SUFFIXES),
                            label=f"Add documents ({kinds}; up to {max_upload_mb:g} MB each)")
            add = gr.Button("Add to the index", variant="primary")
            with gr.Row():
                doc = gr.Dropdown([d["doc_id"] for d in listed], value=None,
                                  label="Document to remove")
                remove = gr.Button("Remove", variant="stop")
            status = gr.Markdown()
        pairs = gr.State([])

        def respond(question: str, messages: list, history: list, k: int, mode: str,
                    generator: str) -> Iterator[tuple]:
            question = (question or "").strip()
            if not question:
                yield "", messages, gr.skip(), history
                return
            target = _assistant_for(assistant, variants, int(k), mode, generator)
            messages = [*messages, {"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
            yield "", messages, "", history
            stream = target.stream(question, [tuple(p) for p in history])
            text = ""
            try:
                for piece in stream:
                    text += piece
                    messages[-1] = {"role": "assistant", "content": text}
                    yield "", messages, gr.skip(), history
            finally:
                stream.close()  # a stop or a closed tab frees the model for the next question
            answer = stream.answer
            if answer is not None:
                messages[-1] = {"role": "assistant", "content": answer.text}
                history = [*history, [question, answer.text]]
            yield "", messages, sources_html(answer), history

        inputs = [box, chat, pairs, k, mode, generator]
        outputs = [box, chat, sources, pairs]
        asked = [send.click(respond, inputs, outputs), box.submit(respond, inputs, outputs)]
        stop.click(None, cancels=asked)
        clear.click(lambda: ([], "", []), None, [chat, sources, pairs])

        def refreshed() -> tuple:
            """The documents table and the remove list, from one read of the index."""
            listed = assistant.index.documents()
            return documents_table(listed), gr.update(choices=[d["doc_id"] for d in listed], value=None)

        def add_files(paths: list[str] | None, progress=gr.Progress()) -> tuple:  # noqa: B008 - gradio's idiom
            if not paths:
                return gr.skip(), gr.skip(), gr.skip(), "Choose one or more files first."
            stored, problems = store_uploads(paths, uploads, max_upload_mb)
            report = None
            if stored:
                progress(0, desc="Indexing…")
                with assistant._lock:  # no answer reads a half-updated state of this process meanwhile
                    report = assistant.index.add(stored)
                problems += report.problems
            lines = [f"Added {len(report.added)} and updated {len(report.updated)} document(s)." if report else ""]
            lines += [f"- not added: {html.escape(p)}" for p in problems]
            table, choices = refreshed()
            return table, choices, None, "\n".join(line for line in lines if line)

        def remove_doc(doc_id: str | None) -> tuple:
            if not doc_id:
                return gr.skip(), gr.skip(), "Choose a document to remove."
            try:
                with assistant._lock:
                    assistant.index.remove([doc_id])
            except RagError as exc:
                return gr.skip(), gr.skip(), f"error: {html.escape(str(exc))}"
            return *refreshed(), f"Removed {html.escape(doc_id)}."

        add.click(add_files, [files], [table, doc, files, status])
        remove.click(remove_doc, [doc], [table, doc, status])
    return app


def _assistant_for(base: Assistant, variants: dict, k: int, mode: str, generator: str) -> Assistant:
    """The base assistant, or one sharing its index and (for the same backend) its loaded model."""
    s = base.settings
    if (k, mode, generator) == (s.k, s.mode, s.generator):
        return base
    key = (k, mode, generator)
    if key not in variants:
        settings = AnswerSettings.from_dict({**s.to_dict(), "k": k, "mode": mode, "generator": generator})
        model = base.generator if generator == s.generator else None
        variant = Assistant(base.index, settings, model)
        variant._lock = base._lock  # still one generation at a time across the whole server
        variants[key] = variant
    return variants[key]
