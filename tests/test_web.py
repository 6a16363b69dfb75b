"""The web chat: escaping, and the real Gradio app answering over HTTP (extractive generator, real index)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag import AnswerSettings, Assistant, Citation, Hit
from rag.answer import Answer

from .conftest import CORPUS

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sources_panel_escapes_document_text_titles_and_names():
    from ui.app import sources_html

    text = f"Harmless start. {EVIL} is in the middle. End."
    cite = Citation(1, f"{EVIL}.txt", f"Title {EVIL}", 100, 100 + len(text), text, 100 + 16, 100 + 16 + len(EVIL) + 21)
    answer = Answer("q", "q", "a [1].", (), (cite,), (), False)
    out = sources_html(answer)
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out
    assert "<mark>" in out
    hit = Hit(1, 1, f"{EVIL}.txt", f"T {EVIL}", text, 0, len(text), 0.5)
    out = sources_html(Answer("q", "q", "The documents don't say.", (), (), (hit,), True, "model"))
    assert "Closest passages" in out and "<script>" not in out and "<img" not in out


@pytest.mark.integration
def test_the_app_answers_over_http_with_a_highlighted_source(real_index):
    from gradio_client import Client

    from ui.app import CSS, build_app

    assistant = Assistant(real_index, AnswerSettings(generator="extractive"))
    assistant.warm_up()
    port = free_port()
    app = build_app(assistant).queue(default_concurrency_limit=1)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        _, messages, sources = client.predict(  # the conversation state stays on the server
            "Which fighter jet project was involved in the South Korean leak case?", [], 5, "hybrid",
            "extractive", api_name="/respond")
        reply = messages[-1]["content"]
        reply = reply[0]["text"] if isinstance(reply, list) else reply
        assert "KF-21" in reply and "[" in reply
        assert "<mark>" in sources and ("001_" in sources or "002_" in sources)
    finally:
        app.close()


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
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "No index in" in out and f"http://127.0.0.1:{port}" in out


def test_upload_names_cannot_escape_and_bad_files_are_named(tmp_path):
    from ui.app import safe_name, store_uploads

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
