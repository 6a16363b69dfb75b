"""The store's tables. One server: everything local. Sharded (``rag.pg.sharding``): documents and chunks are
``PARTITION BY HASH (doc_id)`` on the coordinator, each partition a ``postgres_fdw`` foreign table on a shard,
so a document and its chunks always live on one shard; the rest stays on the coordinator.

``rag_meta``       key/value: format version, embedding model and dimension, chunker, layout, created
``rag_documents``  one row per document: the cleaned text every span refers to, its file's sha256
``rag_chunks``     one row per chunk: span, text, pgvector ``embedding`` (HNSW, cosine), ``tsv`` (GIN), ``terms``
``rag_embeddings`` the embedding cache: (model, sha256 of a chunk's text) -> float32 bytes
``rag_chunk_ids``  the sequence chunk ids come from: unique across every writer, never reused

Columns a newer ``DocumentRow``/``ChunkRow`` gains are kept in each table's ``extra`` JSON, so no field of a
row is lost on the way through the store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import IndexIncompatibleError
from ..store import ChunkRow, DocumentRow
from . import redact
from .connect import StoreError, sql

if TYPE_CHECKING:
    import psycopg

FORMAT_VERSION = 1
SCHEMA_LOCK = 72_023_017  # advisory lock taken while creating the tables, so two first writers do not race

DOCUMENT_COLUMNS = ("doc_id", "title", "source", "sha256", "mtime", "size", "text", "pages", "cleaner_version",
                    "added")
CHUNK_COLUMNS = ("id", "doc_id", "ordinal", "start", "end", "page", "text", "text_hash", "tokens", "dup_group")

DOCUMENTS = """CREATE TABLE {name} (
    doc_id text NOT NULL, title text NOT NULL, source text NOT NULL, sha256 text NOT NULL,
    mtime double precision NOT NULL, size bigint NOT NULL, text text NOT NULL, pages text NOT NULL,
    cleaner_version integer NOT NULL, added double precision NOT NULL, extra jsonb NOT NULL DEFAULT '{{}}'
){suffix}"""
CHUNKS = """CREATE TABLE {name} (
    id bigint NOT NULL, doc_id text NOT NULL, ordinal integer NOT NULL, start integer NOT NULL,
    "end" integer NOT NULL, page integer, text text NOT NULL, text_hash text NOT NULL, tokens integer NOT NULL,
    dup_group bigint, extra jsonb NOT NULL DEFAULT '{{}}', embedding vector({dim}) NOT NULL, tsv tsvector NOT NULL,
    terms integer NOT NULL  -- words in tsv (stop words left out): BM25's document length
){suffix}"""
# The indexes of the tables that hold rows: one server's, or each shard's.
INDEXES = (
    "ALTER TABLE rag_documents ADD PRIMARY KEY (doc_id)",
    "ALTER TABLE rag_chunks ADD PRIMARY KEY (id)",
    "CREATE INDEX rag_chunks_doc ON rag_chunks (doc_id)",
    "CREATE INDEX rag_chunks_hash ON rag_chunks (text_hash)",
    "CREATE INDEX rag_chunks_group ON rag_chunks (dup_group) WHERE dup_group IS NOT NULL",
    "CREATE INDEX rag_chunks_hnsw ON rag_chunks USING hnsw (embedding vector_cosine_ops)",
    "CREATE INDEX rag_chunks_tsv ON rag_chunks USING gin (tsv)",
)
COORDINATOR = (
    "CREATE TABLE rag_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE SEQUENCE rag_chunk_ids",
    "CREATE TABLE rag_embeddings (model text NOT NULL, text_hash text NOT NULL, vector bytea NOT NULL, "
    "PRIMARY KEY (model, text_hash))",
)


def create_extension(con: psycopg.Connection, url: str, name: str = "vector") -> None:
    """``CREATE EXTENSION IF NOT EXISTS name``, or ``StoreError`` saying what the server lacks."""
    import psycopg

    try:
        con.execute(sql(f"CREATE EXTENSION IF NOT EXISTS {name}"))
    except psycopg.Error as exc:
        what = "pgvector" if name == "vector" else name
        raise StoreError(f"the PostgreSQL server of {redact(url)} cannot enable the {what} extension "
                         f"({' '.join(str(exc).split())[:160]}): install {what} on that server, or have its "
                         f"administrator run CREATE EXTENSION {name} in that database") from None


def row_tables(con: psycopg.Connection, dim: int) -> None:
    """The documents and chunks tables with their indexes (a single server, or one shard)."""
    con.execute(sql(DOCUMENTS.format(name="rag_documents", suffix="")))
    con.execute(sql(CHUNKS.format(name="rag_chunks", dim=dim, suffix="")))
    for statement in INDEXES:
        con.execute(sql(statement))


def exists(con: psycopg.Connection) -> bool:
    return con.execute("SELECT to_regclass('rag_meta') IS NOT NULL").fetchone()[0]  # type: ignore[index]


def read_meta(con: psycopg.Connection) -> dict[str, Any]:
    """``rag_meta`` decoded (each value is JSON); empty when the store has no tables yet."""
    if not exists(con):
        return {}
    return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM rag_meta").fetchall()}


def write_meta(con: psycopg.Connection, values: dict[str, Any]) -> None:
    con.execute("INSERT INTO rag_meta (key, value) SELECT * FROM unnest(%s::text[], %s::text[]) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (list(values), [json.dumps(v) for v in values.values()]))


def ensure(con: psycopg.Connection, url: str, embedding: dict[str, Any], chunker: dict[str, Any]) -> dict[str, Any]:
    """The store's meta, creating a single-server store for this embedding model when there is none.

    Tables made by ``rag.pg.sharding`` (a coordinator over shards) are used as they are; their meta gets the
    model on the first write. Raises ``IndexIncompatibleError`` for a store of another model or dimension.
    """
    with con.transaction():
        con.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        meta = read_meta(con)
        if not meta:
            create_extension(con, url)
            for statement in COORDINATOR:
                con.execute(sql(statement))
            row_tables(con, embedding["dim"])
            meta = {"format_version": FORMAT_VERSION, "layout": "single", "created": now()}
            write_meta(con, meta)
        if "embedding" not in meta:  # a fresh sharded layout, or a single store made before its first write
            check_dim(con, url, embedding["dim"])
            meta |= {"embedding": embedding, "chunker": chunker}
            write_meta(con, {"embedding": embedding, "chunker": chunker})
    return meta


def check_dim(con: psycopg.Connection, url: str, dim: int) -> None:
    """Refuse an embedder whose vectors do not fit the ``embedding`` column."""
    row = con.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                      "WHERE attrelid = 'rag_chunks'::regclass AND attname = 'embedding'").fetchone()
    if row and row[0] != f"vector({dim})":
        raise IndexIncompatibleError(f"{redact(url)} stores {row[0]} but the embedding model makes {dim}-d vectors: "
                                     "use a database made for this model")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def extra(row: DocumentRow | ChunkRow, known: tuple[str, ...]) -> str:
    """The fields of ``row`` that have no column of their own, as JSON."""
    return json.dumps({f.name: _plain(getattr(row, f.name)) for f in fields(row) if f.name not in known},
                      default=list)


def document_row(values: tuple[Any, ...], extra_json: dict[str, Any] | None) -> DocumentRow:
    """A ``DocumentRow`` from the columns in ``DOCUMENT_COLUMNS`` order and the ``extra`` object."""
    data = dict(zip(DOCUMENT_COLUMNS, values, strict=True))
    data["pages"] = tuple(json.loads(data["pages"]))
    return DocumentRow(**data, **_known_extra(DocumentRow, extra_json))


def chunk_row(values: tuple[Any, ...], extra_json: dict[str, Any] | None) -> ChunkRow:
    """A ``ChunkRow`` from the columns in ``CHUNK_COLUMNS`` order and the ``extra`` object."""
    return ChunkRow(**dict(zip(CHUNK_COLUMNS, values, strict=True)), **_known_extra(ChunkRow, extra_json))


def _known_extra(cls: type, extra_json: dict[str, Any] | None) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: _tuples(v) for k, v in (extra_json or {}).items() if k in names}


def _tuples(value: Any) -> Any:
    """JSON arrays back to the tuples the rows hold (``marks``: a tuple of (offset, kind, value))."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
