"""Where in the document (issue 16, item 2): the page, slide, sheet and rows, or section of every passage.

Each format with a kind of location gets a small real document written by its own library (reportlab,
python-pptx, openpyxl, python-docx, ebooklib, odfpy; csv, HTML and Markdown as text), with one known sentence
in the middle of a long slide, page, section or table, so its passage lies within that place. Search must find
the sentence with that location; the exact sentence's span must be located exactly. Then every output carries
it: ``rag search --json``, ``rag ask --json``, the HTTP API, the web chat's sources and document view.
Fast with ``FakeEmbedder``; one integration test with the real embedding model.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from rag import Index, Retriever, Settings
from rag.documents import load_document
from rag.locations import describe, page_marks, place
from rag.store import SCHEMA, ChunkDB
from rag.testing import FakeEmbedder

SENTENCE = {
    "pdf": "The harbourmaster recorded a freak tide of four metres on the second page.",
    "pptx": "The third slide warns that the Cook Strait cable needs inspection every spring.",
    "xlsx": "Vessel: Aotearoa; Note: boiler replaced in the spring of 1931",
    "csv": "Station: Ngaio; Note: platform rebuilt after the 1942 earthquake",
    "docx": "Maintenance crews repainted the Pencarrow tower with lead-free white paint.",
    "epub": "The surveyors finally crossed the Haast Pass on the ninth morning of the journey.",
    "odt": "The tram depot at Kilbirnie housed forty cars before the fire of 1935.",
    "html": "Ferry fares for children under five remain free on every crossing this year.",
    "md": "Tide gauges at Queens Wharf are calibrated against the benchmark twice a year.",
}
WHERE = {"pdf": "p. 2", "pptx": "slide 3", "xlsx": "Fleet, row 41", "csv": "row 31", "docx": "§ Maintenance",
         "epub": "§ Chapter Two: The Pass", "odt": "§ The Kilbirnie depot", "html": "§ Fares and concessions",
         "md": "§ Calibration"}


def filler(topic: str, n: int = 14) -> list[str]:
    """``n`` plain sentences about ``topic``, so that a known sentence sits in a long page, slide or section."""
    return [f"Note {i} about {topic} records routine matters of the day in ordinary words." for i in range(n)]


def around(topic: str, sentence: str | None) -> list[str]:
    return filler(topic) + ([sentence] if sentence else []) + filler(topic + " again")


def _saved(save: Callable[[io.BytesIO], object]) -> bytes:
    buf = io.BytesIO()
    save(buf)
    return buf.getvalue()


def make_pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4)
    for page in (1, 2, 3):
        y = 800
        for line in around(f"page {page}", SENTENCE["pdf"] if page == 2 else None):
            pdf.drawString(40, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def make_pptx() -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for number in (1, 2, 3, 4):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Cable works, part {number}"  # pyright: ignore[reportOptionalMemberAccess]
        lines = around(f"slide {number}", SENTENCE["pptx"] if number == 3 else None)
        slide.placeholders[1].text_frame.text = "\n".join(lines)  # pyright: ignore[reportAttributeAccessIssue]
    return _saved(deck.save)


def make_xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    other = book.active
    assert other is not None
    other.title = "Crew"
    other.append(("Name", "Role"))
    for i in range(30):
        other.append((f"Sailor {i}", "deckhand"))
    fleet = book.create_sheet("Fleet")
    fleet.append(("Vessel", "Note"))
    fleet.append(())  # row 2 is empty: rows keep the spreadsheet's own numbers
    for row in range(3, 81):
        fleet.append(("Aotearoa", "boiler replaced in the spring of 1931") if row == 41
                     else (f"Launch {row}", f"routine survey number {row} passed without remark"))
    return _saved(book.save)


def make_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("Station", "Note"))
    for row in range(2, 61):
        writer.writerow(("Ngaio", "platform rebuilt after the 1942 earthquake") if row == 31
                        else (f"Halt {row}", f"timetable number {row} unchanged this season"))
    return out.getvalue().encode()


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Lighthouse works", 0)
    document.add_heading("History", 1)
    for line in filler("history"):
        document.add_paragraph(line)
    document.add_heading("Maintenance", 1)
    for line in around("maintenance", SENTENCE["docx"]):
        document.add_paragraph(line)
    document.add_heading("Staff", 2)
    for line in filler("staff"):
        document.add_paragraph(line)
    return _saved(document.save)


def make_epub() -> bytes:
    import tempfile

    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("pass-1")
    book.set_title("Crossing the Alps")
    book.set_language("en")
    chapters = []
    for number, name in ((1, "Chapter One: The Valley"), (2, "Chapter Two: The Pass"), (3, "Chapter Three: West")):
        body = "".join(f"<p>{line}</p>" for line in around(name, SENTENCE["epub"] if number == 2 else None))
        chapter = epub.EpubHtml(title=name, file_name=f"ch{number}.xhtml", lang="en")
        chapter.content = f"<h1>{name}</h1>{body}"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters  # the table of contents names every chapter before the chapters come
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    with tempfile.NamedTemporaryFile(suffix=".epub") as tmp:
        epub.write_epub(tmp.name, book)
        return Path(tmp.name).read_bytes()


def make_odt() -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    for heading, sentence in (("The Newtown line", None), ("The Kilbirnie depot", SENTENCE["odt"]),
                              ("Closure", None)):
        document.text.addElement(H(outlinelevel=1, text=heading))  # pyright: ignore[reportAttributeAccessIssue]
        for line in around(heading, sentence):
            document.text.addElement(P(text=line))  # pyright: ignore[reportAttributeAccessIssue]
    return _saved(document.save)


def make_html() -> bytes:
    sections = "".join(
        f"<h2>{name}</h2>" + "".join(f"<p>{line}</p>" for line in around(name, sentence))
        for name, sentence in (("Timetable", None), ("Fares and concessions", SENTENCE["html"]), ("Contact", None)))
    return (f"<html><head><title>Ferry guide</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>Ferry guide</h1>{sections}</article></body></html>").encode()


def make_md() -> bytes:
    parts = ["# Tide gauges", ""]
    for name, sentence in (("Installation", None), ("Calibration", SENTENCE["md"]), ("Records", None)):
        parts += [f"## {name}", "", *around(name, sentence), ""]
    return "\n".join(parts).encode()


MAKERS: dict[str, Callable[[], bytes]] = {
    "pdf": make_pdf, "pptx": make_pptx, "xlsx": make_xlsx, "csv": make_csv, "docx": make_docx, "epub": make_epub,
    "odt": make_odt, "html": make_html, "md": make_md}
KINDS = sorted(MAKERS)


def name_of(kind: str) -> str:
    return f"where.{kind}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("where")
    for kind in KINDS:
        (folder / name_of(kind)).write_bytes(MAKERS[kind]())
    return folder


@pytest.fixture(scope="module")
def index(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Index:
    index = Index(tmp_path_factory.mktemp("index"), Settings(chunk_size=64, chunk_overlap=8), embedder=FakeEmbedder())
    report = index.sync([folder])
    assert report.problems == [] and len(report.added) == len(KINDS)
    return index


def covers(location: str | None, expected: str) -> bool:
    """Whether a passage's location is the expected one, or for rows, a range that holds the expected row."""
    if location == expected:
        return True
    found = re.fullmatch(r"(?:(.+), )?rows (\d+)–(\d+)", location or "")
    wanted = re.fullmatch(r"(?:(.+), )?row (\d+)", expected)
    return bool(found and wanted and found.group(1) == wanted.group(1)
                and int(found.group(2)) <= int(wanted.group(2)) <= int(found.group(3)))


# ---------------------------------------------------------------- reading and search


@pytest.mark.parametrize("kind", KINDS)
def test_the_exact_sentence_is_located(folder: Path, kind: str):
    doc = load_document(folder / name_of(kind))
    start = doc.text.index(SENTENCE[kind])
    marks = sorted([*page_marks(doc.pages), *doc.marks])
    assert describe(marks, start, start + len(SENTENCE[kind])) == WHERE[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_search_finds_the_sentence_with_its_location(index: Index, kind: str):
    hits = Retriever(index).search(SENTENCE[kind], k=3, mode="bm25")
    top = hits[0]
    assert top.doc_id == name_of(kind) and SENTENCE[kind] in top.text, hits
    assert covers(top.location, WHERE[kind]), (top.location, WHERE[kind])
    row = index.document(top.doc_id)
    assert row is not None and row.text[top.start:top.end] == top.text  # spans stay exact
    start = row.text.index(SENTENCE[kind])
    assert index.locate(top.doc_id, start, start + len(SENTENCE[kind])) == WHERE[kind]


def test_a_passage_across_pages_names_the_range(index: Index):
    text = index.document("where.pdf").text  # pyright: ignore[reportOptionalMemberAccess]
    assert index.locate("where.pdf", text.index("Note 3 about page 1"), text.index("Note 3 about page 3")) == "pp. 1–3"
    assert index.locate("where.pptx", 0, 10) == "slide 1"
    assert index.locate("where.txt", 0, 10) is None  # not indexed: no location, no error


def test_a_table_of_contents_does_not_take_the_chapters_headings(folder: Path):
    doc = load_document(folder / "where.epub")
    sections = [(offset, value) for offset, kind, value in doc.marks if kind == "section"]
    chapter_two = [offset for offset, value in sections if value == "Chapter Two: The Pass"]
    assert len(chapter_two) == 1 and chapter_two[0] > doc.text.index("Chapter Three: West")  # after the contents


def test_unchanged_files_keep_their_locations(index: Index, folder: Path):
    report = index.sync([folder])
    assert not report.changed
    hit = Retriever(index).search(SENTENCE["pptx"], k=1, mode="bm25")[0]
    assert hit.location == "slide 3"


# ---------------------------------------------------------------- the rules, on marks


def test_ranges_sheets_and_sections():
    slides = [(0, "slide", 1), (50, "slide", 2), (100, "slide", 3)]
    assert describe(slides, 0, 50) == "slide 1"  # a mark at the end is not covered
    assert describe(slides, 49, 51) == "slides 1–2"
    sheet = [(0, "sheet", "A"), (9, "row", 2), (20, "row", 3), (30, "sheet", "B"), (39, "row", 2)]
    assert describe(sheet, 21, 45) == "A, row 3; B, row 2"
    assert describe(sheet, 2, 5) == "A"  # the "Sheet: A" line alone
    assert describe([(10, "section", "Intro"), (40, "section", "Costs")], 0, 20) == "§ Intro"  # before any heading
    assert describe([(10, "section", "Intro")], 0, 5) is None
    assert describe([], 0, 5) is None


def test_a_dropped_repeat_row_does_not_shift_the_others():
    page = "Sheet: S\nA: 1\nB: 2\nA: 1"  # the cleaner dropped row 3, a repeat of row 2
    anchors = [("Sheet: S", "sheet", "S"), ("A: 1", "row", 2), ("A: 1", "row", 3), ("B: 2", "row", 4),
               ("A: 1", "row", 5)]
    assert place(page, anchors) == [(0, "sheet", "S"), (9, "row", 2), (14, "row", 4), (19, "row", 5)]


def test_an_index_written_before_locations_still_gives_pages(tmp_path: Path):
    path = tmp_path / "chunks.sqlite"
    con = sqlite3.connect(path)
    con.executescript(SCHEMA.split("CREATE TABLE locations")[0])  # the schema before this table
    con.execute("INSERT INTO documents VALUES ('a.pdf', 'A', '/a.pdf', '0', 0, 1, 'one\n\ntwo', '[0, 5]', 2, 0)")
    con.commit()
    con.close()
    db = ChunkDB(path)
    assert db.locations(["a.pdf"]) == {"a.pdf": [(0, "page", 1), (5, "page", 2)]}
    assert db.document("a.pdf").marks == ()  # pyright: ignore[reportOptionalMemberAccess]
    db.close()


# ---------------------------------------------------------------- every output carries it


def test_cli_search_json_and_text(index: Index):
    from click.testing import CliRunner

    from rag.cli import main

    result = CliRunner().invoke(main, ["search", SENTENCE["pptx"], "-k", "1", "--mode", "bm25", "--json",
                                       "--index", str(index.path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["hits"][0]["location"] == "slide 3"
    result = CliRunner().invoke(main, ["search", SENTENCE["docx"], "-k", "1", "--mode", "bm25",
                                       "--index", str(index.path)])
    assert "where.docx [" in result.output and "§ Maintenance" in result.output


def test_http_api_search_and_ask_carry_the_location(index: Index):
    from fastapi.testclient import TestClient

    from rag import AnswerSettings, Workspace
    from rag.http_api import create_api

    workspace = Workspace(index, AnswerSettings(generator="extractive", mode="bm25", k=1))
    client = TestClient(create_api(workspace), base_url="http://127.0.0.1")
    hits = client.post("/v1/search", json={"query": SENTENCE["xlsx"], "k": 1, "mode": "bm25"}).json()["hits"]
    assert covers(hits[0]["location"], WHERE["xlsx"]), hits
    answer = client.post("/v1/ask", json={"question": "When was the boiler of the Aotearoa replaced?"}).json()
    assert answer["citations"], answer
    assert all(covers(c["location"], WHERE["xlsx"]) for c in answer["citations"]), answer["citations"]
    events = client.post("/v1/ask", json={"question": "Who rebuilt the platform at Ngaio?", "stream": True}).text
    final = json.loads(events.split("event: answer\ndata: ")[1].split("\n")[0])
    assert covers(final["citations"][0]["location"], WHERE["csv"]), final


def test_the_web_chat_shows_it_beside_each_source_and_in_the_document_view(index: Index):
    from rag_ui.render import document_page, sources_html

    from rag import AnswerSettings, Workspace

    workspace = Workspace(index, AnswerSettings(generator="extractive", mode="bm25", k=1))
    answer = workspace.ask("What warns about the Cook Strait cable inspection?")
    assert answer.citations and answer.citations[0].doc_id == "where.pptx"
    panel = sources_html(answer, 1, index.locate)
    assert "<span class='where'>slide 3</span>" in panel
    row = index.document("where.pdf")
    assert row is not None
    start = row.text.index(SENTENCE["pdf"])
    page = document_page(row.title, row.doc_id, row.text, start, start + 20, None, index.locate("where.pdf", start,
                                                                                                start + 20))
    assert "<span class='where'>p. 2</span>" in page and "id='cited'" in page


def test_the_document_view_route_names_the_location(index: Index):
    from fastapi.testclient import TestClient
    from rag_ui.server import create_app

    from rag import AnswerSettings, Workspace

    workspace = Workspace(index, AnswerSettings(generator="extractive"))
    row = index.document("where.md")
    assert row is not None
    start = row.text.index(SENTENCE["md"])
    client = TestClient(create_app(workspace), base_url="http://127.0.0.1")
    page = client.get("/document", params={"doc": "where.md", "start": start, "end": start + 10})
    assert page.status_code == 200 and "§ Calibration" in page.text


# ---------------------------------------------------------------- the real embedding model


@pytest.mark.integration
def test_every_location_is_found_with_the_real_model(folder: Path, tmp_path: Path):
    index = Index(tmp_path / "index")
    report = index.sync([folder])
    assert report.problems == []
    retriever = Retriever(index)
    for kind in KINDS:
        top = retriever.search(SENTENCE[kind], k=3, mode="hybrid")[0]
        assert top.doc_id == name_of(kind) and SENTENCE[kind] in top.text, (kind, top)
        assert covers(top.location, WHERE[kind]), (kind, top.location)
