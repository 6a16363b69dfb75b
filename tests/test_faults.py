"""A damaged index never serves wrong data: the newest good generation serves, with a warning, and the next
write heals it; with none left, one line says how to rebuild."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import Index, IndexDamagedError, Retriever, Settings
from rag.testing import FakeEmbedder

SETTINGS = Settings(chunk_size=64, chunk_overlap=8)


def two_generations(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An index whose live generation adds the ferry document to the previous one's pillar document."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pillar.txt").write_text("Pillar notes\n\nJapan may join Pillar 2 of AUKUS on hypersonic work.\n")
    index = Index(tmp_path / "index", SETTINGS, embedder=FakeEmbedder())
    index.sync([docs])
    (docs / "harbour.txt").write_text("Harbour notes\n\nThe ferry to Somes Island leaves at 7:45 every morning.\n")
    index.sync([docs])
    live = tmp_path / "index" / (tmp_path / "index" / "CURRENT").read_text().strip()
    previous = sorted(p for p in (tmp_path / "index").glob("gen-*") if p != live)[-1]
    return docs, live, previous


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path, Path], None]] = {
    "truncated vectors.faiss": lambda index, live: truncate(live / "vectors.faiss"),
    "corrupted chunks.sqlite": lambda index, live: flip(live / "chunks.sqlite"),
    "missing generation folder": lambda index, live: shutil.rmtree(live),
    "dangling CURRENT": lambda index, live: (index / "CURRENT").write_text("gen-999999\n"),
    "missing CURRENT": lambda index, live: (index / "CURRENT").unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_live_generation_falls_back_to_the_last_good_one(tmp_path, damage, caplog):
    docs, live, previous = two_generations(tmp_path)
    if "CURRENT" in damage:  # then the newest good folder serves, the live one: damage it too, so the previous must
        truncate(live / "vectors.faiss")
    DAMAGE[damage](tmp_path / "index", live)
    fresh = Index(tmp_path / "index", SETTINGS, embedder=FakeEmbedder())  # another process, say
    with caplog.at_level(logging.WARNING, logger="rag.generations"):
        snapshot = fresh.snapshot()
    assert snapshot.directory == previous
    assert [d["doc_id"] for d in fresh.documents()] == ["pillar.txt"]  # what the good generation holds
    assert Retriever(fresh).search("Japan Pillar 2", k=1)[0].doc_id == "pillar.txt"
    assert "damaged" in caplog.text and "newest good one" in caplog.text
    report = fresh.sync([docs])  # the next write heals it
    assert report.documents == 2
    healed = Index(tmp_path / "index", SETTINGS, embedder=FakeEmbedder())
    assert sorted(d["doc_id"] for d in healed.documents()) == ["harbour.txt", "pillar.txt"]


def test_with_no_good_generation_left_one_line_says_how_to_rebuild(tmp_path):
    _, live, previous = two_generations(tmp_path)
    truncate(live / "vectors.faiss")
    flip(previous / "chunks.sqlite")
    with pytest.raises(IndexDamagedError) as caught:
        Index(tmp_path / "index", SETTINGS, embedder=FakeEmbedder()).snapshot()
    message = str(caught.value)
    assert "\n" not in message and "rag index --rebuild" in message and "checksum" in message

    from rag.cli import main

    shown = CliRunner().invoke(main, ["status", "--index", str(tmp_path / "index")])
    assert shown.exit_code == 2 and shown.output.startswith("error: ") and "Traceback" not in shown.output


@pytest.mark.parametrize("where", ["generation", "embedding cache"])
def test_a_full_disk_during_a_write_leaves_the_last_good_index_serving(tmp_path, monkeypatch, where):
    import errno
    import sqlite3

    import rag.generations
    import rag.store
    from rag import IndexWriteError

    docs, live, _ = two_generations(tmp_path)
    (docs / "extra.txt").write_text("Extra notes\n\nA brand new sentence about lighthouse keepers.\n")

    def full(*args, **kwargs):
        if where == "generation":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(rag.generations if where == "generation" else rag.store.EmbeddingCache,
                        "write_database" if where == "generation" else "put", full)
    index = Index(tmp_path / "index", SETTINGS, embedder=FakeEmbedder())
    with pytest.raises(IndexWriteError) as caught:
        index.sync([docs])
    assert "the previous index is unchanged" in str(caught.value) and "\n" not in str(caught.value)
    assert not list((tmp_path / "index").glob(".tmp-*"))
    again = Index(tmp_path / "index", SETTINGS, embedder=FakeEmbedder())
    assert again.snapshot().directory == live
    assert sorted(d["doc_id"] for d in again.documents()) == ["harbour.txt", "pillar.txt"]
