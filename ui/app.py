"""The web chat (SPIKE, issue 4 in progress): streaming answers and an escaped sources panel.

Not wired into the package or tests yet. Run: .venv/bin/python ui/app.py [index-dir] [port]
"""

from __future__ import annotations

import html
import sys
from collections.abc import Iterator

import gradio as gr

import rag

EXAMPLES = [
    "Which countries could join AUKUS Pillar 2?",
    "Which fighter jet project was involved in the South Korean leak case?",
    "What is the total budget of AUKUS Pillar 2?",
]


def sources_html(answer: rag.Answer | None, passages: tuple[rag.Hit, ...] = ()) -> str:
    """Cited passages with the supporting sentence highlighted; every piece of document text escaped."""
    if answer is None:
        return ""
    if answer.abstained:
        items = "".join(f"<li><b>{html.escape(h.title)}</b> <code>{html.escape(h.doc_id)}</code>"
                        f"<p>{html.escape(h.text)}</p></li>" for h in answer.passages[:3])
        return f"<div class='abstained'><p>Closest passages found:</p><ol>{items}</ol></div>"
    out = []
    for c in answer.citations:
        q0, q1 = c.quote_start - c.start, c.quote_end - c.start
        body = (html.escape(c.text[:q0]) + "<mark>" + html.escape(c.text[q0:q1]) + "</mark>"
                + html.escape(c.text[q1:]))
        out.append(f"<div class='source' id='source-{c.n}'><b>[{c.n}] {html.escape(c.title)}</b> "
                   f"<code>{html.escape(c.doc_id)} [{c.start}:{c.end}]</code><p>{body}</p></div>")
    return "".join(out)


def build(assistant: rag.Assistant) -> gr.Blocks:
    with gr.Blocks(title="Ask your documents") as app:
        gr.Markdown("# Ask your documents")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=480, sanitize_html=True, render_markdown=False)
                box = gr.Textbox(placeholder="Ask a question about the documents", show_label=False)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    stop = gr.Button("Stop")
                    clear = gr.Button("Clear")
                gr.Examples(EXAMPLES, inputs=box)
            with gr.Column(scale=2):
                sources = gr.HTML(label="Sources")
        history = gr.State([])

        def respond(question: str, messages: list, pairs: list) -> Iterator[tuple]:
            messages = [*messages, {"role": "user", "content": question}, {"role": "assistant", "content": ""}]
            stream = assistant.stream(question, pairs)
            text = ""
            try:
                for piece in stream:
                    text += piece
                    messages[-1] = {"role": "assistant", "content": text}
                    yield "", messages, "", pairs
            finally:
                stream.close()
            answer = stream.answer
            if answer is not None:
                messages[-1] = {"role": "assistant", "content": answer.text}
                pairs = [*pairs, (question, answer.text)]
            yield "", messages, sources_html(answer), pairs

        event = send.click(respond, [box, chat, history], [box, chat, sources, history])
        submit = box.submit(respond, [box, chat, history], [box, chat, sources, history])
        stop.click(None, cancels=[event, submit])
        clear.click(lambda: ([], "", []), None, [chat, sources, history])
    return app


if __name__ == "__main__":
    index = rag.Index(sys.argv[1] if len(sys.argv) > 1 else "index")
    assistant = rag.Assistant(index)
    assistant.warm_up()
    build(assistant).queue(default_concurrency_limit=1).launch(
        server_name="127.0.0.1", server_port=int(sys.argv[2]) if len(sys.argv) > 2 else 7860)
