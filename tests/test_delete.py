"""Delete means delete: after a document is removed, none of its bytes is left in the index folder or
the uploads folder (text, vectors, the uploaded file), whichever front end removed it."""

from __future__ import annotations

from pathlib import Path

from rag import Index, Settings
from rag.testing import FakeEmbedder, tiny_workspace

SECRET = "The zebra-striped lighthouse keeper on Quillon Rock counts 4817 seagulls every dawn."
NOTE = f"Lighthouse log\n\n{SECRET} Nobody else knows this.\n"


def bytes_left(folder: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_removed_upload_leaves_no_text_vector_or_file_behind(tmp_path):
    workspace = tiny_workspace(tmp_path / "ws")
    note = tmp_path / "lighthouse.txt"
    note.write_text(NOTE, encoding="utf-8")
    assert workspace.upload([note]).report is not None
    hit = workspace.search("lighthouse keeper seagulls", k=1)[0]
    assert hit.doc_id == "lighthouse.txt"
    vector = FakeEmbedder().embed_batch([hit.text])[0].tobytes()
    base = tmp_path / "ws"
    assert bytes_left(base, SECRET[:40].encode()) and bytes_left(base, vector)  # it was all there

    workspace.search("ferry", k=1)  # a reader holds the live generation open
    workspace.remove("lighthouse.txt")

    assert bytes_left(base, SECRET[:40].encode()) == []
    assert bytes_left(base, b"4817 seagulls") == []
    assert bytes_left(base, vector) == []  # its vector left the embedding cache too
    assert not (workspace.uploads / "lighthouse.txt").exists()
    assert [d["doc_id"] for d in workspace.documents()] == ["harbour.txt", "pillar.txt"]
    assert workspace.search("When does the ferry leave?", k=1)[0].doc_id == "harbour.txt"  # the rest still works


def test_a_file_removed_from_an_indexed_folder_is_purged_by_rag_index_too(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keep.txt").write_text("Keep notes\n\nThe ferry to Somes Island leaves at 7:45 every morning.\n")
    (docs / "lighthouse.txt").write_text(NOTE)
    index = Index(tmp_path / "index", Settings(chunk_size=64, chunk_overlap=8), embedder=FakeEmbedder())
    index.sync([docs])
    index.sync([docs])  # a second generation exists beside the first
    (docs / "lighthouse.txt").unlink()
    report = index.sync([docs])
    assert report.removed == ["lighthouse.txt"]
    assert bytes_left(tmp_path / "index", b"4817 seagulls") == []
    assert len([p for p in (tmp_path / "index").glob("gen-*")]) == 1


def test_a_document_of_the_users_own_folder_keeps_its_file(tmp_path):
    workspace = tiny_workspace(tmp_path / "ws")
    own = tmp_path / "ws" / "documents" / "pillar.txt"
    assert own.exists()
    workspace.remove("pillar.txt")
    assert own.exists()  # ours to forget, not ours to delete
    assert bytes_left(tmp_path / "ws" / "index", b"hypersonic missiles") == []


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_disk_use_stays_bounded_over_100_incremental_updates(tmp_path):
    """Old generations are pruned as each new one is published, and the embedding cache prunes itself."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "steady.txt").write_text("Steady notes\n\nThe ferry to Somes Island leaves at 7:45 every morning.\n")
    index = Index(tmp_path / "index", Settings(chunk_size=64, chunk_overlap=8), embedder=FakeEmbedder())
    sizes = []
    # A diary edited a hundred times: every version has new text, several chunks of it, so the embedding cache
    # fills past its bound (twice the live chunks plus 100) and prunes itself well within the first 60 versions
    # (with 60 words a version was a chunk or two, and the bound was not reached in 100).
    for n in range(100):
        (docs / "diary.txt").write_text(f"Diary\n\nDay {n}: " + " ".join(f"entry{n}x{j}" for j in range(200)) + ".\n")
        index.sync([docs])
        sizes.append(folder_bytes(tmp_path / "index"))
    assert len(list((tmp_path / "index").glob("gen-*"))) == Settings().keep_generations
    assert max(sizes[60:]) <= 1.1 * max(sizes[:60]), sizes  # it stopped growing
    report = index.sync([docs], prune=True)
    assert report.pruned > 0 and folder_bytes(tmp_path / "index") <= max(sizes)


def test_an_upload_that_cannot_be_read_is_named_and_not_kept(tmp_path):
    workspace = tiny_workspace(tmp_path / "ws")
    bad, good = tmp_path / "scan.pdf", tmp_path / "lighthouse.txt"
    bad.write_bytes(b"%PDF-1.7 not really a PDF")
    good.write_text(NOTE, encoding="utf-8")
    result = workspace.upload([bad, good])
    assert result.report is not None and result.report.added == ["lighthouse.txt"]
    assert any("scan.pdf" in p for p in result.problems), result.problems
    assert sorted(p.name for p in workspace.uploads.iterdir()) == ["lighthouse.txt"]  # no copy of the bad one
