"""Fakes for tests, shipped with the library: a tiny embedder, a scripted language model, a tiny workspace.

Use them to test code built on ``rag`` without loading a model (each is instant and deterministic),
and the ``check_*`` conformance functions to test your own ``Embedder`` or ``Generator``.

    >>> list(ScriptedGenerator(["Japan may join [1]."]).complete("system", "user"))
    ['Japan', ' may', ' join', ' [1].']
    >>> vectors = FakeEmbedder().embed_batch(["ferry leaves", "leaves ferry"])
    >>> bool((vectors[0] == vectors[1]).all())   # a bag of words: order does not matter
    True
    >>> check_generator(ScriptedGenerator(["Yes."]))
    >>> check_embedder(FakeEmbedder())
"""

from __future__ import annotations

import atexit
import hashlib
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .embedding import Embedder
from .errors import ModelError
from .generation import Generator

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["FailingGenerator", "FakeEmbedder", "HeldGenerator", "ScriptedGenerator", "check_embedder",
           "check_generator", "tiny_documents", "tiny_workspace"]

TINY_DOCUMENTS = {
    "harbour.txt": "Harbour notes\n\nThe ferry to Somes Island leaves at 7:45 every morning and costs 12 dollars. "
                   "It returns at noon.\n",
    "pillar.txt": "Pillar 2 notes\n\nJapan may join Pillar 2 of AUKUS to work on advanced capabilities such as "
                  "hypersonic missiles. Canada and New Zealand are also in talks.\n",
}


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
    returns the reply); ``judge_value`` is its P(yes) (or a callable of the system and user prompts);
    ``choices`` answer ``choose`` calls in order (NONE when they run out; None: it can't choose).
    """

    name = "scripted"

    def __init__(self, replies: Sequence[str] = (), judge_value: float | None = 0.9,
                 choices: Sequence[str] | None = None) -> None:
        self.replies = list(replies)
        self.judge_value = judge_value
        # Replies to constrained choices (``choose``), in order; None: this model can't choose.
        self.choices = None if choices is None else list(choices)
        self.prompts: list[tuple[str, str]] = []
        self.judged: list[tuple[str, str]] = []

    def choose(self, system: str, user: str, grammar: str, max_tokens: int = 16) -> str | None:
        if self.choices is None:
            return None
        self.prompts.append((system, user))
        reply = self.choices.pop(0) if self.choices else "NONE"
        return reply(user) if callable(reply) else reply

    def complete(self, system: str, user: str, max_tokens: int = 200):
        self.prompts.append((system, user))
        reply = self.replies.pop(0) if self.replies else ""
        reply = reply(user) if callable(reply) else reply
        for i, word in enumerate(reply.split(" ")):
            yield ("" if i == 0 else " ") + word

    def yes_probability(self, system: str, user: str) -> float | None:
        self.judged.append((system, user))
        return self.judge_value(system, user) if callable(self.judge_value) else self.judge_value


class HeldGenerator(ScriptedGenerator):
    """Writes ``reply`` only once ``gate`` opens (a slow model, held by the test); ``started`` says it began."""

    def __init__(self, reply: str = "The ferry leaves at 7:45 [1].") -> None:
        super().__init__(judge_value=0.9)
        self.reply = reply
        self.started, self.gate = threading.Event(), threading.Event()

    def complete(self, system: str, user: str, max_tokens: int = 200):
        self.started.set()
        self.gate.wait(30)
        yield self.reply


class FailingGenerator(ScriptedGenerator):
    """Writes half a sentence, then fails with ``error`` (default: a ``ModelError``): a model that dies mid-answer."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.error = error or ModelError("the model stopped: out of memory")

    def complete(self, system: str, user: str, max_tokens: int = 200):
        yield "Half a sentence"
        raise self.error


def check_embedder(embedder: Embedder) -> None:
    """Raise ``AssertionError`` unless ``embedder`` keeps the ``Embedder`` contract: one unit-length float32 row
    of ``dim`` values per text, in order, the same text giving the same vector, and a token count."""
    texts = ["The ferry leaves at 7:45.", "Japan may join Pillar 2.", "The ferry leaves at 7:45."]
    vectors = embedder.embed_batch(texts)
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32, vectors.shape
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    assert isinstance(embedder.count_tokens(texts[0]), int) and embedder.count_tokens(texts[0]) > 0


def check_generator(generator: Generator) -> None:
    """Raise ``AssertionError`` unless ``generator`` keeps the ``Generator`` contract: ``complete`` streams
    text pieces, may be closed early, and ``yes_probability`` is None or a probability."""
    pieces = list(generator.complete("You answer in one word.", "Say yes.", max_tokens=8))
    assert all(isinstance(piece, str) for piece in pieces) and "".join(pieces).strip()
    stream = iter(generator.complete("You answer in one word.", "Say yes.", max_tokens=8))
    next(stream)
    getattr(stream, "close", lambda: None)()  # a reader that leaves early must be allowed to
    p = generator.yes_probability("Answer yes or no.", "Is water wet?")
    assert p is None or 0.0 <= p <= 1.0, p


def tiny_documents(folder: str | Path | None = None) -> Path:
    """Write the two small documents (``harbour.txt``, ``pillar.txt``) to ``folder``/documents and return
    that folder (default ``folder``: a new temporary one, removed when the process exits).

    >>> sorted(p.name for p in tiny_documents().iterdir())
    ['harbour.txt', 'pillar.txt']
    """
    if not folder:
        folder = tempfile.mkdtemp(prefix="rag-tiny-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    docs = Path(folder) / "documents"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in TINY_DOCUMENTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    return docs


def tiny_workspace(folder: str | Path | None = None, **options: Any) -> Workspace:
    """A ``Workspace`` over the two ``tiny_documents``, built with ``FakeEmbedder`` and the extractive
    generator (no model at all) in ``folder`` (default: a new temporary one, removed when the process exits).
    ``options`` go to ``Workspace`` (e.g. ``generator=ScriptedGenerator([...])``, ``max_waiting=1``)."""
    from .config import AnswerSettings, Settings
    from .index import Index
    from .workspace import Workspace

    docs = tiny_documents(folder)
    index = Index(docs.parent / "index", Settings(chunk_size=64, chunk_overlap=8), embedder=FakeEmbedder())
    index.sync([docs])
    return Workspace(index, AnswerSettings(generator="extractive", min_dense_score=0.0), **options)
