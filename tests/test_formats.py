"""Office, e-book, e-mail, spreadsheet and JSON files (issue 16, items 1 and 4).

Each file is a small real document written by its format's own library (python-docx, python-pptx, openpyxl,
ebooklib, odfpy) or the standard library (csv, email, json); its known sentences must be found by search, with
exact spans; a corrupt file of each format is one ``skipped`` line naming why. Fast (``FakeEmbedder``), except one
integration test with the real embedding model.
"""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from rag import Index, Retriever, Settings
from rag.documents import SUPPORTED_SUFFIXES, load_document
from rag.errors import DocumentError
from rag.reading import ReadLimits
from rag.testing import FakeEmbedder

# Two sentences per format that occur nowhere else; the first is in the body, the second in a table, a note,
# an attachment or a second part. Table rows are found as "Header: value; Header: value".
SENTENCES = {
    "docx": ("The lighthouse keeper logged seventeen storms during the winter of 1923.",
             "Vessel: Marama; Tonnage: 4200"),
    "pptx": ("Quarterly ferry ridership rose by nine percent across the southern routes.",
             "The speaker notes remind us that the Picton terminal closes in March."),
    "xlsx": ("Route: Wellington to Picton; Sailings: 14; Operator: Interislander",
             "Port: Lyttelton; Berths: 9"),
    "csv": ("Station: Kelburn; Opened: 1902; Gradient: one in five",
            "Station: Talavera; Opened: 1902; Gradient: gentle"),
    "epub": ("The cartographer traced the fjord's outline by candlelight every evening.",
             "In the second chapter the expedition reached the glacier at dawn."),
    "odt": ("Municipal archives record that the tramway opened to passengers in 1878.",
            "Line: Newtown; Length: 3.2 km"),
    "eml": ("Please confirm that the harbour board meeting moves to Thursday afternoon.",
            "The attached minutes note that dredging of the inner basin starts next spring."),
    "json": ("A volcanic plateau dominates the centre of the North Island.",
             "Taupo erupted violently around the year 232."),
    "ipynb": ("This notebook estimates the tidal range of the harbour from gauge readings.",
              "tidal_range = gauge_high - gauge_low"),
}
TITLES = {"docx": "Lighthouse records", "pptx": "Ferry ridership review", "xlsx": "Shipping schedule",
          "csv": "stations.csv", "epub": "Mapping the fjords", "odt": "Tramway history",
          "eml": "Harbour board meeting", "json": "Volcanic plateau notes", "ipynb": "Tidal range estimate"}
NAMES = {"csv": "stations.csv"}


def name_of(kind: str) -> str:
    return NAMES.get(kind, f"sample.{kind}")


# ---------------------------------------------------------------- each format written by its own library


def make_docx(first: str, second: str) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = TITLES["docx"]
    document.add_heading("Lighthouse records", 1)
    document.add_paragraph(first)
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(table.rows, [("Vessel", "Tonnage"), ("Marama", "4200"), ("Rata", "1900")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    return _saved(document.save)  # ``second`` is the table's first row, as read


def make_pptx(first: str, second: str) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    cover = deck.slides.add_slide(deck.slide_layouts[0])
    cover.shapes.title.text = TITLES["pptx"]  # pyright: ignore[reportOptionalMemberAccess]
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Ridership"  # pyright: ignore[reportOptionalMemberAccess]
    slide.placeholders[1].text_frame.text = first  # pyright: ignore[reportAttributeAccessIssue]
    rows = [("Route", "Riders"), ("Southern", "91000")]
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(6), Inches(1)).table
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    slide.notes_slide.notes_text_frame.text = second  # pyright: ignore[reportOptionalMemberAccess]
    return _saved(deck.save)


def make_xlsx(first: str, second: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.properties.title = TITLES["xlsx"]
    routes = book.active
    assert routes is not None
    routes.title = "Routes"
    for row in [("Route", "Sailings", "Operator"), ("Wellington to Picton", 14, "Interislander"),
                ("Auckland to Waiheke", 30, "Fullers")]:
        routes.append(row)
    ports = book.create_sheet("Ports")
    for row in [("Port", "Berths"), ("Lyttelton", 9)]:
        ports.append(row)
    return _saved(book.save)


def make_csv(first: str, second: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerows([("Station", "Opened", "Gradient"), ("Kelburn", 1902, "one in five"),
                      ("Talavera", 1902, "gentle")])
    return out.getvalue().encode()


def make_epub(first: str, second: str) -> bytes:
    import tempfile

    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("fjords-1")
    book.set_title(TITLES["epub"])
    book.set_language("en")
    chapters = []
    for number, sentence in enumerate((first, second), 1):
        chapter = epub.EpubHtml(title=f"Chapter {number}", file_name=f"ch{number}.xhtml", lang="en")
        chapter.content = f"<h1>Chapter {number}</h1><p>{sentence}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.epub"
        epub.write_epub(str(path), book)
        return path.read_bytes()


def make_odt(first: str, second: str) -> bytes:
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text=TITLES["odt"]))
    document.text.addElement(H(outlinelevel=1, text="Tramway history"))
    document.text.addElement(P(text=first))
    table = Table(name="Lines")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for values in [("Line", "Length"), ("Newtown", "3.2 km")]:
        row = TableRow()
        for value in values:
            cell = TableCell()
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    return _saved(document.write)


def make_eml(first: str, second: str) -> bytes:
    message = EmailMessage()
    message["Subject"] = TITLES["eml"]
    message["From"] = "Secretary <secretary@example.org>"
    message["To"] = "Board <board@example.org>"
    message["Date"] = "Tue, 03 Mar 2026 09:30:00 +1300"
    message.set_content(f"Dear members,\n\n{first}\n\nRegards,\nThe secretary\n")
    message.add_attachment(f"Minutes\n\n{second}\n", subtype="plain", filename="minutes.txt")
    message.add_attachment(b"\x89PNG\r\n\x1a\n" + bytes(64), maintype="image", subtype="png", filename="map.png")
    return message.as_bytes()


def make_json(first: str, second: str) -> bytes:
    return json.dumps({"title": TITLES["json"], "summary": first,
                       "events": [{"year": 232, "note": second}], "tags": ["geology", "volcano"]}).encode()


def make_ipynb(first: str, second: str) -> bytes:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": [f"# {TITLES['ipynb']}\n", "\n", first]},
             {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": f"# readings\n{second}\n",
              "outputs": [{"output_type": "stream", "name": "stdout", "text": ["output stays out\n"]}]}]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}).encode()


def _saved(save: Callable[[io.BytesIO], object]) -> bytes:
    buf = io.BytesIO()
    save(buf)
    return buf.getvalue()


MAKERS: dict[str, Callable[[str, str], bytes]] = {
    "docx": make_docx, "pptx": make_pptx, "xlsx": make_xlsx, "csv": make_csv, "epub": make_epub,
    "odt": make_odt, "eml": make_eml, "json": make_json, "ipynb": make_ipynb}
KINDS = sorted(MAKERS)


def write(folder: Path, kind: str) -> Path:
    path = folder / name_of(kind)
    path.write_bytes(MAKERS[kind](*SENTENCES[kind]))
    return path


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formats")
    for kind in KINDS:
        write(folder, kind)
    return folder


def test_every_new_format_is_supported():
    assert {f".{kind}" for kind in KINDS} <= set(SUPPORTED_SUFFIXES)


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("kind", KINDS)
def test_known_sentences_and_title(samples: Path, kind: str):
    doc = load_document(samples / name_of(kind))
    assert [s for s in SENTENCES[kind] if s not in doc.text] == []
    assert doc.title == TITLES[kind]


def test_what_is_left_out(samples: Path):
    assert "output stays out" not in load_document(samples / "sample.ipynb").text  # outputs
    eml = load_document(samples / "sample.eml").text
    assert "PNG" not in eml and "Attachment: minutes.txt" in eml  # binary attachments
    assert "From: Secretary <secretary@example.org>" in eml
    pptx = load_document(samples / "sample.pptx").text
    assert "Route: Southern; Riders: 91000" in pptx and pptx.count("Ridership") >= 1
    assert "Sheet: Routes" in load_document(samples / "sample.xlsx").text


# ---------------------------------------------------------------- search


@pytest.fixture(scope="module")
def index(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Index:
    index = Index(tmp_path_factory.mktemp("index"), Settings(chunk_size=64, chunk_overlap=8),
                  embedder=FakeEmbedder())
    report = index.sync([samples])
    assert report.problems == [] and sorted(report.added) == sorted(map(name_of, KINDS))
    return index


@pytest.mark.parametrize("kind", KINDS)
def test_search_finds_each_sentence_with_its_exact_span(index: Index, kind: str):
    retriever = Retriever(index)
    for sentence in SENTENCES[kind]:
        hits = retriever.search(sentence, k=3)
        top = hits[0]
        assert top.doc_id == name_of(kind) and sentence in top.text, (sentence, hits)
        row = index.document(top.doc_id)
        assert row is not None and row.text[top.start:top.end] == top.text


def test_reindexing_unchanged_files_does_nothing(index: Index, samples: Path):
    report = index.sync([samples])
    assert not report.changed and report.embedded == 0 and len(report.unchanged) == len(KINDS)


def test_a_changed_file_is_reindexed(samples: Path, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    path = write(folder, "docx")
    index = Index(tmp_path / "index", Settings(chunk_size=64, chunk_overlap=8), embedder=FakeEmbedder())
    index.sync([folder])
    path.write_bytes(make_docx("The keeper's daughter rowed the mail across the strait.", SENTENCES["docx"][1]))
    report = index.sync([folder])
    assert report.updated == ["sample.docx"]
    hit = Retriever(index).search("the keeper's daughter rowed the mail", k=1, mode="bm25")[0]
    assert "rowed the mail" in hit.text


def test_the_same_text_in_two_formats_is_one_passage(tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    body = " ".join(SENTENCES[k][0] for k in ("docx", "pptx", "epub", "odt"))
    (folder / "a.docx").write_bytes(make_docx(body, ""))
    (folder / "b.txt").write_text(f"Lighthouse records\n{body}\n", encoding="utf-8")
    index = Index(tmp_path / "index", Settings(chunk_size=64, chunk_overlap=8), embedder=FakeEmbedder())
    index.sync([folder])
    hits = Retriever(index).search(SENTENCES["epub"][0], k=5)
    holding = [h for h in hits if SENTENCES["epub"][0] in h.text]
    assert len(holding) == 1 and len(holding[0].also_in) == 1, hits


# ---------------------------------------------------------------- corrupt files: one line, the rest indexed


def _truncated(kind: str) -> bytes:
    data = MAKERS[kind](*SENTENCES[kind])
    return data[: len(data) // 2]


def _zip_without(kind: str, member: str) -> bytes:
    """A real file of ``kind`` with ``member`` removed: a valid ZIP that is not a valid document."""
    source = zipfile.ZipFile(io.BytesIO(MAKERS[kind](*SENTENCES[kind])))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in source.infolist():
            if info.filename != member:
                out.writestr(info, source.read(info))
    return buf.getvalue()


CORRUPT = {
    "docx": (_zip_without("docx", "word/document.xml"), "unreadable DOCX"),
    "pptx": (_truncated("pptx"), "not a valid ZIP container"),
    "xlsx": (b"PK\x03\x04" + bytes(range(256)) * 4, "not a valid ZIP container"),
    "epub": (_zip_without("epub", "META-INF/container.xml"), "unreadable EPUB"),
    "odt": (_zip_without("odt", "content.xml"), "not an OpenDocument file"),
    "csv": (b"\x00\x01\x02\x03" * 100, "binary file, not text"),
    "eml": (bytes(range(1, 256)) * 4, "not an e-mail message"),
    "json": (b'{"title": "unfinished", "items": [1, 2', "invalid JSON"),
    "ipynb": (b'{"nbformat": 4, "metadata": {}}', "not a Jupyter notebook"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_corrupt_file_is_one_line_naming_why(tmp_path: Path, kind: str):
    data, reason = CORRUPT[kind]
    path = tmp_path / name_of(kind)
    path.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        load_document(path)
    assert "\n" not in str(caught.value) and caught.value.path == str(path)
    assert caught.value.reason.startswith(reason), caught.value.reason


def test_a_folder_of_corrupt_files_is_one_skipped_line_each(tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    write(folder, "docx").rename(folder / "good.docx")
    for kind in KINDS:
        (folder / name_of(kind)).write_bytes(CORRUPT[kind][0])
    index = Index(tmp_path / "index", Settings(chunk_size=64, chunk_overlap=8), embedder=FakeEmbedder())
    report = index.sync([folder])
    assert report.added == ["good.docx"]
    assert len(report.problems) == len(KINDS) and all("\n" not in line for line in report.problems)


# ---------------------------------------------------------------- zip bombs


def inflating_member(size_mb: int) -> bytes:
    """A raw deflate stream (as ZIP stores it) of ``size_mb`` MB of spaces, about 1,000 times smaller.

    One megabyte is compressed once and ends in a full flush, so its output stands alone and repeats.
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = packer.compress(b" " * 1_000_000) + packer.flush(zlib.Z_FULL_FLUSH)
    return piece * size_mb + b"\x03\x00"  # an empty final block


def zip_of(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A ZIP archive of ``(name, stored bytes, method, inflated size, crc)`` members, written field by field."""
    body, directory = bytearray(), bytearray()
    for name, stored, method, inflated, crc in members:
        raw = name.encode()
        sizes = (crc, len(stored), inflated, len(raw), 0)
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, *sizes, 0, 0, 0, 0,
                                 len(body))
        directory += raw
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, *sizes) + raw + stored
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return bytes(body + directory + end)


def bomb(kind: str, member: str, size_mb: int) -> bytes:
    """A real file of ``kind`` whose ``member`` is replaced by ``size_mb`` MB of spaces, deflated."""
    source = zipfile.ZipFile(io.BytesIO(MAKERS[kind](*SENTENCES[kind])))
    members = [(i.filename, source.read(i), 0, i.file_size, i.CRC) for i in source.infolist() if i.filename != member]
    members.append((member, inflating_member(size_mb), 8, size_mb * 1_000_000, 0))  # its CRC is never reached
    return zip_of(members)


@pytest.mark.parametrize(("kind", "member"), [("docx", "word/document.xml"), ("xlsx", "xl/worksheets/sheet1.xml"),
                                              ("odt", "content.xml")])
def test_a_zip_bomb_is_refused_within_the_limits(tmp_path: Path, kind: str, member: str):
    data = bomb(kind, member, 2000)  # 2 GB of spaces in a file of about 2 MB
    assert len(data) < 5_000_000
    path = tmp_path / name_of(kind)
    path.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        load_document(path, limits=ReadLimits(timeout_s=10, memory_mb=512))
    assert re.fullmatch(r"its parts would inflate to 2,00\d MB \(more than 512 MB\): a decompression bomb\?",
                        caught.value.reason), caught.value.reason


def test_a_zip_bomb_under_the_bound_meets_the_memory_cap(tmp_path: Path):
    path = tmp_path / "sample.docx"
    path.write_bytes(bomb("docx", "word/document.xml", 400))  # inflates to 400 MB: past the check, into the parser
    limits = ReadLimits(timeout_s=20, memory_mb=300)
    started = time.perf_counter()
    with pytest.raises(DocumentError) as caught:
        load_document(path, limits=limits)
    assert time.perf_counter() - started < limits.timeout_s + 5
    assert "\n" not in str(caught.value), caught.value
    assert "RAG_READ_MEMORY_MB" in caught.value.reason, caught.value.reason


# ---------------------------------------------------------------- the real embedding model


@pytest.mark.integration
def test_every_format_is_found_with_the_real_model(samples: Path, tmp_path: Path):
    index = Index(tmp_path / "index")
    report = index.sync([samples])
    assert report.problems == []
    retriever = Retriever(index)
    for kind in KINDS:
        sentence = SENTENCES[kind][0]
        for mode in ("dense", "hybrid"):
            top = retriever.search(sentence, k=3, mode=mode)[0]
            assert top.doc_id == name_of(kind) and sentence in top.text, (kind, mode, top)


# ---------------------------------------------------------------- uploads: the web chat's and the API's


def test_every_format_can_be_uploaded_through_the_api(samples: Path, tmp_path: Path):
    from fastapi.testclient import TestClient

    from rag.http_api import create_api
    from rag.testing import tiny_workspace

    workspace = tiny_workspace(tmp_path / "ws", uploads=tmp_path / "uploads")
    client = TestClient(create_api(workspace), base_url="http://127.0.0.1")
    files = [("files", (name_of(kind), (samples / name_of(kind)).read_bytes(), "application/octet-stream"))
             for kind in KINDS]
    response = client.post("/v1/documents", files=files)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["added"]) == sorted(map(name_of, KINDS)) and response.json()["problems"] == []
    for kind in KINDS:
        hits = client.post("/v1/search", json={"query": SENTENCES[kind][0], "k": 1}).json()["hits"]
        assert hits[0]["doc_id"] == name_of(kind), (kind, hits)
