"""Writing the store: one transaction per document, so readers see each document whole or not at all.

A write reads the files that are new or changed (by content hash, as the folder index does), chunks them
together (so near-duplicate runs across them are cut alike and grouped, as in a folder index), finds every
vector in the shared embedding cache or embeds it (each batch committed as it is done: a killed writer keeps
its embeddings), and then commits each document in its own transaction: delete its old rows, insert the new
ones. A writer killed at any moment leaves every document either as it was or as it is now; nothing it had
not committed is visible. Writers on several machines may run at once, each over its own documents; two
writers of the same document take turns on a per-document advisory lock, and the last one wins.

The parts of the pipeline (reading, chunking, near-duplicate groups, the embedding cache's batching) are the
folder index's own (``rag.ingest.Ingest``), so both stores hold the same chunks of the same documents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from ..config import Settings
from ..embedding import Embedder
from ..generations import Generations
from ..ingest import Files, IndexReport, Ingest, Progress
from ..store import ChunkRow, DocumentRow, EmbeddingCache
from .connect import sql
from .reader import decode_vector, vector_literal
from .schema import CHUNK_COLUMNS, DOCUMENT_COLUMNS, extra
from .terms import terms, tsvector

if TYPE_CHECKING:
    import psycopg

_INSERT_DOC = (f"INSERT INTO rag_documents ({', '.join(DOCUMENT_COLUMNS)}, extra) "
               f"VALUES ({', '.join(['%s'] * len(DOCUMENT_COLUMNS))}, %s::jsonb)")
_INSERT_CHUNK = (f"INSERT INTO rag_chunks ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in CHUNK_COLUMNS)}, extra, "
                 f"embedding, tsv, terms) VALUES ({', '.join(['%s'] * len(CHUNK_COLUMNS))}, %s::jsonb, %s::vector, "
                 f"%s::tsvector, %s)")


class PgCache:
    """The embedding cache in the store, shared by every writer: (model, text sha256) -> float32 vector.
    Each ``put`` is one transaction."""

    def __init__(self, con: psycopg.Connection) -> None:
        self._con = con

    def get(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self._con.execute("SELECT text_hash, vector FROM rag_embeddings WHERE model = %s AND "
                                 "text_hash = ANY(%s)", (model, list(dict.fromkeys(hashes)))).fetchall()
        return {h: decode_vector(blob) for h, blob in rows}

    def put(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._con.transaction(), self._con.cursor() as cur:
            cur.executemany("INSERT INTO rag_embeddings VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                            [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()])

    def forget_unused(self, model: str, hashes: Iterable[str]) -> int:
        """Delete the cached vectors of ``hashes`` that no chunk holds any more; how many went."""
        cur = self._con.execute("DELETE FROM rag_embeddings e WHERE model = %s AND text_hash = ANY(%s) AND NOT EXISTS "
                                "(SELECT 1 FROM rag_chunks c WHERE c.text_hash = e.text_hash)",
                                (model, sorted(set(hashes))))
        return cur.rowcount

    def prune(self, model: str) -> int:
        """Keep only ``model``'s vectors of texts some chunk holds."""
        cur = self._con.execute("DELETE FROM rag_embeddings e WHERE model <> %s OR NOT EXISTS "
                                "(SELECT 1 FROM rag_chunks c WHERE c.text_hash = e.text_hash)", (model,))
        return cur.rowcount


class PgWriter:
    """One write to the store over ``con`` (an autocommit connection of its own)."""

    def __init__(self, con: psycopg.Connection, settings: Settings, embedder: Embedder,
                 progress: Progress | None = None, rebuild: bool = False, prune: bool = False) -> None:
        self.con = con
        self.embedder = embedder
        self.cache = PgCache(con)
        self.rebuild = rebuild
        self.prune = prune
        self._began = time.perf_counter()
        # The folder index's pipeline, used for its parts only: it never publishes a generation here.
        self._pipeline = Ingest(Generations(Path(".")), settings, embedder, None, progress)

    def mirror(self, files: Files, problems: Iterable[str], roots: Iterable[Path],
               mine: Callable[[str], bool] = lambda doc_id: True) -> IndexReport:
        """Hold exactly ``files`` among the documents read from under ``roots`` (folders, or files given one by
        one) and ``mine`` (a writer's share): add, update, and remove those whose file is gone. Documents other
        writers indexed from other paths, or of other shares, are theirs and stay."""
        report, before = self._start(files, problems)
        found = {doc_id for _, doc_id in files}
        scope = [Path(r).resolve() for r in roots]
        gone = {d for d, row in before.items() if d not in found and mine(d)
                and any(Path(row.source).is_relative_to(root) for root in scope)}
        return self._finish(report, self._read(files, before, report), gone)

    def upsert(self, files: Files, problems: Iterable[str] = ()) -> IndexReport:
        """Add or re-index ``files``; keep every other document."""
        report, before = self._start(files, problems)
        return self._finish(report, self._read(files, before, report), set())

    def delete(self, doc_ids: Iterable[str]) -> IndexReport:
        """Remove the documents ``doc_ids``; an id not in the store is reported in ``problems``."""
        report, before = self._start([], ())
        wanted = set(doc_ids)
        report.problems += [f"{d}: not in the index" for d in sorted(wanted - set(before))]
        return self._finish(report, {}, wanted & set(before))

    # ------------------------------------------------------------ the pipeline

    def _start(self, files: Files, problems: Iterable[str]) -> tuple[IndexReport, dict[str, DocumentRow]]:
        before = {r[0]: DocumentRow(r[0], "", r[1], r[2], 0.0, 0, "", (), r[3], 0.0) for r in self.con.execute(
            "SELECT doc_id, source, sha256, cleaner_version FROM rag_documents").fetchall()}
        return IndexReport(problems=list(problems), found=len(files)), before

    def _read(self, files: Files, before: dict[str, DocumentRow], report: IndexReport) -> dict[str, DocumentRow]:
        if self.rebuild:  # every file is read again (the cache still saves the embedding)
            fresh = self._pipeline._read(files, {}, report)
            report.updated = sorted(d for d in report.added if d in before)
            report.added = [d for d in report.added if d not in before]
            return fresh
        return self._pipeline._read(files, before, report)

    def _finish(self, report: IndexReport, fresh: dict[str, DocumentRow], gone: set[str]) -> IndexReport:
        report.removed = sorted(gone)
        if fresh:
            self._write(fresh, report)
        model = self.embedder.model_id
        for doc_id in report.removed:
            hashes = [r[0] for r in self.con.execute("SELECT text_hash FROM rag_chunks WHERE doc_id = %s",
                                                     (doc_id,)).fetchall()]
            with self.con.transaction():
                self.con.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (doc_id,))
                self.con.execute("DELETE FROM rag_chunks WHERE doc_id = %s", (doc_id,))
                self.con.execute("DELETE FROM rag_documents WHERE doc_id = %s", (doc_id,))
            report.pruned += self.cache.forget_unused(model, hashes)
        if self.prune:
            report.pruned += self.cache.prune(model)
        documents, chunks = self.con.execute(
            "SELECT (SELECT count(*) FROM rag_documents), (SELECT count(*) FROM rag_chunks)").fetchone() or (0, 0)
        report.documents, report.chunks = int(documents), int(chunks)
        report.generation = "postgresql"
        report.seconds = time.perf_counter() - self._began
        return report

    def _write(self, fresh: dict[str, DocumentRow], report: IndexReport) -> None:
        """Chunk ``fresh`` together, find every vector, then commit each document in its own transaction."""
        chunks, _, _, _ = self._pipeline._chunks(fresh)
        vectors = self._pipeline._vectors(chunks, cast(EmbeddingCache, self.cache), report)
        ids = [r[0] for r in self.con.execute("SELECT nextval('rag_chunk_ids') FROM generate_series(1, %s)",
                                              (len(chunks),)).fetchall()]
        new_id = dict(zip((c.id for c in chunks), ids, strict=True))
        by_doc: dict[str, list[tuple[ChunkRow, np.ndarray]]] = {}
        for chunk, vector in zip(chunks, vectors, strict=True):
            group = new_id[chunk.dup_group] if chunk.dup_group is not None else None
            by_doc.setdefault(chunk.doc_id, []).append((replace(chunk, id=new_id[chunk.id], dup_group=group), vector))
        for doc_id in sorted(fresh):
            self._commit(fresh[doc_id], by_doc.get(doc_id, []))

    def _commit(self, doc: DocumentRow, chunks: list[tuple[ChunkRow, np.ndarray]]) -> None:
        """Replace one document and its chunks in one transaction."""
        import json

        with self.con.transaction(), self.con.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (doc.doc_id,))
            cur.execute("DELETE FROM rag_documents WHERE doc_id = %s", (doc.doc_id,))
            values = [getattr(doc, c) for c in DOCUMENT_COLUMNS]
            values[DOCUMENT_COLUMNS.index("pages")] = json.dumps(list(doc.pages))
            cur.execute(sql(_INSERT_DOC), (*values, extra(doc, DOCUMENT_COLUMNS)))
            cur.execute("DELETE FROM rag_chunks WHERE doc_id = %s", (doc.doc_id,))
            rows = []
            for c, v in chunks:
                words = terms(c.text)
                rows.append((*(getattr(c, k) for k in CHUNK_COLUMNS), extra(c, CHUNK_COLUMNS), vector_literal(v),
                             tsvector(words), len(words)))
            cur.executemany(sql(_INSERT_CHUNK), rows)
