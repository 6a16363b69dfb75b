"""``PgIndex``: the ``rag.Index`` facade over a PostgreSQL store, so the CLI, the Python API, the HTTP API and
the web chat use it unchanged. ``rag.Index("postgresql://…")`` returns one (and so does ``rag.Index()`` or
``--index index`` when ``$RAG_STORE`` is set).

There are no generations: each document is its own transaction (``rag.pg.writer``), and each search reads one
committed state of the store in one read-only transaction (``rag.pg.reader``). Local files a server keeps for
this store (uploads) go beside the default index folder, as for a folder index.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import env
from ..config import Settings
from ..documents import find_files
from ..embedding import Embedder
from ..errors import IndexIncompatibleError, IndexNotFoundError
from ..index import Index, _iso
from ..ingest import IndexReport, Progress
from ..store import DocumentRow
from . import is_store_url, redact
from .connect import Connection, Pool, ReadView, StoreError, connect
from .reader import PgSnapshot
from .schema import ensure, now, read_meta, write_meta
from .share import Share, from_env, in_share
from .writer import PgWriter

STATS_TTL_S = 10.0


class PgIndex(Index):
    """An index in a PostgreSQL database (with pgvector). Constructing one connects to nothing."""

    def __init__(self, path: Path | str | None = None, settings: Settings | None = None,
                 embedder: Embedder | None = None) -> None:
        self.url = path if isinstance(path, str) and is_store_url(path) else env.store()
        self.path = env.index_dir()  # this machine's folder for files kept beside the store (uploads)
        self.settings = settings or Settings()
        self._embedder = embedder
        self._con = Connection(self.url)  # status, listings, meta: one statement each
        self._pool = Pool(self.url)  # searches: a read-only transaction each
        self._meta: dict[str, Any] | None = None
        self._stats: tuple[float, int, float] = (-STATS_TTL_S, 0, 1.0)  # (when read, chunks, mean words)

    @property
    def location(self) -> str:
        """The store's URL, without its password."""
        return redact(self.url)

    # ---------------------------------------------------------------- reading

    def _read_meta(self) -> dict[str, Any]:
        if self._meta is None:  # the model and chunker never change once written: read them once
            meta = self._con.run(read_meta)
            if "embedding" not in meta:
                raise IndexNotFoundError(f"no index in {self.location} yet: build one with "
                                         f"`rag index [PATH ...] --store {self.location}`")
            self._check(meta)
            self._meta = meta
        return self._meta

    def _check(self, manifest: dict[str, Any]) -> None:
        built, wanted = manifest["embedding"], self._configured_model_id()
        if wanted is not None and wanted != built["model_id"]:
            raise IndexIncompatibleError(f"{self.location} was built with {built['model_id']} ({built['dim']}-d) "
                                         f"but {wanted} is configured: rebuild it with `rag index --rebuild --store "
                                         f"{self.location}` or use the model it was built with")
        if self._embedder is not None and self._embedder.dim != built["dim"]:
            raise IndexIncompatibleError(f"{self.location} holds {built['dim']}-d vectors but the embedder makes "
                                         f"{self._embedder.dim}-d ones: use a database made for this model")

    def exists(self) -> bool:
        """Whether documents were ever written to this store."""
        try:
            self._read_meta()
        except IndexNotFoundError:
            return False
        return True

    def snapshot(self) -> PgSnapshot:  # type: ignore[override]  # the same parts as a generation's Snapshot
        """A search's view of the store: one committed state for as long as it is held (``IndexNotFoundError``
        when nothing was indexed there yet)."""
        return PgSnapshot(ReadView(self._pool), {**self._read_meta(), "index_type": "hnsw"}, self._bm25_stats)

    def _bm25_stats(self) -> tuple[int, float]:
        """(chunks, mean words per chunk) for BM25, read again when older than ``STATS_TTL_S``: other writers
        change them, and a few seconds' lag moves scores by a hair."""
        when, n, mean = self._stats
        if time.monotonic() - when > STATS_TTL_S:
            n, mean = self._con.rows("SELECT count(*), coalesce(avg(terms), 1) FROM rag_chunks")[0]
            self._stats = (time.monotonic(), int(n), float(mean))
        return self._stats[1], self._stats[2]

    def documents(self) -> list[dict[str, Any]]:
        """Indexed documents with title, source, chunk count, size and when they were indexed."""
        self._read_meta()
        rows = self._con.rows("SELECT d.doc_id, d.title, d.source, (SELECT count(*) FROM rag_chunks c WHERE "
                              "c.doc_id = d.doc_id), d.size, length(d.text), d.sha256, d.mtime, d.added "
                              "FROM rag_documents d ORDER BY d.doc_id")
        return [{"doc_id": r[0], "title": r[1], "source": r[2], "chunks": int(r[3]), "size": r[4], "characters": r[5],
                 "sha256": r[6], "modified": _iso(r[7]), "added": _iso(r[8])} for r in rows]

    def document(self, doc_id: str) -> DocumentRow | None:
        """One indexed document with its cleaned text, or ``None``."""
        return self.snapshot().db.document(doc_id)

    def status(self) -> dict[str, Any]:
        """Counts, model, index type and the tables' size, without loading any model."""
        meta = self._read_meta()
        documents, chunks, size, updated = self._con.rows(
            "SELECT (SELECT count(*) FROM rag_documents), (SELECT count(*) FROM rag_chunks), "
            "(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c WHERE c.relname LIKE 'rag\\_%%' "
            "AND c.relkind IN ('r', 'p')), (SELECT max(added) FROM rag_documents)")[0]
        lines = self._con.rows("SELECT doc_id || E'\\t' || sha256 FROM rag_documents ORDER BY doc_id")
        return {"index": self.location, "generation": meta.get("layout", "single"), "documents": int(documents),
                "chunks": int(chunks), "model": meta["embedding"]["model_id"], "dim": meta["embedding"]["dim"],
                "index_type": "hnsw", "chunker": meta["chunker"], "bytes": int(size),
                "corpus_fingerprint": hashlib.sha256("\n".join(r[0] for r in lines).encode()).hexdigest(),
                "updated": _iso(updated) if updated else meta.get("created")}

    # ---------------------------------------------------------------- writing

    def sync(self, paths: Iterable[Path | str], progress: Progress | None = None,
             rebuild: bool = False, prune: bool = False, share: Share | None = None) -> IndexReport:
        """Make the documents read from under ``paths`` mirror the files there: add, update, remove. Documents
        other writers indexed from other paths stay; with ``share`` (default ``$RAG_SHARE``, e.g. ``(0, 4)``)
        only the documents of that share of the files are this writer's."""
        paths = list(paths)
        share = share if share is not None else from_env()
        files, problems = find_files(paths)
        files = [(path, doc_id) for path, doc_id in files if in_share(doc_id, share)]
        missing = [str(p) for p in paths if not Path(p).exists()]
        with self._writer(progress, rebuild, prune) as writer:
            if missing:  # a typo must not look like "every document was deleted"
                return writer.upsert(files, [p + "; nothing was removed from the index"
                                             if p.endswith("no such file or folder") else p for p in problems])
            return writer.mirror(files, problems, [Path(p) for p in paths], lambda doc_id: in_share(doc_id, share))

    def add(self, paths: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        """Add or update the files under ``paths``; keep every other document."""
        files, problems = find_files(paths)
        with self._writer(progress) as writer:
            return writer.upsert(files, problems)

    def update(self, folders: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        """Bring the documents of ``folders`` in step with their files (``rag index --watch``, ``rag serve
        --watch``): new and changed files indexed, documents whose file under a folder is gone removed; every
        other document stays. The ``$RAG_SHARE`` of a writer applies, as for ``sync``."""
        folders = [Path(f) for f in folders if Path(f).is_dir()]
        share = from_env()
        files, problems = find_files(folders)
        files = [(path, doc_id) for path, doc_id in files if in_share(doc_id, share)]
        with self._writer(progress) as writer:
            return writer.mirror(files, problems, folders, lambda doc_id: in_share(doc_id, share))

    def remove(self, doc_ids: Iterable[str], progress: Progress | None = None) -> IndexReport:
        """Remove documents by id (an unknown id is named in ``problems``)."""
        with self._writer(progress) as writer:
            return writer.delete(doc_ids)

    def _ingest(self, progress: Progress | None, rebuild: bool = False, prune: bool = False) -> Iterator[Any]:
        """A folder index's writer has no place here: every write of a store goes through ``_writer``."""
        raise NotImplementedError("a PostgreSQL store is written by PgIndex._writer, not by folder generations")

    @contextlib.contextmanager
    def _writer(self, progress: Progress | None, rebuild: bool = False, prune: bool = False) -> Iterator[PgWriter]:
        """A connection of the write's own, the tables made if this is the store's first write."""
        embedder = self._embedder_for_writing(rebuild)
        con = connect(self.url)
        try:
            e = embedder
            embedding = {"model_id": e.model_id, "dim": e.dim, "max_tokens": e.max_tokens}
            chunker = {"chunk_size": self.settings.chunk_size, "chunk_overlap": self.settings.chunk_overlap,
                       "tokenizer": e.model_id}
            meta = ensure(con, self.url, embedding, chunker)
            if rebuild and (meta["embedding"] != embedding or meta.get("chunker") != chunker):
                self._restart(con, embedding, chunker)
            self._meta = None
            self._stats = (-STATS_TTL_S, 0, 1.0)  # what this write changes, the next search counts
            self._check(self._read_meta())
            yield PgWriter(con, self.settings, embedder, progress, rebuild=rebuild, prune=prune)
        except StoreError:
            raise
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                from .connect import failure

                raise failure(self.url, exc) from None
            raise
        finally:
            con.close()

    def _embedder_for_writing(self, rebuild: bool) -> Embedder:
        """The configured model for a new store or a rebuild; else the one the store was built with."""
        if self._embedder is None and (rebuild or not self.exists()):
            from ..embedding import get_embedder

            self._embedder = get_embedder(self.settings.model)
        return self.embedder

    def _restart(self, con: Any, embedding: dict[str, Any], chunker: dict[str, Any]) -> None:
        """``--rebuild`` with another model or chunker: every document goes, the new settings are recorded."""
        from .schema import check_dim

        check_dim(con, self.url, embedding["dim"])
        with con.transaction():
            con.execute("DELETE FROM rag_chunks")
            con.execute("DELETE FROM rag_documents")
            write_meta(con, {"embedding": embedding, "chunker": chunker, "created": now()})

