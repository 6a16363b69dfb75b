"""What a search reads from the store: the same parts as a FAISS generation's ``Snapshot`` (``db``, ``store``,
``bm25``, ``titles``, ``groups``), each answered by SQL, so ``rag.retriever.Retriever`` runs unchanged and
fuses the two rankings with the same weighted reciprocal rank fusion.

Dense: pgvector's HNSW index, cosine distance (the vectors are unit length, so 1 - distance is the inner
product FAISS reports). Lexical: BM25 computed in SQL over PostgreSQL full text (a ``tsvector`` of the words
``bm25s`` counts, ``rag.pg.terms``, with a GIN index): PostgreSQL's own ``ts_rank`` has no inverse document
frequency and, measured on the gold set, cost 0.11 recall@1 against BM25 (README). A snapshot is made
per search, and its statements run in one REPEATABLE READ transaction: a search sees one committed state of the
store, and since each document is written in one transaction, never half a document.
"""

from __future__ import annotations

import json
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..store import ChunkRow, DocumentRow
from .connect import ReadView, Rows
from .schema import CHUNK_COLUMNS, DOCUMENT_COLUMNS, chunk_row, document_row
from .terms import terms, tsquery

_CHUNK_SELECT = ", ".join(f'"{c}"' for c in CHUNK_COLUMNS) + ", extra"
_DOC_SELECT = ", ".join(DOCUMENT_COLUMNS) + ", extra"


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form; Python's shortest float repr reads back as the same float32."""
    return "[" + ",".join(map(str, np.asarray(vector, dtype=np.float32).tolist())) + "]"


class PgChunks:
    """Documents and chunks, as ``rag.store.ChunkDB`` gives them. ``chunks()`` also fills the snapshot's titles
    and near-duplicate groups of what it returns, so collapsing a result list costs no more queries."""

    def __init__(self, con: Rows, titles: dict[str, str], groups: dict[int, list[str]]) -> None:
        self._con = con
        self._titles = titles
        self._groups = groups

    def documents(self, with_text: bool = True) -> list[DocumentRow]:
        select = _DOC_SELECT if with_text else _DOC_SELECT.replace(" text,", " '' AS text,")
        return [document_row(r[:-1], r[-1]) for r in self._con.rows(
            f"SELECT {select} FROM rag_documents ORDER BY doc_id")]

    def document(self, doc_id: str) -> DocumentRow | None:
        rows = self._con.rows(f"SELECT {_DOC_SELECT} FROM rag_documents WHERE doc_id = %s", (doc_id,))
        return document_row(rows[0][:-1], rows[0][-1]) if rows else None

    def chunks(self, ids: Sequence[int] | None = None) -> list[ChunkRow]:
        if ids is None:
            rows = self._con.rows(f"SELECT {_CHUNK_SELECT} FROM rag_chunks ORDER BY id")
            return [chunk_row(r[:-1], r[-1]) for r in rows]
        rows = self._con.rows(f"SELECT {_CHUNK_SELECT} FROM rag_chunks WHERE id = ANY(%s)", (list(ids),))
        found = {r[0]: chunk_row(r[:-1], r[-1]) for r in rows}
        docs = sorted({c.doc_id for c in found.values()} - set(self._titles))
        if docs:
            self._titles.update(self._con.rows("SELECT doc_id, title FROM rag_documents WHERE doc_id = ANY(%s)",
                                               (docs,)))
        groups = sorted({c.dup_group for c in found.values() if c.dup_group is not None} - set(self._groups))
        if groups:
            for group, doc in self._con.rows("SELECT DISTINCT dup_group, doc_id FROM rag_chunks "
                                             "WHERE dup_group = ANY(%s) ORDER BY doc_id", (groups,)):
                self._groups.setdefault(group, []).append(doc)
        return [found[i] for i in ids if i in found]

    def locations(self, doc_ids: Sequence[str]) -> dict[str, list[Any]]:
        """Every location mark of these documents, their PDF pages' included, in order (``rag.locations``)."""
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return {}
        found: dict[str, list[Any]] = {}
        for doc_id, pages, marks in self._con.rows("SELECT doc_id, pages, extra -> 'marks' FROM rag_documents "
                                                   "WHERE doc_id = ANY(%s)", (wanted,)):
            page_marks = [(offset, "page", n) for n, offset in enumerate(json.loads(pages), 1)]
            found[doc_id] = sorted([*page_marks, *(tuple(m) for m in marks or [])], key=lambda m: m[0])
        return found

    def chunk_ids(self, doc_ids: Sequence[str]) -> list[int]:
        return [r[0] for r in self._con.rows("SELECT id FROM rag_chunks WHERE doc_id = ANY(%s)", (list(doc_ids),))]

    def chunk_texts(self) -> tuple[list[int], list[str]]:
        rows = self._con.rows("SELECT id, text FROM rag_chunks ORDER BY id")
        return [r[0] for r in rows], [r[1] for r in rows]

    def group_documents(self) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = {}
        for group, doc in self._con.rows("SELECT DISTINCT dup_group, doc_id FROM rag_chunks "
                                         "WHERE dup_group IS NOT NULL ORDER BY doc_id"):
            groups.setdefault(group, []).append(doc)
        return groups

    def counts(self) -> dict[str, int]:
        return dict(self._con.rows("SELECT doc_id, count(*) FROM rag_chunks GROUP BY doc_id"))


class PgVectors:
    """Dense search with pgvector, as ``rag.vectorstore.VectorStore.search`` answers it. Over ``shards`` foreign
    partitions (``rag.pg.sharding``) each shard is asked for its own top ``k``: postgres_fdw then sends the limit
    to the shard, which a search of the partitioned table does not (measured: 5,000 vectors on two shards, k 50,
    p50 15.5 ms for the partitioned table, 8.3 ms asked shard by shard)."""

    kind = "hnsw"

    def __init__(self, con: Rows, shards: int = 0) -> None:
        self._con = con
        self._shards = shards

    def __len__(self) -> int:
        return int(self._con.rows("SELECT count(*) FROM rag_chunks")[0][0])

    def search(self, vector: np.ndarray, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, cosine similarity); among ``allowed`` ids only, exactly (no index), when given."""
        if k < 1:
            return []
        q = vector_literal(vector)
        if allowed is None and self._shards:
            each = " UNION ALL ".join(f"(SELECT id, 1 - (embedding <=> %(q)s::vector) AS s FROM rag_chunks_{i} "
                                      "ORDER BY embedding <=> %(q)s::vector LIMIT %(k)s)" for i in range(self._shards))
            rows = self._con.rows(f"SELECT id, s FROM ({each}) AS shards ORDER BY s DESC, id LIMIT %(k)s",
                                  {"q": q, "k": k})
        elif allowed is None:
            rows = self._con.rows("SELECT id, 1 - (embedding <=> %s::vector) FROM rag_chunks "
                                  "ORDER BY embedding <=> %s::vector LIMIT %s", (q, q, k))
        else:  # "+ 0" keeps the planner off the HNSW index: among a few documents an exact scan is right
            rows = self._con.rows("SELECT id, 1 - (embedding <=> %s::vector) AS s FROM rag_chunks WHERE id = ANY(%s) "
                                  "ORDER BY (embedding <=> %s::vector) + 0, id LIMIT %s", (q, list(allowed), q, k))
        # equal distances (a passage two documents share has one vector) in id order, as FAISS returns them
        return sorted(((int(i), float(s)) for i, s in rows), key=lambda row: (-row[1], row[0]))


class PgText:
    """BM25 over PostgreSQL full text, in the place of ``rag.lexical.BM25Index``: the same words (``rag.pg.terms``)
    and the same scoring as ``bm25s`` (Lucene's: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 1.5, b 0.75),
    computed in one statement from the chunks that hold any of the question's words (the GIN index finds them):
    term frequencies come from each chunk's ``tsvector``, its length from ``terms``, document frequencies from
    the same candidates. ``stats`` gives (chunks, mean words per chunk), which the index refreshes every few
    seconds.
    """

    K1, B = 1.5, 0.75

    def __init__(self, con: Rows, stats: Callable[[], tuple[int, float]]) -> None:
        self._con = con
        self._stats = stats

    def search(self, query: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, BM25 score) of chunks sharing a stemmed word with ``query``."""
        if k < 1:
            return []
        counts = Counter(terms(query))  # a word asked twice counts twice, as in bm25s
        words = list(counts)
        if not words:  # only stop words
            return []
        n, mean = self._stats()
        only = " WHERE tf.id = ANY(%(allowed)s)" if allowed is not None else ""
        rows = self._con.rows(
            "WITH c AS MATERIALIZED (SELECT id, terms, tsv FROM rag_chunks WHERE tsv @@ %(q)s::tsquery), "
            "tf AS (SELECT c.id, c.terms, u.lexeme, cardinality(u.positions) AS tf FROM c, unnest(c.tsv) u "
            "WHERE u.lexeme = ANY(%(terms)s)), "
            "df AS (SELECT lexeme, ln(1 + (%(n)s - count(*) + 0.5) / (count(*) + 0.5)) AS idf FROM tf "
            "GROUP BY lexeme), "
            "q AS (SELECT * FROM unnest(%(terms)s::text[], %(asked)s::int[]) AS q(lexeme, asked)) "
            "SELECT tf.id, sum(q.asked * df.idf * tf.tf / (tf.tf + %(k1)s * (1 - %(b)s + %(b)s * tf.terms / "
            f"%(mean)s))) AS s FROM tf JOIN df USING (lexeme) JOIN q USING (lexeme){only} GROUP BY tf.id "
            "ORDER BY s DESC, tf.id DESC LIMIT %(k)s",  # equal scores: bm25s defines no order; later ids first
            # agreed with it on more gold questions (exact ties come from passages two documents share)
            {"q": tsquery(words), "terms": words, "asked": [counts[w] for w in words], "n": n, "k1": self.K1,
             "b": self.B, "mean": max(mean, 1.0), "k": k, "allowed": list(allowed) if allowed is not None else None})
        return [(int(i), float(s)) for i, s in rows if s > 0]


class _Titles(Mapping[str, str]):
    """doc_id -> title: filled as hits are read; iterating lists every document (a search by document ids)."""

    def __init__(self, con: Rows, known: dict[str, str]) -> None:
        self._con = con
        self._known = known

    def __getitem__(self, doc_id: str) -> str:
        if doc_id not in self._known:
            rows = self._con.rows("SELECT title FROM rag_documents WHERE doc_id = %s", (doc_id,))
            if not rows:
                raise KeyError(doc_id)
            self._known[doc_id] = rows[0][0]
        return self._known[doc_id]

    def __iter__(self) -> Iterator[str]:
        return iter([r[0] for r in self._con.rows("SELECT doc_id FROM rag_documents ORDER BY doc_id")])

    def __len__(self) -> int:
        return int(self._con.rows("SELECT count(*) FROM rag_documents")[0][0])


class PgSnapshot:
    """One search's view of the store, shaped like ``rag.generations.Snapshot``: its statements run in one
    read-only transaction (``ReadView``), ended when the snapshot is dropped."""

    def __init__(self, con: ReadView, manifest: dict[str, Any], stats: Callable[[], tuple[int, float]]) -> None:
        weakref.finalize(self, con.release)
        self.manifest = manifest
        titles: dict[str, str] = {}
        self.groups: dict[int, list[str]] = {}
        self.db = PgChunks(con, titles, self.groups)
        self.store = PgVectors(con, len(manifest.get("shards", [])) if manifest.get("layout") == "sharded" else 0)
        self.bm25 = PgText(con, stats)
        self.titles: Mapping[str, str] = _Titles(con, titles)


def decode_vector(blob: bytes) -> np.ndarray:
    """A cached vector's float32 bytes."""
    return np.frombuffer(blob, dtype=np.float32)

