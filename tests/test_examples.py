"""The scripts in examples/ run as a user would run them, against a real index built into a tmp folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rag_eval.processes import free_port, wait_until_up

import rag

from .conftest import CORPUS, ROOT

pytestmark = pytest.mark.integration
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("examples") / "corpus"
    corpus.mkdir()
    for name in ("001_6dd7a3f3fd3484a4.txt", "004_07f60d43413d9997.txt"):
        shutil.copy(CORPUS / name, corpus)
    return rag.build_index([corpus], corpus.parent / "index").path


def test_search_example_prints_the_passages_found(index_dir: Path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "search.py"), "South Korea fighter jet leak",
                          "--index", str(index_dir), "-k", "2"], capture_output=True, text=True, env=ENV, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("1. Aukus expansion") and "[001_6dd7a3f3fd3484a4.txt " in lines[0]
    assert lines[2].startswith("2. ") and len(lines) == 4
    blank = subprocess.run([sys.executable, str(ROOT / "examples" / "search.py"), " ", "--index", str(index_dir)],
                           capture_output=True, text=True, env=ENV, timeout=300)
    assert (blank.returncode, blank.stderr) == (2, "error: the query is empty\n")


def test_starlette_example_app_searches_over_http(index_dir: Path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "starlette_app.py"), "--index", str(index_dir),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ENV)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_up(proc, url + "/", timeout=120)
        page = httpx.get(url + "/", timeout=10)
        assert "<form action=\"/search\">" in page.text
        found = httpx.get(url + "/search", params={"q": "Japan military technology transfer", "k": 2}, timeout=30)
        assert found.status_code == 200
        hits = found.json()["hits"]
        assert len(hits) == 2 and hits[0]["doc_id"] == "004_07f60d43413d9997.txt"
        text = rag.open_index(index_dir).document(hits[0]["doc_id"]).text
        assert text[hits[0]["start"]:hits[0]["end"]] == hits[0]["text"]
        bad = httpx.get(url + "/search", params={"q": "x", "k": "500"}, timeout=30)
        assert bad.status_code == 400 and "k must be an integer from 1 to 100" in bad.json()["error"]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
