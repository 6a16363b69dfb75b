"""The build pipeline: files -> documents -> chunks -> near-duplicate groups -> vectors -> the next generation.

An ``Ingest`` is one write. ``rag.index.Index`` holds the writer's lock, opens the live generation and
calls one of ``mirror``, ``upsert`` or ``delete``; a new generation is published only when a document
was added, updated or removed. Unchanged files are skipped by content hash, unchanged chunks keep
their ids, and only chunk texts missing from the embedding cache are embedded.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import Chunker
from .clean import CLEANER_VERSION
from .config import Settings
from .dedup import group_chunks, segment
from .documents import Document, load_document
from .embedding import Embedder
from .errors import DocumentError
from .generations import Generations, Snapshot
from .store import ChunkRow, DocumentRow, EmbeddingCache
from .vectorstore import FaissStore

Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)
Files = list[tuple[Path, str]]  # (path, doc_id), as rag.documents.find_files gives them


CACHE_BATCHES = 4  # embedding batches written to the cache together (a few seconds of work each time)
# The embedding cache keeps vectors of texts no longer indexed (an edited paragraph, a folder taken out for a while),
# so coming back costs nothing; past twice the live chunks plus this, it is pruned to the live ones.
CACHE_SLACK = 100


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
    pruned: int = 0  # vectors dropped from the cache: removed documents' and, when pruned, all not indexed
    generation: str = ""
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"changed": self.changed}


class Ingest:
    """One write to ``generations``, starting from the live generation ``old`` (``None``: from nothing).

    The caller holds ``generations.writing()`` for as long as the Ingest is used. ``created`` is the
    index's creation time to keep in the manifest (default: ``old``'s, else now).
    """

    def __init__(self, generations: Generations, settings: Settings, embedder: Embedder, old: Snapshot | None,
                 progress: Progress | None = None, began: float | None = None, created: str | None = None,
                 prune: bool = False) -> None:
        self.generations = generations
        self.settings = settings
        self.embedder = embedder
        self.old = old
        self.prune = prune  # prune the embedding cache to the live texts even if it is not large
        self.progress = progress or _silent
        self._began = time.perf_counter() if began is None else began
        self._created = created or (old.manifest.get("created") if old else None)

    def mirror(self, files: Files, problems: Iterable[str] = ()) -> IndexReport:
        """Hold exactly ``files``: add new ones, re-index changed ones, remove every other document.

        A file that cannot be read is reported and, if it was indexed before, kept as it was.
        """
        report, before = self._start(files, problems)
        fresh = self._read(files, before, report)
        return self._finish(report, before, fresh, gone=set(before) - {doc_id for _, doc_id in files})

    def upsert(self, files: Files, problems: Iterable[str] = ()) -> IndexReport:
        """Add or re-index ``files``; keep every other document."""
        report, before = self._start(files, problems)
        return self._finish(report, before, self._read(files, before, report), gone=set())

    def update(self, files: Files, gone: Iterable[str], problems: Iterable[str] = ()) -> IndexReport:
        """Add or re-index ``files`` and remove the documents ``gone``, in one write (a renamed file's chunks
        keep their vectors); keep every other document."""
        report, before = self._start(files, problems)
        return self._finish(report, before, self._read(files, before, report), gone=set(gone) & set(before))

    def delete(self, doc_ids: Iterable[str]) -> IndexReport:
        """Remove the documents ``doc_ids``; an id not in the index is reported in ``problems``."""
        report, before = self._start([], ())
        wanted = set(doc_ids)
        report.problems += [f"{d}: not in the index" for d in sorted(wanted - set(before))]
        return self._finish(report, before, {}, gone=wanted & set(before))

    # ------------------------------------------------------------ the pipeline

    def _start(self, files: Files, problems: Iterable[str]) -> tuple[IndexReport, dict[str, DocumentRow]]:
        before = {d.doc_id: d for d in self.old.db.documents()} if self.old else {}
        return IndexReport(problems=list(problems), found=len(files)), before

    def _finish(self, report: IndexReport, before: dict[str, DocumentRow], fresh: dict[str, DocumentRow],
                gone: set[str]) -> IndexReport:
        """Publish the generation holding ``before`` minus ``gone`` plus ``fresh``, if anything changed."""
        report.removed = sorted(gone)
        docs = {d: r for d, r in before.items() if d not in gone} | fresh
        if self.old is not None and not report.changed:  # the live generation stays
            report.documents, report.chunks = len(docs), self.old.manifest["chunks"]
            report.generation = self.old.directory.name
            if self.prune:
                with contextlib.closing(EmbeddingCache(self.generations.path / "embeddings.sqlite")) as cache:
                    report.pruned = cache.prune(self.embedder.model_id, {c.text_hash for c in self.old.db.chunks()})
        elif docs or self.old is not None:  # (nothing readable and no index yet: no empty index is made)
            self._build(docs, report)
        report.seconds = time.perf_counter() - self._began
        return report

    def _build(self, docs: dict[str, DocumentRow], report: IndexReport) -> None:
        """Chunk ``docs``, find their vectors (one embedding-cache connection) and publish the generation.

        Delete means delete: when documents were removed, no older generation is kept (their text goes
        with it) and the vectors only they had are erased from the embedding cache."""
        chunks, new, dropped, next_id = self._chunks(docs)
        with contextlib.closing(EmbeddingCache(self.generations.path / "embeddings.sqlite")) as cache:
            vectors = self._vectors(new, cache, report)
            store, trained_on = self._store(chunks, new, vectors, dropped, cache)
            report.documents, report.chunks = len(docs), len(chunks)
            report.generation = self.generations.publish(
                docs.values(), chunks, store, self._manifest(docs, chunks, store, next_id, trained_on),
                keep=1 if report.removed else self.settings.keep_generations)
            live = {c.text_hash for c in chunks}
            if report.removed and self.old is not None:
                removed = set(report.removed)
                report.pruned = cache.forget(self.embedder.model_id,
                                             {c.text_hash for c in self.old.db.chunks() if c.doc_id in removed} - live)
            if self.prune or cache.count() > 2 * len(live) + CACHE_SLACK:
                report.pruned += cache.prune(self.embedder.model_id, live)

    def _read(self, files: Files, before: dict[str, DocumentRow], report: IndexReport) -> dict[str, DocumentRow]:
        """The files that are new or changed, read and cleaned; the rest are noted in ``report``."""
        fresh: dict[str, DocumentRow] = {}
        advance = self.progress("Reading", len(files))
        for path, doc_id in files:
            advance(1)
            previous = before.get(doc_id)
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
            fresh[doc_id] = _document_row(doc)
            (report.updated if previous else report.added).append(doc_id)
        return fresh

    def _chunks(self, docs: dict[str, DocumentRow]) -> tuple[list[ChunkRow], list[ChunkRow], list[int], int]:
        """Every chunk of ``docs`` with its id and near-duplicate group; the chunks that are new; the ids
        of the old generation's chunks that are gone; the next free id."""
        s, embedder = self.settings, self.embedder
        chunker = Chunker(embedder.count_tokens, s.chunk_size, s.chunk_overlap, embedder.max_tokens)
        segments = segment({d: r.text for d, r in docs.items()}, s.dup_threshold)
        old_ids = {(c.doc_id, c.start, c.end, c.text_hash): c.id for c in self.old.db.chunks()} if self.old else {}
        # Ids are never reused, so an id always names one text: a counter lives in the manifest.
        next_id = self.old.manifest["next_chunk_id"] if self.old else 0
        chunks, new_ids = [], set()
        for doc_id in sorted(docs):
            doc = docs[doc_id]
            spans = [sp for a, b in segments[doc_id] for sp in chunker.split(doc.text[a:b], a)]
            for ordinal, sp in enumerate(spans):
                text_hash = hashlib.sha256(sp.text.encode()).hexdigest()
                chunk_id = old_ids.pop((doc_id, sp.start, sp.end, text_hash), None)
                if chunk_id is None:
                    chunk_id, next_id = next_id, next_id + 1
                    new_ids.add(chunk_id)
                page = bisect_right(doc.pages, sp.start) if doc.pages else None
                chunks.append(ChunkRow(chunk_id, doc_id, ordinal, sp.start, sp.end, page, sp.text, text_hash,
                                       embedder.count_tokens(sp.text), None))
        groups = group_chunks([(c.doc_id, c.text) for c in chunks], s.dup_threshold)
        chunks = [replace(c, dup_group=chunks[g].id if g is not None else None)
                  for c, g in zip(chunks, groups, strict=True)]
        return chunks, [c for c in chunks if c.id in new_ids], list(old_ids.values()), next_id

    def _vectors(self, chunks: list[ChunkRow], cache: EmbeddingCache, report: IndexReport) -> np.ndarray:
        """One vector per chunk: from the cache, else embedded now (and added to the cache)."""
        embedder = self.embedder
        hashes = [c.text_hash for c in chunks]
        known = cache.get(embedder.model_id, hashes)
        missing = {c.text_hash: c.text for c in chunks if c.text_hash not in known}
        report.embedded, report.reused = len(missing), sum(1 for c in chunks if c.text_hash not in missing)
        if missing:
            # Each batch goes into the cache as soon as it is embedded (one transaction each): a run killed
            # after hours of embedding keeps all it finished, and the next run embeds only the rest.
            pending, advance = list(missing.items()), self.progress("Embedding", len(missing))
            step = self.settings.batch_size * CACHE_BATCHES
            for i in range(0, len(pending), step):
                part = pending[i : i + step]
                vectors = embedder.embed([text for _, text in part], self.settings.batch_size, advance)
                computed = {h: v for (h, _), v in zip(part, vectors, strict=True)}
                cache.put(embedder.model_id, computed)
                known |= computed
        return np.vstack([known[h] for h in hashes]) if hashes else np.zeros((0, embedder.dim), np.float32)

    def _store(self, chunks: list[ChunkRow], new: list[ChunkRow], vectors: np.ndarray, dropped: list[int],
               cache: EmbeddingCache) -> tuple[FaissStore, int]:
        """The updated vector store, and how many vectors an IVF store was trained on."""
        s, old, dim = self.settings, self.old, self.embedder.dim
        want_ivf = len(chunks) > s.ann_threshold
        trained = old.manifest.get("trained_on", 0) if old else 0
        if old is not None and (old.store.kind == "ivf") == want_ivf and not (want_ivf and len(chunks) > 2 * trained):
            store = old.store.copy()  # the live snapshot keeps serving readers untouched
            store.remove(dropped)
            store.add(np.array([c.id for c in new], dtype=np.int64), vectors)
            return store, trained
        # First build, or the index changes kind (or outgrew its IVF training): build from all vectors.
        by_id = dict(zip((c.id for c in new), vectors, strict=True))
        kept = [c for c in chunks if c.id not in by_id]
        cached = cache.get(self.embedder.model_id, [c.text_hash for c in kept])
        by_id |= {c.id: cached[c.text_hash] for c in kept}
        ids = np.array([c.id for c in chunks], dtype=np.int64)
        matrix = np.vstack([by_id[i] for i in ids]) if len(ids) else np.zeros((0, dim), np.float32)
        if want_ivf:
            return FaissStore.approximate(ids, matrix, s.nprobe), len(ids)
        store = FaissStore.exact(dim)
        store.add(ids, matrix)
        return store, 0

    def _manifest(self, docs: dict[str, DocumentRow], chunks: list[ChunkRow], store: FaissStore, next_id: int,
                  trained_on: int) -> dict[str, Any]:
        """Everything manifest.json holds but its format version (see index/README.md)."""
        e, s = self.embedder, self.settings
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return {
            "embedding": {"model_id": e.model_id, "dim": e.dim, "max_tokens": e.max_tokens},
            "chunker": {"chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap, "tokenizer": e.model_id,
                        "cleaner_version": CLEANER_VERSION},
            "index_type": store.kind,
            "trained_on": trained_on,
            "next_chunk_id": next_id,
            "documents": len(docs),
            "chunks": len(chunks),
            "corpus_fingerprint": hashlib.sha256(
                "\n".join(f"{d}\t{r.sha256}" for d, r in sorted(docs.items())).encode()).hexdigest(),
            "created": self._created or now,
            "updated": now,
        }


def _document_row(doc: Document) -> DocumentRow:
    return DocumentRow(doc.doc_id, doc.title, doc.source, doc.sha256, doc.mtime, doc.size, doc.text,
                       doc.pages, CLEANER_VERSION, time.time(), doc.marks)


def _silent(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None
