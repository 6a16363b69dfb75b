"""The generations of an index folder: how they sit on disk, how one is opened, how the next is published.

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

The manifest records each data file's size and sha256, verified when a generation is opened. A live
generation that is damaged (a truncated or corrupted file, a missing folder, a dangling or missing
CURRENT) is not served: the newest good one is, with a warning, and the next write replaces it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import IndexBusyError, IndexDamagedError, IndexIncompatibleError, IndexNotFoundError, IndexWriteError
from .lexical import BM25Index
from .store import ChunkDB, ChunkRow, DocumentRow, file_sha256, write_database
from .vectorstore import FaissStore

FORMAT_VERSION = 1
DATA_FILES = ("chunks.sqlite", "vectors.faiss")
log = logging.getLogger(__name__)


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


class Generations:
    """The generations in one index folder. Constructing it touches no file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """Whether a generation has been published here."""
        return (self.path / "CURRENT").is_file()

    def current(self) -> str:
        """The live generation's name, e.g. ``gen-000007`` (``IndexNotFoundError`` when there is none)."""
        try:
            return (self.path / "CURRENT").read_text().strip()
        except FileNotFoundError:
            raise IndexNotFoundError(
                f"no index at {self.path}/: build one with `rag index [PATH ...] --index {self.path}`"
            ) from None

    def open(self, nprobe: int, check: Callable[[dict[str, Any]], None] = lambda manifest: None,
             reuse: Snapshot | None = None) -> Snapshot:
        """The live generation, opened; ``reuse`` when it is still the live one.

        ``check`` may refuse a manifest of the right format version (say, another embedding model) by raising.
        """
        for _ in range(3):
            try:
                name = self.current()
            except IndexNotFoundError:
                if not self._names():
                    raise
                name = ""  # CURRENT is missing but generations are there: the newest good one serves
            if reuse is not None and reuse.directory.name == name:
                return reuse  # every search asks: read CURRENT, nothing more
            names = self._names()
            problems: list[str] = []
            for candidate in [name, *(n for n in names if n != name)] if name else names:
                directory = self.path / candidate
                try:
                    manifest = json.loads((directory / "manifest.json").read_text())
                except FileNotFoundError:
                    problems.append(f"{candidate}: missing")
                    continue
                except ValueError:
                    problems.append(f"{candidate}: unreadable manifest")
                    continue
                version = manifest.get("format_version")
                if version != FORMAT_VERSION:
                    raise IndexIncompatibleError(
                        f"{self.path} uses index format {version}, this version reads format {FORMAT_VERSION}: "
                        f"rebuild it with `rag index --rebuild --index {self.path}`"
                    )
                check(manifest)
                damage = _damage(directory, manifest)
                if not damage:
                    try:
                        snapshot = Snapshot(directory, manifest, nprobe)
                    except Exception as exc:  # any unreadable file is damage, reported below
                        damage = f"cannot be read ({type(exc).__name__})"
                if damage:
                    problems.append(f"{candidate}: {damage}")
                    continue
                if candidate != name:
                    log.warning("%s: the live generation is damaged (%s); serving %s, the newest good one, until "
                                "the next `rag index` writes a new one", self.path, "; ".join(problems), candidate)
                return snapshot
            if name and (self.path / "CURRENT").is_file() and self.current() != name:
                continue  # a writer published meanwhile and pruned what we were opening: look again
            raise IndexDamagedError(f"{self.path}: no generation can be read ({'; '.join(problems) or 'none'}): "
                                    f"rebuild it with `rag index --rebuild --index {self.path}`")
        raise IndexNotFoundError(f"{self.path}: the index changed repeatedly while opening; try again")

    def _names(self) -> list[str]:
        """The generation folders, newest first."""
        return sorted((p.name for p in self.path.glob("gen-*") if p.is_dir()), reverse=True)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Be the one writer of this folder (``IndexBusyError`` if another process is), and clear
        what a killed writer left behind."""
        self.path.mkdir(parents=True, exist_ok=True)
        with _flock(self.path):
            for stale in self.path.glob(".tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            yield

    def publish(self, documents: Iterable[DocumentRow], chunks: Iterable[ChunkRow], store: FaissStore,
                manifest: dict[str, Any], keep: int = 2) -> str:
        """Write the next generation, make it the live one, and return its name.

        Call it inside ``writing()``. ``manifest`` is stored after ``format_version``. The newest ``keep``
        generations stay (the live one and, by default, the previous one for readers that still have it
        open); ``keep=1`` when a document was removed, so its text does not stay on disk. Readers that had
        a deleted generation open keep reading their open files.
        """
        existing = sorted(p.name for p in self.path.glob("gen-*") if p.is_dir())
        number = int(existing[-1].split("-")[1]) + 1 if existing else 1
        name = f"gen-{number:06d}"
        tmp = self.path / f".tmp-{name}"
        pointer = self.path / ".CURRENT.tmp"
        try:
            tmp.mkdir()
            write_database(tmp / "chunks.sqlite", documents, chunks)
            store.save(tmp / "vectors.faiss")
            files = {f: {"size": (tmp / f).stat().st_size, "sha256": file_sha256(tmp / f)} for f in DATA_FILES}
            (tmp / "manifest.json").write_text(
                json.dumps({"format_version": FORMAT_VERSION, **manifest, "files": files}, indent=2))
            for f in tmp.iterdir():
                _fsync(f)
            _fsync(tmp)
            os.replace(tmp, self.path / name)
            pointer.write_text(name + "\n")
            _fsync(pointer)
            os.replace(pointer, self.path / "CURRENT")
            _fsync(self.path)
        except (OSError, RuntimeError) as exc:  # RuntimeError: FAISS's own write errors
            shutil.rmtree(tmp, ignore_errors=True)
            pointer.unlink(missing_ok=True)
            if (self.path / name).is_dir() and self.current() != name:
                shutil.rmtree(self.path / name, ignore_errors=True)
            raise IndexWriteError(f"could not write the index in {self.path} "
                                  f"({getattr(exc, 'strerror', None) or exc}); the previous index is unchanged "
                                  "and still serves") from None
        for stale in existing[: max(0, len(existing) - (keep - 1))]:
            shutil.rmtree(self.path / stale, ignore_errors=True)
        return name


@contextlib.contextmanager
def _flock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively, or raise ``IndexBusyError`` at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; single writer is the user's job
        yield
        return
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(f"{folder} is being written by another process; "
                                 "wait for it to finish and try again") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _damage(directory: Path, manifest: dict[str, Any]) -> str:
    """What is wrong with a generation's data files against its manifest ("" when nothing; generations
    written before checksums were recorded are checked for presence only)."""
    for name in DATA_FILES:
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        expected = manifest.get("files", {}).get(name)
        if expected is None:
            continue
        if path.stat().st_size != expected["size"]:
            return f"{name} has {path.stat().st_size} bytes, {expected['size']} were written"
        if file_sha256(path) != expected["sha256"]:
            return f"{name} does not match its checksum"
    return ""
