"""``rag serve`` killed (SIGKILL: no cleanup at all) in the middle of an upload: the last good index keeps
serving, and the next start indexes what the upload had stored but not finished, saying so in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from rag_eval.processes import free_port, stop, wait_until_up

from .conftest import CORPUS
from .test_index import cached_vectors

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RAG = Path(sys.executable).with_name("rag")


def start(index: Path, uploads: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(RAG), "serve", "--generator", "extractive", "--index", str(index), "--uploads",
                             str(uploads), "--corpus", str(CORPUS), "--port", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(proc, url + "/health"):
        pytest.fail(f"rag serve did not start: {log.read_text()}")
    return proc, url


def status(index: Path) -> dict:
    return json.loads(subprocess.run([str(RAG), "status", "--index", str(index), "--json"], check=True,
                                     capture_output=True, text=True).stdout)


def test_rag_serve_killed_during_an_upload_keeps_serving_the_last_index_and_finishes_the_upload_next_start(
        tmp_path):
    index, uploads = tmp_path / "index", tmp_path / "uploads"
    proc, url = start(index, uploads, tmp_path / "first.log")
    before = status(index)
    sentences = " ".join(p.read_text() for p in CORPUS.glob("*.txt")).split(". ")
    files = [("files", (f"note{i:02d}.txt", ". ".join(sentences[(i + j) % len(sentences)] + f" marker{i}x{j}"
                                                       for j in range(40)).encode(), "text/plain"))
             for i in range(60)]  # distinct texts: every chunk must be embedded, which takes a while
    outcome: list[object] = []

    def upload() -> None:
        try:
            outcome.append(httpx.post(url + "/v1/documents", files=files, timeout=300).status_code)
        except httpx.HTTPError as exc:  # the server died under it: what the client sees
            outcome.append(exc)

    sender = threading.Thread(target=upload)
    sender.start()
    deadline = time.monotonic() + 120
    while cached_vectors(index) <= before["chunks"] and time.monotonic() < deadline and not outcome:
        time.sleep(0.05)  # until it is midway: some of the upload's vectors are cached
    assert not outcome, f"the upload ended before the server could be killed: {outcome}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    sender.join(30)
    assert outcome and isinstance(outcome[0], httpx.HTTPError)

    after = status(index)  # the index the killed write was replacing is intact and current
    assert after["generation"] == before["generation"] and after["documents"] == before["documents"] == 5
    assert len(list(uploads.glob("note*.txt"))) == 60 and not list(uploads.glob(".*.part"))

    proc, url = start(index, uploads, tmp_path / "second.log")
    try:
        log = (tmp_path / "second.log").read_text()
        assert "Indexed 60 uploaded file(s) an interrupted upload had left out" in log, log
        listed = httpx.get(url + "/v1/documents").json()["documents"]
        assert len(listed) == 65
        hits = httpx.post(url + "/v1/search", json={"query": "marker17x3", "k": 3, "mode": "bm25"}).json()["hits"]
        assert hits[0]["doc_id"] == "note17.txt"
        assert not list(index.glob(".tmp-*"))  # the killed write's half-built folder was swept
    finally:
        stop(proc)
