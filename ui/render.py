"""HTML for the web chat: chat messages, the sources panel and the whole-document view.

Nothing a document, a file name or a user wrote ever reaches the page as markup. Sources and the
document view use ``html.escape``. Chat messages go through Gradio's Markdown renderer (it is the only
way to put a link in a bubble), so their text is first made *literal Markdown*: every ASCII punctuation
mark gets a backslash, which CommonMark defines as "this character, as itself". No tag, link,
emphasis or bare-URL autolink can form; the only markup in a message is what this module adds.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Callable
from urllib.parse import urlencode

from rag import Answer, Hit
from rag.config import REASONS, Reason

ABSTAIN_REASONS: dict[Reason, str] = {
    "weak-retrieval": "Nothing in the documents comes close to this question.",
    "model": "The passages found do not answer it.",
    "unsupported": "An answer was drafted, but the passages did not support it, so it was withheld.",
    "off-topic": "The passages found say something near the question, but not what it asks.",
}
assert set(ABSTAIN_REASONS) == set(REASONS), "every abstention reason needs its sentence here"

_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_MARKER = re.compile(r"\[(\d+)\]")


def md_literal(text: str) -> str:
    """``text`` as Markdown that renders exactly as ``text``: no HTML, links or emphasis can form."""
    return _PUNCT.sub(r"\\\1", text)


def user_message(question: str) -> str:
    return md_literal(question)


def answer_message(answer: Answer, turn: int) -> str:
    """The final answer for the chat: its ``[n]`` markers link to the same numbers in the sources panel;
    an abstention is styled apart and says why."""
    if answer.abstained:
        why = ABSTAIN_REASONS.get(answer.reason, "") if answer.reason else ""
        return (f"<span class='abstain-msg'>{md_literal(answer.text)}</span> "
                f"<span class='abstain-why'>{md_literal(why)} The closest passages are under Sources.</span>")
    cited = {c.n for c in answer.citations}
    out, last = [], 0
    for m in _MARKER.finditer(answer.text):
        out.append(md_literal(answer.text[last:m.start()]))
        n = int(m.group(1))
        out.append(f"<a class='cite' href='#source-{turn}-{n}'>[{n}]</a>" if n in cited else md_literal(m.group()))
        last = m.end()
    out.append(md_literal(answer.text[last:]))
    quoted = sorted({n for c in answer.claims if c.quoted and c.supported for n in c.citations})
    if quoted:
        out.append(f" <span class='evidence-note'>(Quoted word for word from {', '.join(f'[{n}]' for n in quoted)}: "
                   "sentences chosen as evidence, which the model, as judge, found answer the question.)</span>")
    if answer.parts:  # asked in parts: say so, so a reader knows why sentences may come from different searches
        asked = "; ".join(md_literal(part) for part in answer.parts)
        out.append(f" <span class='parts-note'>(Answered part by part: {asked})</span>")
    return "".join(out)


def document_link(doc_id: str, start: int, end: int, quote: tuple[int, int] | None = None) -> str:
    """The URL of the whole-document view, scrolled to and highlighting ``start:end``."""
    query = {"doc": doc_id, "start": start, "end": end}
    if quote:
        query |= {"quote_start": quote[0], "quote_end": quote[1]}
    return f"document?{urlencode(query)}#cited"


Locate = Callable[[str, int, int], "str | None"]  # (doc_id, start, end) -> "p. 3", "slide 4"…: Index.locate


def sources_html(answer: Answer | None, turn: int = 1, locate: Locate | None = None) -> str:
    """The sources of one answer: cited passages with the supporting sentence marked and where they are in
    their document (``locate``), each linking to the whole document; for an abstention, the closest passages
    found. All document text is escaped."""
    if answer is None:
        return ""
    if answer.abstained:
        return ("<div class='abstained'><p><b>The documents don't say.</b> Closest passages found:</p><ol>"
                + "".join(_closest(h) for h in answer.passages[:3]) + "</ol></div>")
    parts = []
    for c in answer.citations:
        q0, q1 = c.quote_start - c.start, c.quote_end - c.start
        body = (html.escape(c.text[:q0]) + "<mark>" + html.escape(c.text[q0:q1]) + "</mark>"
                + html.escape(c.text[q1:]))
        location = locate(c.doc_id, c.start, c.end) if locate else None
        where = f"<span class='where'>{html.escape(location)}</span> · " if location else ""
        link = html.escape(document_link(c.doc_id, c.start, c.end, (c.quote_start, c.quote_end)))
        parts.append(f"<div class='source' id='source-{turn}-{c.n}'><b>[{c.n}] {html.escape(c.title)}</b>"
                     f"<div class='meta'>{where}{html.escape(c.doc_id)}, characters {c.start} to {c.end} · "
                     f"<a href='{link}' target='_blank' rel='noopener'>open the document</a></div>"
                     f"<p>{body}</p></div>")
    return "".join(parts)


def _closest(hit: Hit) -> str:
    link = html.escape(document_link(hit.doc_id, hit.start, hit.end))
    where = f"<span class='where'>{html.escape(hit.location)}</span> · " if hit.location else ""
    return (f"<li><b>{html.escape(hit.title)}</b><div class='meta'>{where}{html.escape(hit.doc_id)} · "
            f"<a href='{link}' target='_blank' rel='noopener'>open the document</a></div>"
            f"<p>{html.escape(' '.join(hit.text.split()))}</p></li>")


def sources_panel(turns: list[tuple[str, str]]) -> str:
    """Every answer's sources, newest first and open; earlier answers folded under their question, so
    the markers of an earlier answer still lead somewhere."""
    if not turns:
        return PANEL_HINT
    parts = []
    for number in range(len(turns), 0, -1):
        question, body = turns[number - 1]
        summary = f"<summary>Answer {number}: {html.escape(question)}</summary>"
        parts.append(f"<details class='turn'{' open' if number == len(turns) else ''}>{summary}{body}</details>")
    return "".join(parts)


PANEL_HINT = ("<p class='meta'>The passages an answer cites appear here, with the supporting sentence "
              "highlighted. Click a [n] marker in an answer to jump to its passage.</p>")


def document_page(title: str, doc_id: str, text: str, start: int, end: int,
                  quote: tuple[int, int] | None = None, location: str | None = None) -> str:
    """A whole document as a page, with ``start:end`` highlighted (and ``quote`` inside it marked more
    strongly), scrolled there by the ``#cited`` fragment of the link; ``location`` (``p. 3``…) in its header."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    start, end = min(start, end), max(start, end)
    q0, q1 = quote if quote and start <= quote[0] <= quote[1] <= end else (start, start)
    body = (html.escape(text[:start]) + "<mark class='passage' id='cited'>" + html.escape(text[start:q0])
            + "<mark class='quote'>" + html.escape(text[q0:q1]) + "</mark>" + html.escape(text[q1:end])
            + "</mark>" + html.escape(text[end:]))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{DOCUMENT_CSS}</style></head><body><header><h1>{html.escape(title)}</h1>"
            f"<p class='meta'>{html.escape(doc_id)} · "
            + (f"<span class='where'>{html.escape(location)}</span> · " if location else "")
            + f"characters {start} to {end} highlighted</p></header>"
            f"<main>{body}</main></body></html>")


DOCUMENT_CSS = """
body { font: 16px/1.6 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #111827; }
h1 { font-size: 1.3rem; margin-bottom: 0.2rem; }
.meta { color: #6b7280; font-size: 0.9rem; }
main { white-space: pre-wrap; }
mark.passage { background: #dbeafe; scroll-margin-top: 30vh; }
mark.quote { background: #fde68a; }
.where { color: #1f2937; font-weight: 600; }
"""

CSS = """
.source { border-left: 3px solid #2563eb; padding: 4px 10px; margin: 8px 0; scroll-margin-top: 40px; }
.source:target { background: #eff6ff; }
.source mark { background: #fde68a; }
.abstained { border-left: 3px solid #9ca3af; padding: 4px 10px; color: #374151; }
.meta { color: #6b7280; font-size: 0.85em; }
.meta .where { color: #1f2937; font-weight: 600; }
details.turn > summary { cursor: pointer; color: #374151; margin: 6px 0; }
a.cite { text-decoration: none; font-weight: 600; }
.abstain-msg { font-style: italic; color: #4b5563; }
.abstain-msg::before { content: "\\2298  "; }
.abstain-why { display: block; color: #6b7280; font-size: 0.9em; }
"""
