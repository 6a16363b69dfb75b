"""Hybrid search: dense (FAISS) and BM25 candidates fused with weighted reciprocal rank fusion.

Near-duplicate passages (a reprint of another article) come back once, with ``also_in`` naming
every other document that carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .config import MODES, SEARCH_K
from .errors import ConfigError, DocumentNotFoundError
from .index import Index
from .locations import describe

# The hit fields of ``rag search --json`` and ``POST /v1/search``, in that order.
SEARCH_KEYS = ("rank", "text", "doc_id", "title", "start", "end", "score", "dense_score", "bm25_score", "page",
               "location", "also_in")


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One passage found for a query. ``text == document_text[start:end]``."""

    rank: int
    chunk_id: int
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float  # the ranking score of the mode: fused RRF, cosine similarity, or BM25
    dense_score: float | None = None
    bm25_score: float | None = None
    page: int | None = None
    location: str | None = None  # where in the document: "p. 3", "slide 4", "Sheet1, rows 2–9", "§ Heading"
    also_in: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["also_in"] = list(self.also_in)
        return data


class Retriever:
    """Searches an ``Index``. Cheap to build; the embedder loads on the first dense search."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def warm_up(self) -> None:
        """Open the index, build BM25 and load the embedding model now rather than on first search."""
        snap = self.index.snapshot()
        _ = snap.bm25
        self.index.embedder.warm_up()

    def search(self, query: str, k: int = 5, mode: str = "hybrid",
               doc_ids: Sequence[str] | None = None, query_vector: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``; ``doc_ids`` restricts the search to those documents.
        ``query_vector``: the query's embedding when the caller already has it (embedding many
        queries in one batch is several times faster than one by one).

        Raises ``ConfigError`` for a blank query, ``k`` outside 1..100 or an unknown mode, and
        ``DocumentNotFoundError`` for an unknown document id.

        >>> from rag.testing import tiny_workspace
        >>> hits = Retriever(tiny_workspace().index).search("Who may join?", k=3, mode="bm25")
        >>> hits[0].doc_id, hits[0].start, hits[0].end, hits[0].title
        ('pillar.txt', 0, 152, 'Pillar 2 notes')
        """
        query = (query or "").strip()
        if not query:
            raise ConfigError("the query is empty")
        if not isinstance(k, int) or not SEARCH_K[0] <= k <= SEARCH_K[1]:
            raise ConfigError(f"k must be an integer from {SEARCH_K[0]} to {SEARCH_K[1]}, got {k!r}")
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        snap = self.index.snapshot()
        allowed = None
        if doc_ids:
            unknown = sorted(set(doc_ids) - set(snap.titles))
            if unknown:
                raise DocumentNotFoundError(f"unknown document(s): {', '.join(unknown)} (see `rag status --documents`)")
            allowed = snap.db.chunk_ids(list(doc_ids))
        n = max(self.index.settings.candidates, 3 * k)
        dense = bm25 = []
        if mode in ("hybrid", "dense"):
            vector = self.index.embedder.embed_batch([query])[0] if query_vector is None else query_vector
            dense = snap.store.search(vector, n, allowed)
        if mode in ("hybrid", "bm25"):
            bm25 = snap.bm25.search(query, n, allowed)
        dense_scores, bm25_scores = dict(dense), dict(bm25)
        if mode == "hybrid":
            rrf_k, weight = self.index.settings.rrf_k, self.index.settings.bm25_weight
            fused: dict[int, float] = {}
            for ranking, share in ((dense, 1.0 - weight), (bm25, weight)):
                for rank, (chunk_id, _) in enumerate(ranking):
                    fused[chunk_id] = fused.get(chunk_id, 0.0) + share / (rrf_k + rank + 1)
            ranked = sorted(fused.items(), key=lambda item: -item[1])
        else:
            ranked = dense or bm25
        return self._collapse(snap, ranked, k, dense_scores, bm25_scores)

    def _collapse(self, snap, ranked: list[tuple[int, float]], k: int, dense_scores: dict[int, float],
                  bm25_scores: dict[int, float]) -> list[Hit]:
        rows = {c.id: c for c in snap.db.chunks([i for i, _ in ranked[: max(4 * k, 20)]])}
        marks = snap.db.locations([c.doc_id for c in rows.values()])
        titles = snap.titles
        hits: list[Hit] = []
        seen_groups: set[int] = set()
        for chunk_id, score in ranked:
            row = rows.get(chunk_id)
            if row is None:
                continue
            if row.dup_group is not None:
                if row.dup_group in seen_groups:
                    continue
                seen_groups.add(row.dup_group)
            also = tuple(d for d in snap.groups.get(row.dup_group, []) if d != row.doc_id)
            hits.append(Hit(rank=len(hits) + 1, chunk_id=chunk_id, doc_id=row.doc_id,
                            title=titles.get(row.doc_id, row.doc_id), text=row.text, start=row.start, end=row.end,
                            score=round(score, 6), dense_score=_round(dense_scores.get(chunk_id)),
                            bm25_score=_round(bm25_scores.get(chunk_id)), page=row.page,
                            location=describe(marks.get(row.doc_id, []), row.start, row.end), also_in=also))
            if len(hits) == k:
                break
        return hits


def search_json(query: str, mode: str, hits: Sequence[Hit]) -> dict[str, Any]:
    """The ``rag search --json`` object: ``{"query", "mode", "hits": [...]}``, also served by ``/v1/search``."""
    return {"query": query, "mode": mode, "hits": [{key: h.to_dict()[key] for key in SEARCH_KEYS} for h in hits]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
