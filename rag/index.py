"""An index directory: documents, chunks and vectors, written crash-safely, read consistently.

Layout (see index/README.md)::

    CURRENT              name of the live generation, replaced atomically
    gen-000007/          a complete, immutable generation
        manifest.json    format version, embedding model, chunker settings, corpus fingerprint
        chunks.sqlite    documents (cleaned text, metadata) and chunks (offsets, text)
        vectors.faiss    one vector per chunk, keyed by chunk id
    embeddings.sqlite    cache of vectors by (model, text hash), shared by generations
    .lock                held while a writer runs

A writer builds the next generation in a temporary folder, fsyncs it, renames it into place and
only then points CURRENT at it. Killing it at any moment leaves the previous generation live.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import Chunker
from .clean import CLEANER_VERSION
from .config import Settings, default_index_dir
from .dedup import group_chunks, segment
from .documents import Document, find_files, load_document
from .embedding import BUNDLED_MODEL_ID, Embedder, get_embedder
from .errors import DocumentError, IndexBusyError, IndexIncompatibleError, IndexNotFoundError
from .lexical import BM25Index
from .store import ChunkDB, ChunkRow, DocumentRow, EmbeddingCache, write_database
from .vectorstore import FaissStore

FORMAT_VERSION = 1
Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)


@dataclass
class IndexReport:
    """What a write did. ``problems`` holds one line per file that could not be indexed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    found: int = 0  # supported files found under the paths given
    documents: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks whose vectors were computed now (not found in the cache)
    reused: int = 0  # new chunk rows whose vectors came from the cache
    generation: str = ""
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"changed": self.changed}


class Snapshot:
    """One generation opened for reading. Everything in it is immutable."""

    def __init__(self, directory: Path, manifest: dict[str, Any], nprobe: int) -> None:
        self.directory = directory
        self.manifest = manifest
        self.db = ChunkDB(directory / "chunks.sqlite")
        self.store = FaissStore.load(directory / "vectors.faiss", nprobe=nprobe)
        self._bm25: BM25Index | None = None
        self._groups: dict[int, list[str]] | None = None
        self._titles: dict[str, str] | None = None

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            self._bm25 = BM25Index(*self.db.chunk_texts())
        return self._bm25

    @property
    def titles(self) -> dict[str, str]:
        """doc_id -> title, read once per generation (searches need it on every call)."""
        if self._titles is None:
            self._titles = {d.doc_id: d.title for d in self.db.documents(with_text=False)}
        return self._titles

    @property
    def groups(self) -> dict[int, list[str]]:
        if self._groups is None:
            self._groups = self.db.group_documents()
        return self._groups


class Index:
    """An index on disk. Constructing one is cheap; nothing is read or loaded until needed.

    >>> index = Index("index")                       # doctest: +SKIP
    >>> report = index.sync(["corpus"])              # mirror a folder: add, update, remove
    >>> index.status()["chunks"]                     # doctest: +SKIP
    """

    def __init__(self, path: Path | str | None = None, settings: Settings | None = None,
                 embedder: Embedder | None = None) -> None:
        self.path = Path(path) if path is not None else default_index_dir()
        self.settings = settings or Settings()
        self._embedder = embedder
        self._snapshot: Snapshot | None = None

    # ---------------------------------------------------------------- reading

    def exists(self) -> bool:
        return (self.path / "CURRENT").is_file()

    def snapshot(self) -> Snapshot:
        """The live generation, reopened when a writer has published a newer one."""
        for _ in range(3):
            name = self._current_name()
            if self._snapshot is not None and self._snapshot.directory.name == name:
                return self._snapshot
            directory = self.path / name
            try:
                manifest = json.loads((directory / "manifest.json").read_text())
            except FileNotFoundError:
                continue  # pruned between reading CURRENT and opening it: read CURRENT again
            self._check(manifest)
            self._snapshot = Snapshot(directory, manifest, self.settings.nprobe)
            return self._snapshot
        raise IndexNotFoundError(f"{self.path}: the index changed repeatedly while opening; try again")

    def _current_name(self) -> str:
        try:
            return (self.path / "CURRENT").read_text().strip()
        except FileNotFoundError:
            raise IndexNotFoundError(
                f"no index at {self.path}/: build one with `rag index [PATH ...] --index {self.path}`"
            ) from None

    def _check(self, manifest: dict[str, Any]) -> None:
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexIncompatibleError(
                f"{self.path} uses index format {version}, this version reads format {FORMAT_VERSION}: "
                f"rebuild it with `rag index --rebuild --index {self.path}`"
            )
        built = manifest["embedding"]
        wanted = self._configured_model_id()
        if wanted is not None and wanted != built["model_id"]:
            raise IndexIncompatibleError(
                f"{self.path} was built with {built['model_id']} ({built['dim']}-d) but {wanted} is configured: "
                f"rebuild it with `rag index --rebuild --index {self.path}` or use the model it was built with"
            )
        if self._embedder is not None and self._embedder.dim != built["dim"]:
            raise IndexIncompatibleError(
                f"{self.path} holds {built['dim']}-d vectors but the embedder makes {self._embedder.dim}-d ones: "
                f"rebuild it with `rag index --rebuild --index {self.path}`"
            )

    def _configured_model_id(self) -> str | None:
        if self._embedder is not None:
            return self._embedder.model_id
        if self.settings.model:
            return str(Path(self.settings.model).resolve())
        return None  # nothing asked for: use whatever the index was built with

    @property
    def embedder(self) -> Embedder:
        """The embedder this index searches with: the configured one, else the one it was built with."""
        if self._embedder is None:
            model = self.settings.model
            if not model and self.exists():
                built = self.snapshot().manifest["embedding"]["model_id"]
                model = "" if built == BUNDLED_MODEL_ID else built
            self._embedder = get_embedder(model)
        return self._embedder

    def documents(self) -> list[dict[str, Any]]:
        """Indexed documents with title, source, chunk count, size and when they were indexed.

        >>> [(d["doc_id"], d["title"], d["chunks"]) for d in index.documents()]  # doctest: +SKIP
        """
        snap = self.snapshot()
        counts = snap.db.counts()
        return [
            {"doc_id": d.doc_id, "title": d.title, "source": d.source, "chunks": counts.get(d.doc_id, 0),
             "size": d.size, "characters": len(d.text), "sha256": d.sha256,
             "modified": _iso(d.mtime), "added": _iso(d.added)}
            for d in snap.db.documents()
        ]

    def document(self, doc_id: str) -> DocumentRow | None:
        return self.snapshot().db.document(doc_id)

    def status(self) -> dict[str, Any]:
        """Counts, model, index type and size on disk, without loading any model."""
        snap = self.snapshot()
        m = snap.manifest
        size = sum(p.stat().st_size for p in snap.directory.iterdir())
        return {"index": str(self.path), "generation": snap.directory.name, "documents": m["documents"],
                "chunks": m["chunks"], "model": m["embedding"]["model_id"], "dim": m["embedding"]["dim"],
                "index_type": m["index_type"], "chunker": m["chunker"], "bytes": size,
                "corpus_fingerprint": m["corpus_fingerprint"], "updated": m["updated"]}

    # ---------------------------------------------------------------- writing

    def sync(self, paths: Iterable[Path | str], progress: Progress | None = None,
             rebuild: bool = False) -> IndexReport:
        """Make the index mirror exactly the supported files under ``paths``.

        New files are added, changed ones re-indexed, files no longer present removed. A file that
        cannot be read is reported in ``problems`` and, if it was indexed before, kept as it was.

        >>> report = rag.Index("index").sync(["corpus"])  # doctest: +SKIP
        >>> report.added, report.embedded, report.problems  # doctest: +SKIP
        """
        paths = list(paths)
        files, problems = find_files(paths)
        missing = [str(p) for p in paths if not Path(p).exists()]
        if missing:  # a typo must not look like "every document was deleted"
            problems = [p + "; nothing was removed from the index" if p.endswith("no such file or folder") else p
                        for p in problems]
            return self._write(files, set(), progress, rebuild, problems)
        return self._write(files, None, progress, rebuild, problems)

    def add(self, paths: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        """Add or update the files under ``paths``; keep every other indexed document.

        >>> report = index.add(["new/report.pdf"])       # doctest: +SKIP
        >>> report.added, report.problems                # doctest: +SKIP
        """
        files, problems = find_files(paths)
        return self._write(files, set(), progress, False, problems)

    def remove(self, doc_ids: Iterable[str], progress: Progress | None = None) -> IndexReport:
        """Remove documents by id (ids as in ``documents()``; unknown ids are ignored).

        >>> index.remove(["report.pdf"]).removed         # doctest: +SKIP
        ['report.pdf']
        """
        return self._write([], set(doc_ids), progress, False, [])

    def _write(self, files: list[tuple[Path, str]], remove: set[str] | None, progress: Progress | None,
               rebuild: bool, problems: list[str]) -> IndexReport:
        began = time.perf_counter()
        report = IndexReport(problems=list(problems), found=len(files))
        progress = progress or _silent
        self.path.mkdir(parents=True, exist_ok=True)
        with self._lock():
            for stale in self.path.glob(".tmp-*"):  # left by a writer that was killed
                shutil.rmtree(stale, ignore_errors=True)
            old = None if rebuild or not self.exists() else self.snapshot()
            old_docs = {d.doc_id: d for d in old.db.documents()} if old else {}
            embedder = self.embedder

            new_docs = self._read_files(files, old_docs, report, progress)
            given = {doc_id for _, doc_id in files}
            gone = (set(old_docs) - given) if remove is None else (remove & set(old_docs))
            unknown = sorted((remove or set()) - set(old_docs))
            report.problems += [f"{d}: not in the index" for d in unknown]
            report.removed = sorted(gone)
            docs = {d: r for d, r in old_docs.items() if d not in gone} | new_docs
            if old is None and not docs:  # nothing readable: do not create an empty index
                report.seconds = time.perf_counter() - began
                return report
            if not report.changed and old is not None:
                report.documents, report.chunks = len(docs), old.manifest["chunks"]
                report.generation = old.directory.name
                report.seconds = time.perf_counter() - began
                return report

            rows = self._chunk(docs, embedder)
            old_ids = {(c.doc_id, c.start, c.end, c.text_hash): c.id for c in old.db.chunks()} if old else {}
            # Ids are never reused, so an id always names one text: a counter lives in the manifest.
            next_id = old.manifest["next_chunk_id"] if old else 0
            final, fresh_ids = [], set()
            for row in rows:
                chunk_id = old_ids.pop((row.doc_id, row.start, row.end, row.text_hash), None)
                if chunk_id is None:
                    chunk_id, next_id = next_id, next_id + 1
                    fresh_ids.add(chunk_id)
                final.append(_with(row, id=chunk_id))
            final = _with_groups(final, self.settings.dup_threshold)
            fresh = [c for c in final if c.id in fresh_ids]
            vectors = self._vectors(fresh, embedder, report, progress)
            store, trained_on = self._store(old, final, fresh, vectors, list(old_ids.values()), embedder)
            report.documents, report.chunks = len(docs), len(final)
            report.generation = self._publish(docs, final, store, embedder, next_id, trained_on)
        report.seconds = time.perf_counter() - began
        return report

    def _read_files(self, files: list[tuple[Path, str]], old_docs: dict[str, DocumentRow],
                    report: IndexReport, progress: Progress) -> dict[str, DocumentRow]:
        new_docs: dict[str, DocumentRow] = {}
        advance = progress("Reading", len(files))
        for path, doc_id in files:
            advance(1)
            previous = old_docs.get(doc_id)
            try:
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
                if previous and previous.sha256 == sha and previous.cleaner_version == CLEANER_VERSION:
                    report.unchanged.append(doc_id)
                    continue
                doc = load_document(path, doc_id)
            except OSError as exc:
                report.problems.append(f"{path}: cannot read ({exc.strerror or exc})"
                                       + ("; kept the indexed version" if previous else ""))
                continue
            except DocumentError as exc:
                report.problems.append(str(exc) + ("; kept the indexed version" if previous else ""))
                continue
            new_docs[doc_id] = _document_row(doc)
            (report.updated if previous else report.added).append(doc_id)
        return new_docs

    def _chunk(self, docs: dict[str, DocumentRow], embedder: Embedder) -> list[ChunkRow]:
        s = self.settings
        chunker = Chunker(embedder.count_tokens, s.chunk_size, s.chunk_overlap, embedder.max_tokens)
        segments = segment({d: r.text for d, r in docs.items()}, s.dup_threshold)
        rows: list[ChunkRow] = []
        for doc_id in sorted(docs):
            doc = docs[doc_id]
            spans = [sp for a, b in segments[doc_id] for sp in chunker.split(doc.text[a:b], a)]
            for ordinal, sp in enumerate(spans):
                page = bisect_right(doc.pages, sp.start) if doc.pages else None
                rows.append(ChunkRow(-1, doc_id, ordinal, sp.start, sp.end, page, sp.text,
                                     hashlib.sha256(sp.text.encode()).hexdigest(),
                                     embedder.count_tokens(sp.text), None))
        return rows

    def _vectors(self, chunks: list[ChunkRow], embedder: Embedder, report: IndexReport,
                 progress: Progress) -> np.ndarray:
        cache = EmbeddingCache(self.path / "embeddings.sqlite")
        try:
            hashes = [c.text_hash for c in chunks]
            known = cache.get(embedder.model_id, hashes)
            missing = {c.text_hash: c.text for c in chunks if c.text_hash not in known}
            report.embedded, report.reused = len(missing), len(chunks) - sum(
                1 for c in chunks if c.text_hash in missing)
            if missing:
                texts = list(missing.values())
                fresh = embedder.embed(texts, self.settings.batch_size, progress("Embedding", len(texts)))
                computed = dict(zip(missing, fresh, strict=True))
                cache.put(embedder.model_id, computed)
                known |= computed
            return np.vstack([known[h] for h in hashes]) if hashes else np.zeros((0, embedder.dim), np.float32)
        finally:
            cache.close()

    def _store(self, old: Snapshot | None, final: list[ChunkRow], fresh: list[ChunkRow], vectors: np.ndarray,
               dropped: list[int], embedder: Embedder) -> tuple[FaissStore, int]:
        """The updated vector store, and how many vectors an IVF store was trained on."""
        s = self.settings
        want_ivf = len(final) > s.ann_threshold
        trained = old.manifest.get("trained_on", 0) if old else 0
        if old is not None and (old.store.kind == "ivf") == want_ivf and not (want_ivf and len(final) > 2 * trained):
            store = old.store.copy()  # the live snapshot keeps serving readers untouched
            store.remove(dropped)
            store.add(np.array([c.id for c in fresh], dtype=np.int64), vectors)
            return store, trained
        # First build, or the index changes kind (or outgrew its IVF training): build from all vectors.
        by_id = dict(zip((c.id for c in fresh), vectors, strict=True))
        reused = [c for c in final if c.id not in by_id]
        if reused:
            cache = EmbeddingCache(self.path / "embeddings.sqlite")
            try:
                cached = cache.get(embedder.model_id, [c.text_hash for c in reused])
            finally:
                cache.close()
            for c in reused:
                by_id[c.id] = cached[c.text_hash]
        ids = np.array([c.id for c in final], dtype=np.int64)
        matrix = np.vstack([by_id[i] for i in ids]) if len(ids) else np.zeros((0, embedder.dim), np.float32)
        if want_ivf:
            return FaissStore.approximate(ids, matrix, s.nprobe), len(ids)
        store = FaissStore.exact(embedder.dim)
        store.add(ids, matrix)
        return store, 0

    def _publish(self, docs: dict[str, DocumentRow], chunks: list[ChunkRow], store: FaissStore,
                 embedder: Embedder, next_id: int, trained_on: int) -> str:
        existing = sorted(p.name for p in self.path.glob("gen-*") if p.is_dir())
        number = int(existing[-1].split("-")[1]) + 1 if existing else 1
        name = f"gen-{number:06d}"
        tmp = self.path / f".tmp-{name}"
        tmp.mkdir()
        write_database(tmp / "chunks.sqlite", docs.values(), chunks)
        store.save(tmp / "vectors.faiss")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        previous = self._snapshot.manifest if self._snapshot and self.exists() else {}
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedding": {"model_id": embedder.model_id, "dim": embedder.dim, "max_tokens": embedder.max_tokens},
            "chunker": {"chunk_size": self.settings.chunk_size, "chunk_overlap": self.settings.chunk_overlap,
                        "tokenizer": embedder.model_id, "cleaner_version": CLEANER_VERSION},
            "index_type": store.kind,
            "trained_on": trained_on,
            "next_chunk_id": next_id,
            "documents": len(docs),
            "chunks": len(chunks),
            "corpus_fingerprint": hashlib.sha256(
                "\n".join(f"{d}\t{r.sha256}" for d, r in sorted(docs.items())).encode()).hexdigest(),
            "created": previous.get("created", now),
            "updated": now,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        for f in tmp.iterdir():
            _fsync(f)
        _fsync(tmp)
        os.replace(tmp, self.path / name)
        pointer = self.path / ".CURRENT.tmp"
        pointer.write_text(name + "\n")
        _fsync(pointer)
        os.replace(pointer, self.path / "CURRENT")
        _fsync(self.path)
        for stale in existing[:-2]:  # keep the previous generation for readers still on it
            shutil.rmtree(self.path / stale, ignore_errors=True)
        return name

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; single writer is the user's job
            yield
            return
        with open(self.path / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexBusyError(f"{self.path} is being written by another process; "
                                     "wait for it to finish and try again") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _document_row(doc: Document) -> DocumentRow:
    return DocumentRow(doc.doc_id, doc.title, doc.source, doc.sha256, doc.mtime, doc.size, doc.text,
                       doc.pages, CLEANER_VERSION, time.time())


def _with(row: ChunkRow, **changes: Any) -> ChunkRow:
    from dataclasses import replace

    return replace(row, **changes)


def _with_groups(chunks: list[ChunkRow], threshold: float) -> list[ChunkRow]:
    groups = group_chunks([(c.doc_id, c.text) for c in chunks], threshold)
    return [_with(c, dup_group=chunks[g].id if g is not None else None)
            for c, g in zip(chunks, groups, strict=True)]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _silent(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None
