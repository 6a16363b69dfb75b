"""Our retriever as a LangChain ``BaseRetriever`` (``pip install ".[langchain]"``).

    >>> from rag.langchain import RagRetriever
    >>> from rag.testing import tiny_workspace
    >>> retriever = RagRetriever(retriever=tiny_workspace().index, k=3)  # an index folder, Index or Retriever
    >>> docs = retriever.invoke("Which countries could join Pillar 2?")
    >>> docs[0].metadata["doc_id"], docs[0].metadata["start"], docs[0].metadata["end"]
    ('pillar.txt', 0, 152)

Each ``Document`` is one passage: ``page_content`` is its text, ``metadata`` holds ``doc_id``,
``title``, ``start``/``end`` (character span in the document), ``score``, ``rank``, ``chunk_id``,
``page``, ``location``, ``mode``, ``dense_score``, ``bm25_score`` and ``also_in``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # an optional extra: say how to get it
    raise ImportError('rag.langchain needs langchain-core: pip install ".[langchain]" '
                      '(or pip install "langchain-core>=1,<2")') from exc
from pydantic import Field, field_validator

from .config import MODES, SEARCH_K
from .errors import ConfigError
from .index import Index
from .retriever import Hit, Retriever


class RagRetriever(BaseRetriever):
    """Hybrid (dense + BM25) search over a ``rag`` index, returning LangChain ``Document``s.

    ``retriever`` accepts an index folder (``str``/``Path``), an ``Index`` or a ``Retriever``.
    Invalid settings (``k`` out of 1..100, an unknown mode) raise pydantic's ``ValidationError`` (a
    ``ValueError``) at construction; a blank query or unknown ``doc_ids`` raise ``rag.ConfigError`` on ``invoke``.
    """

    retriever: Retriever = Field(description="Our retriever (built from a folder or Index if given one).")
    k: int = Field(5, ge=SEARCH_K[0], le=SEARCH_K[1], description="Passages per query.")
    mode: str = Field("hybrid", description="hybrid, dense or bm25.")
    doc_ids: list[str] | None = Field(None, description="Search only these documents.")

    @field_validator("retriever", mode="before")
    @classmethod
    def _to_retriever(cls, value: Any) -> Retriever:
        if isinstance(value, str | Path):
            value = Index(value)
        return Retriever(value) if isinstance(value, Index) else value

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {value!r}")
        return value

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.retriever.search(query, k=self.k, mode=self.mode, doc_ids=self.doc_ids)
        return [to_document(hit, self.mode) for hit in hits]


def to_document(hit: Hit, mode: str = "hybrid") -> Document:
    """One search hit as a LangChain ``Document`` with our metadata."""
    return Document(page_content=hit.text, id=f"{hit.doc_id}:{hit.start}-{hit.end}", metadata={
        "doc_id": hit.doc_id, "title": hit.title, "start": hit.start, "end": hit.end, "score": hit.score,
        "rank": hit.rank, "chunk_id": hit.chunk_id, "page": hit.page, "location": hit.location, "mode": mode,
        "dense_score": hit.dense_score, "bm25_score": hit.bm25_score, "also_in": list(hit.also_in)})
