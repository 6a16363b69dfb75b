"""SQLite tables for documents and chunks (one file per index generation) and the embedding cache.

A generation's database is written once, then only read: readers open it with ``immutable=1``.
The embedding cache lives beside the generations and outlives them: it maps (model, sha256 of a
chunk's text) to its vector, so re-indexing never embeds the same text twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .locations import Mark, page_marks

SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,          -- of the file's bytes
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    text TEXT NOT NULL,            -- cleaned text: every offset refers to it
    pages TEXT NOT NULL,           -- JSON list of page start offsets (PDF), else []
    cleaner_version INTEGER NOT NULL,
    added REAL NOT NULL            -- when this version of the document was indexed
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,        -- stable across generations; the FAISS id
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    ordinal INTEGER NOT NULL,      -- position within the document
    start INTEGER NOT NULL,        -- documents.text[start:end] == text
    end INTEGER NOT NULL,
    page INTEGER,                  -- 1-based PDF page of the start, else NULL
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,       -- sha256 of text: the embedding cache key
    tokens INTEGER NOT NULL,       -- encoder word pieces, special tokens included
    dup_group INTEGER              -- smallest chunk id of its near-duplicate group, else NULL
);
CREATE INDEX chunks_doc ON chunks(doc_id);
CREATE INDEX chunks_group ON chunks(dup_group);
CREATE TABLE locations (
    doc_id TEXT PRIMARY KEY REFERENCES documents(doc_id),
    marks TEXT NOT NULL            -- JSON [[offset, kind, value], ...]: where slides, sheets, rows, sections start
);
"""


@dataclass(frozen=True)
class DocumentRow:
    doc_id: str
    title: str
    source: str
    sha256: str
    mtime: float
    size: int
    text: str
    pages: tuple[int, ...]
    cleaner_version: int
    added: float
    marks: tuple[Mark, ...] = ()  # rag.locations; in the table ``locations`` (none in an index written before it)


@dataclass(frozen=True)
class ChunkRow:
    id: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    page: int | None
    text: str
    text_hash: str
    tokens: int
    dup_group: int | None


def _document_row(row: Sequence[Any]) -> DocumentRow:
    """A ``documents`` row, columns in table order, with its JSON list of page offsets decoded."""
    doc_id, title, source, sha256, mtime, size, text, pages, cleaner_version, added = row
    return DocumentRow(doc_id, title, source, sha256, mtime, size, text, tuple(json.loads(pages)), cleaner_version,
                       added)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read 4 MB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def write_database(path: Path, documents: Iterable[DocumentRow], chunks: Iterable[ChunkRow]) -> None:
    """Create a complete generation database at ``path`` (which must not exist)."""
    documents = list(documents)
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        con.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(d.doc_id, d.title, d.source, d.sha256, d.mtime, d.size, d.text, json.dumps(list(d.pages)),
              d.cleaner_version, d.added) for d in documents],
        )
        con.executemany(
            "INSERT INTO locations VALUES (?,?)",
            [(d.doc_id, json.dumps(list(d.marks), ensure_ascii=False)) for d in documents if d.marks],
        )
        con.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(c.id, c.doc_id, c.ordinal, c.start, c.end, c.page, c.text, c.text_hash, c.tokens, c.dup_group)
             for c in chunks],
        )
        con.commit()
    finally:
        con.close()


class ChunkDB:
    """Read-only access to a generation's documents and chunks; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                    check_same_thread=False)

    def close(self) -> None:
        self._con.close()

    def documents(self, with_text: bool = True) -> list[DocumentRow]:
        text = "text" if with_text else "''"
        rows = self._con.execute(
            f"SELECT doc_id, title, source, sha256, mtime, size, {text}, pages, cleaner_version, added "
            "FROM documents ORDER BY doc_id"
        )
        marks = self._marks()
        return [replace(d, marks=marks.get(d.doc_id, ())) for d in map(_document_row, rows)]

    def document(self, doc_id: str) -> DocumentRow | None:
        row = self._con.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return replace(_document_row(row), marks=self._marks([doc_id]).get(doc_id, ())) if row else None

    def _marks(self, doc_ids: Sequence[str] | None = None) -> dict[str, tuple[Mark, ...]]:
        """The ``locations`` marks of these documents (all: ``None``); none from an index written before them."""
        query, args = "SELECT doc_id, marks FROM locations", []
        if doc_ids is not None:
            query, args = query + f" WHERE doc_id IN ({','.join('?' * len(doc_ids))})", list(doc_ids)
        try:
            rows = self._con.execute(query, args).fetchall()
        except sqlite3.OperationalError:  # no such table: written before locations were kept
            return {}
        return {doc_id: tuple((m[0], m[1], m[2]) for m in json.loads(marks)) for doc_id, marks in rows}

    def locations(self, doc_ids: Sequence[str]) -> dict[str, list[Mark]]:
        """Every mark of these documents, their PDF pages' included, in order: for ``rag.locations.describe``."""
        wanted = list(dict.fromkeys(doc_ids))[:900]
        if not wanted:
            return {}
        marks = self._marks(wanted)
        params = ",".join("?" * len(wanted))
        pages = self._con.execute(f"SELECT doc_id, pages FROM documents WHERE doc_id IN ({params})", wanted).fetchall()
        return {doc_id: sorted([*page_marks(json.loads(starts)), *marks.get(doc_id, ())], key=lambda m: m[0])
                for doc_id, starts in pages}

    def chunks(self, ids: Sequence[int] | None = None) -> list[ChunkRow]:
        if ids is None:
            return [ChunkRow(*r) for r in self._con.execute("SELECT * FROM chunks ORDER BY id")]
        by_id: dict[int, ChunkRow] = {}
        for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            part = list(ids[i : i + 900])
            marks = ",".join("?" * len(part))
            for r in self._con.execute(f"SELECT * FROM chunks WHERE id IN ({marks})", part):
                by_id[r[0]] = ChunkRow(*r)
        return [by_id[i] for i in ids if i in by_id]

    def chunk_ids(self, doc_ids: Sequence[str]) -> list[int]:
        marks = ",".join("?" * len(doc_ids))
        return [r[0] for r in self._con.execute(f"SELECT id FROM chunks WHERE doc_id IN ({marks})", list(doc_ids))]

    def chunk_texts(self) -> tuple[list[int], list[str]]:
        rows = self._con.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def group_documents(self) -> dict[int, list[str]]:
        """Near-duplicate group -> the documents that carry it."""
        groups: dict[int, list[str]] = {}
        for group, doc in self._con.execute(
            "SELECT DISTINCT dup_group, doc_id FROM chunks WHERE dup_group IS NOT NULL ORDER BY doc_id"
        ):
            groups.setdefault(group, []).append(doc)
        return groups

    def counts(self) -> dict[str, int]:
        per_doc = dict(self._con.execute("SELECT doc_id, COUNT(*) FROM chunks GROUP BY doc_id"))
        return per_doc


class EmbeddingCache:
    """(model id, text sha256) -> float32 vector, in SQLite. Writes are transactions: a crash loses
    at most the batch being written, never the file."""

    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(path)
        self._con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, text_hash TEXT, vector BLOB, "
                          "PRIMARY KEY (model, text_hash))")

    def get(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for i in range(0, len(unique), 900):
            part = unique[i : i + 900]
            marks = ",".join("?" * len(part))
            for h, blob in self._con.execute(
                f"SELECT text_hash, vector FROM vectors WHERE model = ? AND text_hash IN ({marks})", [model, *part]
            ):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._con:
            self._con.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?,?,?)",
                [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()],
            )

    def count(self) -> int:
        """Vectors cached, for every model."""
        return self._con.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    def prune(self, model: str, keep: Iterable[str]) -> int:
        """Keep only ``model``'s vectors of the ``keep`` text hashes; shrink the file. How many went."""
        before = self.count()
        with self._con:
            self._con.execute("CREATE TEMP TABLE IF NOT EXISTS live (h TEXT PRIMARY KEY)")
            self._con.execute("DELETE FROM live")
            self._con.executemany("INSERT OR IGNORE INTO live VALUES (?)", [(h,) for h in keep])
            self._con.execute("DELETE FROM vectors WHERE model != ? OR text_hash NOT IN (SELECT h FROM live)",
                              (model,))
        self._con.execute("VACUUM")
        return before - self.count()

    def forget(self, model: str, hashes: Iterable[str]) -> int:
        """Delete these vectors, overwriting their bytes in the file (``secure_delete``); how many went."""
        self._con.execute("PRAGMA secure_delete = ON")
        gone = 0
        with self._con:
            for h in set(hashes):
                gone += self._con.execute("DELETE FROM vectors WHERE model = ? AND text_hash = ?",
                                          (model, h)).rowcount
        return gone

    def close(self) -> None:
        self._con.close()
