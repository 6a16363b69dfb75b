"""The web chat: escaping, and the real Gradio app answering over HTTP (extractive generator, real index)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rag_eval.processes import free_port, stop

from rag import AnswerSettings, Citation, Hit, Workspace
from rag.answer import Answer
from rag.config import REASONS

from .conftest import CORPUS, serving

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def reply(text: str, **fields) -> Answer:
    return Answer(**{"question": "q", "standalone": "q", "text": text, "claims": (), "citations": (), "passages": (),
                     "abstained": False, **fields})


def test_sources_panel_escapes_document_text_titles_and_names():
    from rag_ui.render import sources_html

    text = f"Harmless start. {EVIL} is in the middle. End."
    cite = Citation(n=1, doc_id=f"{EVIL}.txt", title=f"Title {EVIL}", start=100, end=100 + len(text), text=text,
                    quote_start=100 + 16, quote_end=100 + 16 + len(EVIL) + 21)
    answer = reply("a [1].", citations=(cite,))
    out = sources_html(answer, turn=3)
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out
    assert "<mark>" in out and "id='source-3-1'" in out and "document?doc=%3Cscript" in out
    hit = Hit(rank=1, chunk_id=1, doc_id=f"{EVIL}.txt", title=f"T {EVIL}", text=text, start=0, end=len(text),
              score=0.5)
    out = sources_html(reply("The documents don't say.", passages=(hit,), abstained=True, reason="model"))
    assert "Closest passages" in out and "<script>" not in out and "<img" not in out


def test_chat_messages_are_literal_markdown_with_links_only_for_cited_markers():
    from rag_ui.render import answer_message, md_literal, user_message

    assert user_message(f"{EVIL} *bold* [x](http://e.com) `c`") == (
        "\\<script\\>alert\\(1\\)\\<\\/script\\>\\<img src\\=x onerror\\=alert\\(2\\)\\> "
        "\\*bold\\* \\[x\\]\\(http\\:\\/\\/e\\.com\\) \\`c\\`")
    assert md_literal("KF-21") == "KF\\-21"
    cite = Citation(n=2, doc_id="a.txt", title="A", start=0, end=10, text="Japan may.", quote_start=0, quote_end=10)
    message = answer_message(reply(f"Japan may join [2][7]. {EVIL}", citations=(cite,)), turn=4)
    assert "<a class='cite' href='#source-4-2'>[2]</a>" in message
    assert "\\[7\\]" in message  # not a cited passage: no link
    assert len(re.findall(r"(?<!\\)<", message)) == 2  # the one link is the only markup
    abstained = answer_message(reply("The documents don't say.", abstained=True, reason="weak-retrieval"), 1)
    from rag_ui.render import ABSTAIN_REASONS

    for reason in REASONS:  # every reason the pipeline can give has its sentence
        message = answer_message(reply("The documents don't say.", abstained=True, reason=reason), 1)
        assert md_literal(ABSTAIN_REASONS[reason]) in message
    assert "class='abstain-msg'" in abstained and "Nothing in the documents comes close" in abstained


def test_sentences_chosen_as_evidence_are_marked_as_quoted():
    from rag_ui.render import answer_message

    from rag.answer import Claim

    cite = Citation(n=1, doc_id="a.txt", title="A", start=0, end=10, text="Japan may.", quote_start=0, quote_end=10)
    written = Claim(text="Japan may.", citations=(1,), supported=True, support=1.0)
    chosen = Claim(text="Japan may.", citations=(1,), supported=True, support=1.0, quoted=True)
    assert "evidence-note" not in answer_message(reply("Japan may [1].", citations=(cite,), claims=(written,)), 1)
    marked = answer_message(reply("Japan may [1].", citations=(cite,), claims=(chosen,)), 1)
    assert "Quoted word for word from [1]" in marked


def test_an_answer_made_in_parts_names_them_escaped():
    from rag_ui.render import answer_message

    plain = answer_message(reply("Japan may [1]."), 1)
    parted = answer_message(reply("Japan may [1].", parts=("Who may join?", f"Why {EVIL}?")), 1)
    assert "parts-note" not in plain and "Answered part by part: Who may join\\?; Why" in parted
    assert len(re.findall(r"(?<!\\)<", parted)) == 2  # the note's own span is the only markup


def test_document_page_highlights_the_span_and_escapes_the_text():
    from rag_ui.render import document_page

    text = f"Intro. {EVIL} The cited sentence. After."
    at = text.index("The cited")
    page = document_page("T <b>", "t.txt", text, at, at + 19, (at, at + 19))
    assert "<mark class='passage' id='cited'><mark class='quote'>The cited sentence.</mark></mark>" in page
    assert "<script>" not in page and "&lt;img" in page and "T &lt;b&gt;" in page
    assert "<main>short<mark class='passage' id='cited'>" in document_page("T", "t.txt", "short", 500, 900)  # clamped


def _reply(messages: list) -> str:
    reply = messages[-1]["content"]
    return reply[0]["text"] if isinstance(reply, list) else reply


@pytest.mark.integration
def test_the_app_answers_over_http_and_serves_the_cited_document(real_index):
    from gradio_client import Client
    from rag_ui.server import create_app

    workspace = Workspace(real_index, AnswerSettings(generator="extractive"))
    workspace.warm_up()
    with serving(create_app(workspace)) as url:
        client = Client(url, verbose=False)
        _, messages, sources = client.predict(  # the conversation state stays on the server
            "Which fighter jet project was involved in the South Korean leak case?", [], 5, "hybrid",
            "extractive", api_name="/respond")
        assert "KF\\-21" in _reply(messages) and "<a class='cite' href='#source-1-" in _reply(messages)
        assert "<mark>" in sources and ("001_" in sources or "002_" in sources)
        link = re.search(r"href='(document\?[^']+)'", sources).group(1).replace("&amp;", "&")
        page = urllib.request.urlopen(url + link, timeout=10).read().decode()
        assert "<mark class='passage' id='cited'>" in page and "KF-21" in page
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "document?doc=nope.txt", timeout=10)
        assert missing.value.code == 404


@pytest.mark.integration
def test_two_sessions_at_once_are_queued_and_keep_their_own_conversations(real_index):
    from gradio_client import Client
    from rag_ui.server import create_app

    workspace = Workspace(real_index, AnswerSettings(generator="extractive"))
    workspace.warm_up()
    with serving(create_app(workspace)) as url:
        first, second = Client(url, verbose=False), Client(url, verbose=False)
        args = (5, "hybrid", "extractive")
        first.predict("Which countries could join AUKUS Pillar 2?", [], *args, api_name="/respond")
        jobs = [first.submit("Which fighter jet project was involved in the South Korean leak case?", [], *args,
                             api_name="/respond"),
                second.submit("Who said New Zealand was still a long way from deciding?", [], *args,
                              api_name="/respond")]
        (_, a_messages, a_sources), (_, b_messages, b_sources) = [job.result(timeout=120) for job in jobs]
    assert "KF\\-21" in _reply(a_messages)
    assert "Answer 2: Which fighter jet" in a_sources and "Answer 1: Which countries" in a_sources
    assert "Answer 1: Who said New Zealand" in b_sources and "Answer 2" not in b_sources
    assert "New Zealand" in _reply(b_messages)


@pytest.mark.integration
def test_rag_serve_builds_a_missing_index_and_serves_the_page(tmp_path: Path):
    port = free_port()
    rag = Path(sys.executable).with_name("rag")
    proc = subprocess.Popen([str(rag), "serve", "--generator", "extractive", "--index", str(tmp_path / "index"),
                             "--corpus", str(CORPUS), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.time() + 120
        page = ""
        while time.time() < deadline and proc.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert "gradio" in page.lower(), proc.stdout.read() if proc.poll() is not None else "no page"
        assert (tmp_path / "index" / "CURRENT").exists()
    finally:
        out = stop(proc)
    assert "No index in" in out and f"http://127.0.0.1:{port}" in out


def test_upload_names_cannot_escape_and_bad_files_are_named(tmp_path):
    from rag.uploads import safe_name, store_uploads

    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("..\\\\evil\\\\x.md") == "x.md"
    assert safe_name(".hidden.txt") == "hidden.txt"
    assert "/" not in safe_name("a/<b>.html") and "<" not in safe_name("a/<b>.html")
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text("Japan may join Pillar 2.")
    (src / "big.txt").write_bytes(b"a" * 2_000_000)
    (src / "tool.exe").write_bytes(b"MZ")
    stored, problems = store_uploads([str(src / n) for n in ("good.txt", "big.txt", "tool.exe")],
                                     tmp_path / "uploads", max_mb=1)
    assert [p.name for p in stored] == ["good.txt"] and stored[0].parent == tmp_path / "uploads"
    assert any(p.startswith("big.txt: 2.0 MB is over the 1 MB limit") for p in problems)
    assert any(p.startswith("tool.exe: not a supported type") for p in problems)


def test_a_stop_racing_the_end_of_its_answer_gets_success_not_a_500():
    """Gradio's cancel route raises KeyError when the event ended between its check and its delete."""
    from fastapi.testclient import TestClient
    from rag_ui.server import CancelRace
    from starlette.applications import Starlette
    from starlette.routing import Route

    def gone(request):
        raise KeyError("event-id")

    inner = Starlette(routes=[Route("/gradio_api/cancel", gone, methods=["POST"]),
                              Route("/other", gone, methods=["POST"])])
    inner.add_middleware(CancelRace)
    client = TestClient(inner, raise_server_exceptions=False)
    reply = client.post("/gradio_api/cancel", json={"event_id": "x"})
    assert reply.status_code == 200 and reply.json() == {"success": True}
    assert client.post("/other").status_code == 500  # only that route's race is forgiven
