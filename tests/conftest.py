"""Shared fixtures: a tiny deterministic embedder for fast unit tests, and the real model's index.

The fakes themselves (``FakeEmbedder``, ``ScriptedGenerator``, ``tiny_workspace``) live in ``rag.testing``;
test modules import them from there."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rag_eval.processes import free_port

from rag import Index, Settings
from rag.testing import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def fake_index(tmp_path: Path, fake_embedder: FakeEmbedder) -> Index:
    return Index(tmp_path / "index", Settings(chunk_size=120, chunk_overlap=16), embedder=fake_embedder)


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The bundled corpus indexed with the real model and FAISS, default settings (built once)."""
    index = Index(tmp_path_factory.mktemp("real") / "index")
    index.sync([CORPUS])
    return index


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` (ASGI) served by uvicorn on a free local port, in a thread; yields its URL (ending in /)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          timeout_graceful_shutdown=2))  # open client connections must not hold it
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and thread.is_alive() and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def workspace(real_index: Index):
    """A warmed-up ``Workspace`` over ``real_index`` with the extractive generator (no language model)."""
    from rag import AnswerSettings, Workspace

    workspace = Workspace(real_index, AnswerSettings(generator="extractive"))
    workspace.warm_up()
    return workspace
