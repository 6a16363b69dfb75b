"""A writer's share of one file list: several ``rag index`` processes given the same folders, each indexing the
documents whose id hashes to its share, so together they index each document once, and each one's mirror
removes only the documents of its own share whose files are gone.

``RAG_SHARE=I/N`` (or ``PgIndex.sync(..., share=(I, N))``) makes a writer the I-th of N (0-based).

    >>> parse("1/3"), in_share("report.pdf", (0, 1))
    ((1, 3), True)
    >>> sum(in_share(f"doc-{n}.txt", (i, 3)) for n in range(30) for i in range(3))   # each in exactly one share
    30
    >>> parse("3/3")
    Traceback (most recent call last):
    rag.errors.ConfigError: RAG_SHARE must be I/N with 0 <= I < N, e.g. 0/4 for the first of four writers; got '3/3'
"""

from __future__ import annotations

import hashlib

from .. import env
from ..errors import ConfigError

Share = tuple[int, int]  # (I, N): the I-th of N writers, 0-based
VARIABLE = "RAG_SHARE"


def parse(text: str) -> Share:
    """``"I/N"`` as ``(I, N)``, or ``ConfigError`` saying the form."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise ConfigError(f"{VARIABLE} must be I/N with 0 <= I < N, e.g. 0/4 for the first of four writers; "
                          f"got {text!r}")
    return i, n


def from_env() -> Share | None:
    """``$RAG_SHARE`` parsed, or None (this writer takes every document)."""
    text = env.get(VARIABLE)
    return parse(text) if text else None


def in_share(doc_id: str, share: Share | None) -> bool:
    """Whether ``doc_id`` is this writer's: a stable hash of the id, the same on every machine."""
    if share is None:
        return True
    i, n = share
    return int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big") % n == i
