"""Loading files into documents: cleaning the bundled corpus, decoding, HTML, PDF, errors, find_files.

Fast: no embedding model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path

import pytest

from rag.clean import clean_text
from rag.documents import SUPPORTED_SUFFIXES, find_files, load_document, normalize
from rag.errors import ConfigError, DocumentError
from rag.reading import ReadLimits

from .conftest import CORPUS, DATA

EXPECTATIONS = json.loads((DATA / "cleaning_expectations.json").read_text(encoding="utf-8"))
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.txt"))

SENTENCES = (
    "The committee met on Tuesday to discuss the new harbour plan. "
    "Several members raised concerns about the cost of the project. "
    "A final decision is expected before the end of the month.\n"
)


def stripped_lines(text: str) -> set[str]:
    return {line.strip() for line in text.split("\n")}


# ---------------------------------------------------------------- bundled corpus


def test_fixture_covers_the_whole_corpus():
    assert len(CORPUS_FILES) == 5
    assert sorted(EXPECTATIONS) == CORPUS_FILES


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_furniture_removed_and_sentences_kept(name: str):
    path = CORPUS / name
    expected = EXPECTATIONS[name]
    raw_lines = stripped_lines(normalize(path.read_bytes().decode("utf-8-sig")))
    # Precondition: the furniture really is in the raw file, so its absence below means something.
    assert [f for f in expected["furniture"] if f not in raw_lines] == []

    doc = load_document(path)

    lines = stripped_lines(doc.text)
    assert [f for f in expected["furniture"] if f in lines] == []
    assert [s for s in expected["sentences"] if s not in doc.text] == []


@pytest.mark.parametrize(
    ("name", "check"),
    [
        (
            "000_5e6a84f29a338f7b.txt",
            lambda t: t == "Expanding AUKUS Pillar 2: An Inclusive Indo-Pacific Alliance Structure",
        ),
        ("002_1d980a9ae2147235.txt", lambda t: t.startswith("Japan, South Korea want in on Pillar 2")),
        ("004_07f60d43413d9997.txt", lambda t: t == "AUKUS members consider security deal with Japan"),
    ],
    ids=["000", "002", "004"],
)
def test_corpus_titles(name, check):
    title = load_document(CORPUS / name).title
    assert check(title), title


# ---------------------------------------------------------------- metadata


def test_metadata_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "article.txt"
    path.write_text(SENTENCES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    doc = load_document("article.txt")  # a relative path: source must still be absolute

    stat = os.stat(path)
    assert doc.doc_id == "article.txt"
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert Path(doc.source).is_absolute()
    assert Path(doc.source) == path.resolve()
    assert doc.mtime == stat.st_mtime
    assert doc.size == stat.st_size
    assert doc.pages == ()
    assert doc.page_at(0) is None


def test_explicit_doc_id_is_kept(tmp_path: Path):
    path = tmp_path / "article.txt"
    path.write_text(SENTENCES, encoding="utf-8")
    assert load_document(path, doc_id="sub/article.txt").doc_id == "sub/article.txt"


# ---------------------------------------------------------------- decoding and normalisation

FRENCH_CAFE = (
    "Le café où l'on déjeunait était très animé ce matin-là. Les garçons apportaient des crêpes "
    "et du thé à une clientèle élégante. À côté, une vieille dame lisait un journal français. "
    "Il était déjà midi quand le soleil éclaira la façade de l'église.\n"
)
FRENCH_SOIREE = (
    "Le café où l'on déjeunait était très animé. Nous étions heureux de célébrer l'été ensemble. "
    "La soirée fut agréable et le dîner délicieux. Chacun a apprécié la qualité des plats préparés.\n"
)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(FRENCH_SOIREE, id="soiree"),
        pytest.param(FRENCH_CAFE, id="cafe"),  # charset-normalizer alone guesses cp1257 here
    ],
)
def test_cp1252_text_is_decoded(tmp_path: Path, text: str):
    path = tmp_path / "latin.txt"
    path.write_bytes(text.encode("cp1252"))
    assert b"\xe9" in path.read_bytes()  # really single-byte, not UTF-8

    doc = load_document(path)

    assert doc.text == text.strip()


def test_utf8_with_bom(tmp_path: Path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "Naïve café text here. Another sentence follows.\n".encode())
    doc = load_document(path)
    assert doc.text == "Naïve café text here. Another sentence follows."
    assert "\ufeff" not in doc.text and "\ufeff" not in doc.title


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_utf16_with_bom(tmp_path: Path, codec: str):
    path = tmp_path / "wide.txt"
    body = "Grüße aus Köln. Das Wetter ist schön heute.\n"
    data = body.encode("utf-16") if codec == "utf-16" else b"\xfe\xff" + body.encode("utf-16-be")
    path.write_bytes(data)
    assert b"\x00" in data  # would look binary without BOM handling
    assert load_document(path).text == body.strip()


def test_crlf_and_cr_become_newlines(tmp_path: Path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"First line of text here.\r\nSecond line of text here.\rThird line of text here.\r\n")
    doc = load_document(path)
    assert "\r" not in doc.text
    assert doc.text == "First line of text here.\nSecond line of text here.\nThird line of text here."


def test_nfc_normalisation_and_zero_width_removed(tmp_path: Path):
    path = tmp_path / "nfc.txt"
    path.write_text(
        "The cafe\u0301 opened to\u200bday in town. Every\u200cone came\u2060 along.\n", encoding="utf-8"
    )
    doc = load_document(path)
    assert doc.text == "The café opened today in town. Everyone came along."
    assert "\u0301" not in doc.text


def test_non_breaking_spaces_become_spaces(tmp_path: Path):
    path = tmp_path / "nbsp.txt"
    path.write_text("It cost 10\u00a0dollars and\u202fmore. That was the price.\n", encoding="utf-8")
    assert load_document(path).text == "It cost 10 dollars and more. That was the price."


# ---------------------------------------------------------------- markdown and HTML


def test_markdown_title_from_first_heading(tmp_path: Path):
    path = tmp_path / "notes.md"
    path.write_text(
        "Intro line before any heading, which is plain text.\n\n# My Great Heading\n\n"
        "Some body text about nothing much at all.\n\n# Second Heading\n\nMore text.\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.title == "My Great Heading"
    assert "Some body text about nothing much at all." in doc.text


HTML_PAGE = """<!doctype html>
<html><head><title>Harbour Report</title><script>alert(1)</script></head>
<body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About us</a></nav>
<article>
<h1>Harbour expansion approved</h1>
<p>The city council approved the harbour expansion on Tuesday after a long debate about costs.</p>
<p>Construction will begin next spring and is expected to take three years, said the port authority.</p>
<p>Local fishermen said they were worried about the noise, but welcomed the promise of new jobs.</p>
</article>
<script>alert(1)</script>
<footer>Copyright 2024 Harbour News. Contact us at info@example.com</footer>
</body></html>
"""
HTML_PARAGRAPHS = [
    "The city council approved the harbour expansion on Tuesday after a long debate about costs.",
    "Construction will begin next spring and is expected to take three years, said the port authority.",
    "Local fishermen said they were worried about the noise, but welcomed the promise of new jobs.",
]


def test_html_article(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = load_document(path)
    assert [p for p in HTML_PARAGRAPHS if p not in doc.text] == []
    assert "alert" not in doc.text
    assert "<" not in doc.text
    assert doc.title == "Harbour Report"


def test_tiny_html_page_still_gives_text(tmp_path: Path):
    path = tmp_path / "tiny.htm"
    path.write_text(
        "<html><head><script>alert(1)</script></head><body><p>Just a short line.</p></body></html>",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.text == "Just a short line."
    assert "alert" not in doc.text


# ---------------------------------------------------------------- PDF

PDF_PAGES = [
    ["The first page talks about submarines and the ocean.", "Australia will buy nuclear-powered boats."],
    ["The second page discusses quantum computing research.", "Japan may join the technology pillar."],
]


@pytest.fixture
def two_page_pdf(tmp_path: Path) -> Path:
    from reportlab.pdfgen import canvas

    path = tmp_path / "two.pdf"
    pdf = canvas.Canvas(str(path))
    for sentences in PDF_PAGES:
        for i, sentence in enumerate(sentences):
            pdf.drawString(72, 720 - 20 * i, sentence)
        pdf.showPage()
    pdf.save()
    return path


def test_pdf_pages(two_page_pdf: Path):
    doc = load_document(two_page_pdf)

    assert [s for page in PDF_PAGES for s in page if s not in doc.text] == []
    assert len(doc.pages) == 2
    assert doc.pages[0] == 0
    first, second = PDF_PAGES[0][1], PDF_PAGES[1][1]
    assert doc.text.index(first) < doc.pages[1] <= doc.text.index(PDF_PAGES[1][0])
    assert doc.page_at(doc.text.index(first)) == 1
    assert doc.page_at(doc.text.index(first) + len(first) - 1) == 1
    assert doc.page_at(doc.text.index(second)) == 2
    assert doc.page_at(doc.pages[1]) == 2
    assert doc.sha256 == hashlib.sha256(two_page_pdf.read_bytes()).hexdigest()


# ---------------------------------------------------------------- errors


def _random_bytes(n: int) -> bytes:
    return random.Random(1234).randbytes(n)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\t \r\n\n", "empty"),
        ("binary.txt", b"\x00\x01\x02abc\x00\xff" * 20, "binary"),
        ("report.doc", b"\xd0\xcf\x11\xe0 an old Word file", "unsupported"),
        ("corrupt.pdf", _random_bytes(2000), "PDF"),
        ("menu.txt", b"twitter\nyoutube\n", "no text"),
    ],
    ids=["empty", "whitespace", "binary", "doc", "corrupt-pdf", "all-furniture"],
)
def test_unusable_files_raise_one_line_document_error(tmp_path: Path, name: str, data: bytes, reason: str):
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(DocumentError) as info:
        load_document(path)

    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert reason in message
    assert info.value.path == str(path)


def test_missing_file_raises_document_error(tmp_path: Path):
    path = tmp_path / "gone.txt"
    with pytest.raises(DocumentError) as info:
        load_document(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- clean_text


def test_clean_text_drops_consecutive_duplicates_only():
    text = (
        "A caption under the photo.\nA caption under the photo.\nBody text here.\nA caption under the photo."
    )
    assert clean_text(text).split("\n") == [
        "A caption under the photo.",
        "Body text here.",
        "A caption under the photo.",
    ]


def test_clean_text_keeps_headings():
    text = "The argument ends here with a sentence.\n\nConclusion\n\nIn short, the plan works."
    assert "Conclusion" in clean_text(text).split("\n")


def test_clean_text_removes_timestamps_but_keeps_sentences_with_times():
    text = "0:00\n28:18\n1:02:03\nThe talks began at 10:30 in Canberra.\n25:17"
    lines = clean_text(text).split("\n")
    assert lines == ["The talks began at 10:30 in Canberra."]


def test_clean_text_collapses_blank_lines_and_strips():
    text = "\n\nFirst paragraph of text.\n\n\n\nSecond paragraph of text.\n\n"
    assert clean_text(text) == "First paragraph of text.\n\nSecond paragraph of text."


# ---------------------------------------------------------------- find_files


def test_find_files_folder_recursion_and_filters(tmp_path: Path):
    root = tmp_path / "docs"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in [
        "a.txt",
        "sub/b.md",
        "sub/deeper/c.html",
        "sub/d.PDF",
        ".secret.txt",
        ".hidden/e.txt",
        "sub/.f.md",
        "notes.doc",
        "data.xls",
        "sub/g",
    ]:
        (root / rel).write_text("some text here.", encoding="utf-8")

    files, problems = find_files([root])

    assert problems == []
    ids = sorted(doc_id for _, doc_id in files)
    assert ids == ["a.txt", "sub/b.md", "sub/d.PDF", "sub/deeper/c.html"]
    for path, doc_id in files:
        assert path == root / doc_id


def test_find_files_single_file_uses_its_name(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "one.txt"
    path.write_text("text", encoding="utf-8")
    assert find_files([path]) == ([(path, "one.txt")], [])


def test_find_files_missing_path(tmp_path: Path):
    good = tmp_path / "ok.txt"
    good.write_text("text", encoding="utf-8")
    missing = tmp_path / "no" / "such" / "dir"

    files, problems = find_files([missing, good])

    assert files == [(good, "ok.txt")]
    assert len(problems) == 1
    assert str(missing) in problems[0] and "\n" not in problems[0]


@pytest.mark.parametrize("content", ["empty", "unsupported-only", "hidden-only"])
def test_find_files_folder_without_supported_files(tmp_path: Path, content: str):
    root = tmp_path / "folder"
    root.mkdir()
    if content == "unsupported-only":
        (root / "x.doc").write_bytes(b"x")
    elif content == "hidden-only":
        (root / ".x.txt").write_text("text", encoding="utf-8")

    files, problems = find_files([root])

    assert files == []
    assert len(problems) == 1
    assert str(root) in problems[0]
    assert all(suffix in problems[0] for suffix in SUPPORTED_SUFFIXES)


# ---------------------------------------------------------------- bad input (issue 14, item 3)


def test_c1_controls_are_removed_and_text_stays_nfc():
    assert normalize("a\x85b\x9fc") == "abc"
    assert normalize("e\u200b\u0301") == "\u00e9"  # the zero-width space goes first, then é composes


def test_a_utf16_bom_before_invalid_utf16_is_one_line(tmp_path: Path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\xfeA\x00\x00\xd8")  # "A", then a lone surrogate
    with pytest.raises(DocumentError, match=r"invalid UTF-16 at byte 4") as caught:
        load_document(path)
    assert "\n" not in str(caught.value)


def test_a_markdown_heading_with_a_long_run_of_spaces_is_read_at_once(tmp_path: Path):
    # the old title pattern backtracked cubically here: 4,000 spaces took 51 s
    path = tmp_path / "spaces.md"
    path.write_text("# Harbour plan" + " " * 50_000 + "approved\n\n" + SENTENCES, encoding="utf-8")
    started = time.perf_counter()
    doc = load_document(path)
    assert time.perf_counter() - started < 2
    assert doc.title.startswith("Harbour plan ") and doc.title.endswith("approved")


@pytest.mark.parametrize(("markup", "title"), [
    (b"<?xml version='1.0' encoding='utf-8'?><html><head><title>Plan</title></head><body><p>"
     + SENTENCES.encode() + b"</p></body></html>", "Plan"),
    (b"<html><head><title>A\n  long\ttitle</title></head><body><p>" + SENTENCES.encode() + b"</p></body></html>",
     "A long title"),
])
def test_html_with_an_xml_declaration_or_a_multiline_title(tmp_path: Path, markup: bytes, title: str):
    path = tmp_path / "page.html"
    path.write_bytes(markup)
    doc = load_document(path)
    assert doc.title == title and "harbour plan" in doc.text


def test_html_without_any_element_is_one_line(tmp_path: Path):
    path = tmp_path / "comment.html"
    path.write_bytes(b"<!-- only a comment -->")
    with pytest.raises(DocumentError, match="no text found"):
        load_document(path)


def test_read_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_READ_TIMEOUT_S", "7.5")
    monkeypatch.setenv("RAG_READ_MEMORY_MB", "300")
    monkeypatch.setenv("RAG_READ_MAX_CHARS", "1000")
    assert ReadLimits() == ReadLimits(timeout_s=7.5, memory_mb=300, max_chars=1000)
    monkeypatch.setenv("RAG_READ_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="RAG_READ_TIMEOUT_S must be a number, got 'soon'"):
        ReadLimits()


def test_text_over_the_character_limit_is_one_line(tmp_path: Path):
    path = tmp_path / "long.txt"
    path.write_text(SENTENCES * 10, encoding="utf-8")
    with pytest.raises(DocumentError, match=r"has more than 1,000 characters of text \(limit: RAG_READ_MAX_CHARS\)"):
        load_document(path, limits=ReadLimits(max_chars=1000))


def test_a_pdf_that_takes_too_long_is_stopped(tmp_path: Path):
    import zlib

    from reportlab.pdfgen import canvas

    path = tmp_path / "slow.pdf"
    pdf = canvas.Canvas(str(path), pageCompression=0)
    pdf.drawString(72, 720, "placeholder")
    pdf.save()
    operators = zlib.compress(b"BT /F1 12 Tf 72 720 Td (harbour) Tj ET\n" * 400_000)  # 16 MB: seconds of parsing
    data = path.read_bytes()
    start = data.index(b"stream\n", data.index(b"/Length")) + len(b"stream\n")
    end = data.index(b"endstream", start)
    header_at = data.rindex(b"<<", 0, start)
    data = (data[:header_at] + b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(operators)
            + operators + b"\n" + data[end:])
    path.write_bytes(data)  # pypdf repairs the cross-reference table
    started = time.perf_counter()
    with pytest.raises(DocumentError, match=r"took longer than 0.5 s to read \(limit: RAG_READ_TIMEOUT_S\)"):
        load_document(path, limits=ReadLimits(timeout_s=0.5))
    assert time.perf_counter() - started < 5


def test_a_reader_over_its_memory_cap_is_one_line(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text(SENTENCES * 20_000, encoding="utf-8")  # 3.6 MB: read in a child, as over 1 MB
    assert load_document(path).text.startswith("The committee")
    with pytest.raises(DocumentError, match=r"needs more than 1 MB of memory to read \(limit: RAG_READ_MEMORY_MB\)"):
        load_document(path, limits=ReadLimits(memory_mb=1))


def test_a_reader_process_that_died_is_replaced(two_page_pdf: Path):
    from rag import reading

    load_document(two_page_pdf)
    assert reading._running is not None
    reading._running.process.kill()
    reading._running.process.wait()
    assert len(load_document(two_page_pdf).pages) == 2


def test_a_pdf_title_pointing_nowhere_loses_nothing(two_page_pdf: Path):
    data = two_page_pdf.read_bytes()
    assert b"/Title (untitled)" in data
    two_page_pdf.write_bytes(data.replace(b"/Title (untitled)", b"/Title 99 0 R     "))  # same length: offsets hold
    doc = load_document(two_page_pdf)
    assert doc.title != "None" and doc.title == doc.text.split("\n")[0]
    assert len(doc.pages) == 2
