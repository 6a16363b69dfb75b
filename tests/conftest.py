"""Shared fixtures: a tiny deterministic embedder for fast unit tests, and the real model's index."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from eval.processes import free_port, stop
from rag import Embedder, Generator, Index, Settings

__all__ = ["free_port", "stop"]  # shared with the test modules

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"


class FakeEmbedder(Embedder):
    """Bag of hashed words, normalised: similar texts get similar vectors; no model, instant.

    ``calls`` counts the texts embedded, so tests can check what was (not) re-embedded.
    """

    model_id = "fake/hashed-words"
    dim = 64
    max_tokens = 256

    def __init__(self) -> None:
        self.calls = 0

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2


class ScriptedGenerator(Generator):
    """A language model that says what the test tells it to, word by word, and records what it was asked.

    ``replies`` are returned in order, one per ``complete`` call (a callable gets the user prompt and
    returns the reply); ``judge_value`` is its P(yes) (or a callable of the system and user prompts).
    """

    name = "scripted"

    def __init__(self, replies: Sequence[str] = (), judge_value: float | None = 0.9) -> None:
        self.replies = list(replies)
        self.judge_value = judge_value
        self.prompts: list[tuple[str, str]] = []
        self.judged: list[tuple[str, str]] = []

    def complete(self, system: str, user: str, max_tokens: int = 200):
        self.prompts.append((system, user))
        reply = self.replies.pop(0) if self.replies else ""
        reply = reply(user) if callable(reply) else reply
        for i, word in enumerate(reply.split(" ")):
            yield ("" if i == 0 else " ") + word

    def yes_probability(self, system: str, user: str) -> float | None:
        self.judged.append((system, user))
        return self.judge_value(system, user) if callable(self.judge_value) else self.judge_value


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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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
