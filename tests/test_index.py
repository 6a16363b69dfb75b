from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import Index, IndexBusyError, IndexIncompatibleError, IndexNotFoundError, Retriever, Settings
from rag.index import FORMAT_VERSION
from rag.testing import FakeEmbedder

from .conftest import CORPUS


def chunk_ids_by_doc(index: Index) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for c in index.snapshot().db.chunks():
        out.setdefault(c.doc_id, []).append(c.id)
    return out


def test_build_then_unchanged_reindex_embeds_nothing(fake_index, corpus_copy, fake_embedder):
    first = fake_index.sync([corpus_copy])
    assert sorted(first.added) == sorted(p.name for p in CORPUS.glob("*.txt"))
    assert first.embedded > 0 and fake_embedder.calls == first.embedded
    generation = fake_index.snapshot().directory.name
    second = fake_index.sync([corpus_copy])
    assert second.embedded == 0 and not second.changed and fake_embedder.calls == first.embedded
    assert len(second.unchanged) == 5
    assert fake_index.snapshot().directory.name == generation  # nothing rewritten


def test_added_changed_deleted_files_are_reflected_incrementally(fake_index, corpus_copy, fake_embedder):
    fake_index.sync([corpus_copy])
    before = chunk_ids_by_doc(fake_index)
    calls = fake_embedder.calls

    (corpus_copy / "005_new.md").write_text("# Canberra talks\n\nThe delegates met in Canberra on a rainy "
                                             "Tuesday to discuss quantum sensing cooperation and budgets.\n")
    changed = corpus_copy / "003_23837f97759bb32c.txt"
    changed.write_text(changed.read_text() + "\n\nA closing sentence was added about hypersonic tests.\n")
    (corpus_copy / "004_07f60d43413d9997.txt").unlink()
    report = fake_index.sync([corpus_copy])

    assert report.added == ["005_new.md"]
    assert report.updated == ["003_23837f97759bb32c.txt"]
    assert report.removed == ["004_07f60d43413d9997.txt"]
    after = chunk_ids_by_doc(fake_index)
    assert "004_07f60d43413d9997.txt" not in after
    for doc in ("000_5e6a84f29a338f7b.txt", "001_6dd7a3f3fd3484a4.txt"):
        assert after[doc] == before[doc]  # untouched documents keep their chunk ids
    # Only the new document and the changed tail were embedded, not the corpus.
    assert 0 < fake_embedder.calls - calls <= len(after["005_new.md"]) + 2
    store = fake_index.snapshot().store
    assert len(store) == sum(len(v) for v in after.values())
    assert {i for i, _ in store.search(FakeEmbedder().embed_batch(["quantum sensing Canberra"])[0], 1)} <= set(
        after["005_new.md"])
    hits = Retriever(fake_index).search("hypersonic tests closing sentence", k=3, mode="bm25")
    assert hits[0].doc_id == "003_23837f97759bb32c.txt"


def test_add_and_remove_keep_other_documents(fake_index, corpus_copy, tmp_path):
    fake_index.sync([corpus_copy / "000_5e6a84f29a338f7b.txt"])
    extra = tmp_path / "notes.txt"
    extra.write_text("Notes about the Pillar 2 consultations with several partners in the region.")
    report = fake_index.add([extra])
    assert report.added == ["notes.txt"]
    assert {d["doc_id"] for d in fake_index.documents()} == {"000_5e6a84f29a338f7b.txt", "notes.txt"}
    report = fake_index.remove(["notes.txt", "missing.txt"])
    assert report.removed == ["notes.txt"] and report.problems == ["missing.txt: not in the index"]
    assert [d["doc_id"] for d in fake_index.documents()] == ["000_5e6a84f29a338f7b.txt"]


def test_interrupted_write_leaves_previous_index_usable(fake_index, corpus_copy, monkeypatch):
    fake_index.sync([corpus_copy])
    generation = fake_index.snapshot().directory.name
    (corpus_copy / "extra.txt").write_text("An extra document that will never make it into the index.")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rag.generations.write_database", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fake_index.sync([corpus_copy])
    monkeypatch.undo()

    fresh = Index(fake_index.path, embedder=FakeEmbedder())
    assert fresh.snapshot().directory.name == generation
    assert "extra.txt" not in {d["doc_id"] for d in fresh.documents()}
    assert Retriever(fresh).search("Japan", k=1)
    assert fresh.sync([corpus_copy]).added == ["extra.txt"]  # the next run finishes the job
    assert not list(fresh.path.glob(".tmp-*"))


def test_writer_lock_refuses_a_second_writer(fake_index, corpus_copy):
    import fcntl

    fake_index.sync([corpus_copy])
    with open(fake_index.path / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(IndexBusyError, match="being written by another process"):
            fake_index.sync([corpus_copy / "000_5e6a84f29a338f7b.txt"])


def test_incompatible_index_is_refused_with_the_command_to_run(fake_index, corpus_copy, tmp_path):
    fake_index.sync([corpus_copy])
    other = Index(fake_index.path, Settings(model=str(tmp_path)))  # another model configured
    with pytest.raises(IndexIncompatibleError) as err:
        other.snapshot()
    assert "fake/hashed-words" in str(err.value) and "rag index --rebuild" in str(err.value)
    assert "\n" not in str(err.value)

    manifest_path = fake_index.snapshot().directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError, match=f"format {FORMAT_VERSION + 1}.*rag index --rebuild"):
        Index(fake_index.path, embedder=FakeEmbedder()).snapshot()


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFoundError, match="rag index"):
        Index(tmp_path / "nothing").snapshot()


def test_approximate_index_above_threshold(tmp_path, corpus_copy):
    index = Index(tmp_path / "ivf", Settings(chunk_size=60, chunk_overlap=0, ann_threshold=50),
                  embedder=FakeEmbedder())
    index.sync([corpus_copy])
    assert index.status()["index_type"] == "ivf"
    hits = Retriever(index).search("security clearance bill", k=3, mode="dense")
    assert len(hits) == 3


def test_a_write_opens_the_embedding_cache_once(tmp_path, corpus_copy, monkeypatch):
    """Also when the vector store is rebuilt from cached vectors (here it turns from flat to IVF)."""
    import rag.ingest

    opened = []

    class CountingCache(rag.ingest.EmbeddingCache):
        def __init__(self, path):
            opened.append(path)
            super().__init__(path)

    Index(tmp_path / "ivf", Settings(chunk_size=60, chunk_overlap=0), embedder=FakeEmbedder()).sync(
        [corpus_copy / "000_5e6a84f29a338f7b.txt"])
    monkeypatch.setattr(rag.ingest, "EmbeddingCache", CountingCache)
    index = Index(tmp_path / "ivf", Settings(chunk_size=60, chunk_overlap=0, ann_threshold=50),
                  embedder=FakeEmbedder())
    report = index.sync([corpus_copy])
    assert report.added and index.status()["index_type"] == "ivf"
    assert len(opened) == 1


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_killed_rag_index_leaves_previous_index_usable_and_keeps_its_embeddings(tmp_path, sig):
    """Run the real CLI on a larger corpus, interrupt it once it has cached some embeddings, then use the old
    index; the next run embeds only what the killed one had not finished."""
    idx = tmp_path / "index"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    rag = [sys.executable, "-m", "rag.cli"]
    subprocess.run([*rag, "index", str(CORPUS), "--index", str(idx), "-q"], check=True, env=env,
                   capture_output=True)
    before = json.loads(subprocess.run([*rag, "status", "--index", str(idx), "--json"], check=True,
                                       capture_output=True, text=True).stdout)
    big = tmp_path / "big"
    big.mkdir()
    sentences = " ".join(p.read_text() for p in CORPUS.glob("*.txt")).split(". ")
    for i in range(120):  # distinct texts, so every chunk must be embedded
        (big / f"doc{i:03d}.txt").write_text(". ".join(sentences[(i + j) % len(sentences)] + f" {i}-{j}"
                                                       for j in range(40)))
    proc = subprocess.Popen([*rag, "index", str(big), "--index", str(idx)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            # a shell's background job ignores SIGINT, and its children inherit that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    line, deadline = "", time.time() + 120
    while "Embedding" not in line and time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
    assert "Embedding" in line, "the run finished or failed before it began embedding"
    while cached_vectors(idx) <= before["chunks"] and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)  # until its first batches are in the cache
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert "interrupted; the index is unchanged" in proc.stderr.read()
    after = json.loads(subprocess.run([*rag, "status", "--index", str(idx), "--json"], check=True,
                                      capture_output=True, text=True).stdout)
    assert after["generation"] == before["generation"] and after["documents"] == 5
    hits = json.loads(subprocess.run([*rag, "search", "Japan security clearance bill", "--index", str(idx),
                                      "--json"], check=True, capture_output=True, text=True).stdout)["hits"]
    assert hits and hits[0]["doc_id"] == "001_6dd7a3f3fd3484a4.txt"
    kept = cached_vectors(idx) - before["chunks"]
    again = json.loads(subprocess.run([*rag, "index", str(big), "--index", str(idx), "--json", "-q"], check=True,
                                      capture_output=True, text=True, env=env).stdout)
    assert kept > 0 and again["reused"] >= kept  # what the killed run finished was not embedded again
    assert again["embedded"] < again["chunks"]


def cached_vectors(index: Path) -> int:
    """Rows in the index's embedding cache (0 while it does not exist or is being written)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(index / "embeddings.sqlite", timeout=5)) as con:
            return con.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    except sqlite3.Error:
        return 0
