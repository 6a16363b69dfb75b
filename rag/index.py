"""An index directory, read consistently and written crash-safely: the ``Index`` facade.

The parts live beside it: ``rag.generations`` (the generations on disk, the writer's lock, publishing)
and ``rag.ingest`` (the build pipeline from files to a new generation). See index/README.md.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import Settings, default_index_dir
from .documents import find_files
from .embedding import BUNDLED_MODEL_ID, Embedder, get_embedder
from .errors import IndexIncompatibleError, IndexWriteError
from .generations import FORMAT_VERSION, Generations, Snapshot
from .ingest import IndexReport, Ingest, Progress
from .locations import describe
from .store import DocumentRow

__all__ = ["FORMAT_VERSION", "Index", "IndexReport", "Progress", "Snapshot"]


class Index:
    """An index on disk. Constructing one is cheap; nothing is read or loaded until needed.

    >>> from rag.testing import FakeEmbedder, tiny_documents
    >>> docs = tiny_documents()                      # a folder with two short .txt files
    >>> index = Index(docs.parent / "index", embedder=FakeEmbedder())  # no embedder: the bundled model
    >>> report = index.sync([docs])                  # mirror a folder: add, update, remove
    >>> index.status()["documents"], index.status()["chunks"]
    (2, 2)
    """

    def __new__(cls, path: Path | str | None = None, *args: Any, **kwargs: Any) -> Index:
        """A ``postgresql://`` URL opens a store in that database (``rag.pg.index.PgIndex``); so does the default
        folder (no path, or ``$RAG_INDEX``'s) when ``$RAG_STORE`` names one. Anything else is a folder."""
        from . import env
        from .pg import is_store_url

        if cls is Index and (is_store_url(path) or (
                env.store() and (path is None or Path(path) == default_index_dir()))):
            from .pg.index import PgIndex

            return object.__new__(PgIndex)
        return super().__new__(cls)

    def __init__(self, path: Path | str | None = None, settings: Settings | None = None,
                 embedder: Embedder | None = None) -> None:
        self.path = Path(path) if path is not None else default_index_dir()
        self.settings = settings or Settings()
        self._embedder = embedder
        self._generations = Generations(self.path)
        self._snapshot: Snapshot | None = None

    @property
    def location(self) -> str:
        """Where the index is, for messages: its folder (a store's URL, without the password)."""
        return str(self.path)

    # ---------------------------------------------------------------- reading

    def exists(self) -> bool:
        """Whether an index has been built at ``path``."""
        return self._generations.exists()

    def snapshot(self) -> Snapshot:
        """The live generation, reopened when a writer has published a newer one."""
        self._snapshot = self._generations.open(self.settings.nprobe, self._check, reuse=self._snapshot)
        return self._snapshot

    def _check(self, manifest: dict[str, Any]) -> None:
        """Refuse a generation built with another embedding model or dimension than the configured one."""
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

        >>> from rag.testing import tiny_workspace
        >>> index = tiny_workspace().index
        >>> [(d["doc_id"], d["title"], d["chunks"]) for d in index.documents()]
        [('harbour.txt', 'Harbour notes', 1), ('pillar.txt', 'Pillar 2 notes', 1)]
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
        """One indexed document with its cleaned text (every offset refers to it), or ``None``."""
        return self.snapshot().db.document(doc_id)

    def locate(self, doc_id: str, start: int, end: int) -> str | None:
        """Where the span ``start:end`` of a document is, as a person would look for it (``p. 3``, ``slide 4``,
        ``Sheet1, rows 2–9``, ``§ Heading``), or None (a plain text file, or an unknown document).

        >>> from rag.testing import tiny_workspace
        >>> tiny_workspace().index.locate("pillar.txt", 0, 20) is None
        True
        """
        marks = self.snapshot().db.locations([doc_id]).get(doc_id, [])
        return describe(marks, start, end)

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
             rebuild: bool = False, prune: bool = False) -> IndexReport:
        """Make the index mirror exactly the supported files under ``paths``.

        New files are added, changed ones re-indexed, files no longer present removed. A file that
        cannot be read is reported in ``problems`` and, if it was indexed before, kept as it was.

        >>> from rag.testing import tiny_workspace
        >>> index = tiny_workspace().index               # built by syncing its documents folder
        >>> docs = index.path.parent / "documents"
        >>> (docs / "pillar.txt").unlink()
        >>> report = index.sync([docs])
        >>> report.removed, report.unchanged, report.embedded, report.problems
        (['pillar.txt'], ['harbour.txt'], 0, [])
        """
        paths = list(paths)
        files, problems = find_files(paths)
        missing = [str(p) for p in paths if not Path(p).exists()]
        with self._ingest(progress, rebuild, prune) as ingest:
            if missing:  # a typo must not look like "every document was deleted"
                return ingest.upsert(files, [p + "; nothing was removed from the index"
                                             if p.endswith("no such file or folder") else p for p in problems])
            return ingest.mirror(files, problems)

    def add(self, paths: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        """Add or update the files under ``paths``; keep every other indexed document.

        >>> from rag.testing import tiny_workspace
        >>> index = tiny_workspace().index
        >>> note = index.path.parent / "tides.txt"
        >>> _ = note.write_text("High tide is at 6:10 today.")
        >>> report = index.add([note])
        >>> report.added, report.problems, [d["doc_id"] for d in index.documents()]
        (['tides.txt'], [], ['harbour.txt', 'pillar.txt', 'tides.txt'])
        """
        files, problems = find_files(paths)
        with self._ingest(progress) as ingest:
            return ingest.upsert(files, problems)

    def update(self, folders: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        """Bring the documents of ``folders`` in step with their files, in one write: new and changed files are
        indexed, a document whose file under a folder is gone is removed; every other document stays (uploads,
        other folders). A rename is one write: its chunks keep their vectors.

        >>> from rag.testing import tiny_workspace
        >>> index = tiny_workspace().index
        >>> docs = index.path.parent / "documents"
        >>> _ = (docs / "pillar.txt").rename(docs / "pillar-2.txt")
        >>> report = index.update([docs])
        >>> report.added, report.removed, report.unchanged, report.embedded
        (['pillar-2.txt'], ['pillar.txt'], ['harbour.txt'], 0)
        """
        folders = [Path(f) for f in folders]
        files, problems = find_files([f for f in folders if f.is_dir()])
        roots = [f.resolve() for f in folders]
        with self._ingest(progress) as ingest:
            held = ingest.old.db.documents(with_text=False) if ingest.old else []
            gone = [d.doc_id for d in held
                    if any(Path(d.source).is_relative_to(r) for r in roots) and not Path(d.source).is_file()]
            return ingest.update(files, gone, problems)

    def remove(self, doc_ids: Iterable[str], progress: Progress | None = None) -> IndexReport:
        """Remove documents by id (ids as in ``documents()``; an unknown id is named in ``problems``).

        >>> from rag.testing import tiny_workspace
        >>> report = tiny_workspace().index.remove(["pillar.txt", "nothing.txt"])
        >>> report.removed, report.problems
        (['pillar.txt'], ['nothing.txt: not in the index'])
        """
        with self._ingest(progress) as ingest:
            return ingest.delete(doc_ids)

    @contextlib.contextmanager
    def _ingest(self, progress: Progress | None, rebuild: bool = False, prune: bool = False) -> Iterator[Ingest]:
        """The writer's lock held and the live generation opened (unless ``rebuild``): a pipeline to write
        the next one."""
        began = time.perf_counter()
        with self._generations.writing():
            old = None if rebuild or not self.exists() else self.snapshot()
            embedder = self.embedder  # may open the live generation to learn the model it was built with
            live = self._snapshot if self.exists() else None  # read above, or earlier by this Index (rebuild)
            created = live.manifest.get("created") if live is not None else None  # kept in the new manifest
            try:
                yield Ingest(self._generations, self.settings, embedder, old, progress, began=began,
                             created=created, prune=prune)
            except (OSError, sqlite3.Error) as exc:  # a full disk or an I/O error while writing the cache
                raise IndexWriteError(f"could not write the index in {self.path} ({exc}); the previous index "
                                      "is unchanged and still serves") from None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
