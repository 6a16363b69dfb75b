"""Fuzzing every document reader (txt, md, html, pdf; docx, pptx, xlsx, epub, odt, eml, json, ipynb, csv) with
generated and mutated files (issue 14, item 3; the formats of issue 16).

Each case writes one file and reads it with the real readers (pypdf, trafilatura, lxml, charset-normalizer):
the result must be a clean ``Document`` or a one-line ``DocumentError``, within the per-file time limit.
Anything else (another exception, a crash, a hang) fails the test. Hypothesis is seeded
(``derandomize``), so CI runs the same cases every time; ``pytest --fuzz-examples N`` runs N cases per
reader instead of the CI budget below.

The text readers run in this process and are fast: those tests carry no marker. HTML, PDF and the ZIP-based
formats are parsed in a child process per file, so their cases cost more: they are ``slow`` (``make test``, not
``make check``). A ZIP-based case is a real file (``tests/test_formats.py`` writes it with its own library) with
one XML part mutated and the container rebuilt, so the parser gets past the ZIP layer, or the container's bytes
mutated.
"""

from __future__ import annotations

import base64
import io
import resource
import tempfile
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.documents import Document, load_document
from rag.errors import DocumentError
from rag.reading import ReadLimits

from .conftest import CORPUS
from .test_formats import MAKERS, SENTENCES

# Cases per reader in CI (at least 2,000 in all); ``--fuzz-examples N`` overrides each.
BUDGET = {"txt": 900, "md": 400, "html": 300, "pdf": 600, "docx": 100, "pptx": 100, "xlsx": 100, "epub": 100,
          "odt": 100, "eml": 50, "json": 50, "ipynb": 50, "csv": 50}
LIMITS = ReadLimits(timeout_s=10.0)
SLACK_S = 5.0  # on top of the limit: starting the child, a loaded CI machine
CORPUS_TEXT = [p.read_bytes() for p in sorted(CORPUS.glob("*.txt"))]


# ---------------------------------------------------------------- checking one case


def check_file(folder: Path, name: str, data: bytes) -> Document | DocumentError:
    """Write ``data`` as ``folder/name``, read it, and check what came back."""
    path = folder / name
    path.write_bytes(data)
    started = time.perf_counter()
    try:
        result: Document | DocumentError = load_document(path, limits=LIMITS)
    except DocumentError as exc:
        result = exc
    elapsed = time.perf_counter() - started
    assert elapsed < LIMITS.timeout_s + SLACK_S, f"{name}: took {elapsed:.1f} s"
    if isinstance(result, DocumentError):
        check_error(result, path)
    else:
        check_document(result, data)
    return result


def check_error(error: DocumentError, path: Path) -> None:
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert error.path == str(path)
    assert error.reason.strip() and len(error.reason) < 300, error.reason


def check_document(doc: Document, data: bytes) -> None:
    assert doc.text.strip()
    assert "\r" not in doc.text and "\x00" not in doc.text
    assert not any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in doc.text)
    assert unicodedata.is_normalized("NFC", doc.text)
    assert doc.title.strip() and "\n" not in doc.title and len(doc.title) <= 200, doc.title
    assert not any(unicodedata.category(c) == "Cc" for c in doc.title), doc.title
    assert len(doc.text) <= LIMITS.max_chars
    assert list(doc.pages) == sorted(doc.pages) and all(0 <= p <= len(doc.text) for p in doc.pages)
    assert doc.size == len(data)


# ---------------------------------------------------------------- mutating bytes


def mutations(tokens: list[bytes]) -> st.SearchStrategy[tuple[str, float, float, bytes]]:
    """One edit: flip, delete, insert (a token or random bytes), duplicate or truncate, at a relative place."""
    payload = st.one_of(st.sampled_from(tokens), st.binary(max_size=64))
    return st.tuples(st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate"]),
                     st.floats(0, 1), st.floats(0, 1), payload)


def mutate(data: bytes, edits: list[tuple[str, float, float, bytes]]) -> bytes:
    """``data`` with ``edits`` applied in order (positions are fractions of the current length)."""
    buf = bytearray(data)
    for kind, where, span, payload in edits:
        at = int(where * len(buf))
        end = min(len(buf), at + 1 + int(span * 64))
        if kind == "flip" and at < len(buf):
            buf[at] ^= 1 << int(span * 7.99)
        elif kind == "delete":
            del buf[at:end]
        elif kind == "insert":
            buf[at:at] = payload
        elif kind == "duplicate":
            buf[at:at] = buf[at:end] * (1 + int(span * 8))
        elif kind == "truncate":
            del buf[at:]
    return bytes(buf)


def mutated(bases: list[bytes], tokens: list[bytes], max_edits: int = 8) -> st.SearchStrategy[bytes]:
    return st.builds(mutate, st.sampled_from(bases), st.lists(mutations(tokens), max_size=max_edits))


# ---------------------------------------------------------------- text and markdown

TEXT_TOKENS = [b"\r\n", b"\r", b"\x00", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\xe2\x80\x8b", b"\xc2\xa0",
               b"\x0c", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3", b"# ", b"## Title\n", b"\n\n\n", b"\t",
               "é".encode("cp1252"), "Привет".encode("cp1251"), "日本語".encode("shift_jis"), b"\x1b[31m",
               "\u202e\u0301\u0308".encode(), b"twitter\n", b"icon icon icon\n", b"0:00\n", b"(c) \xc2\xa9 2024\n"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1252", "latin-1", "cp1251", "shift_jis",
             "gb18030", "koi8-r"]


@st.composite
def encoded_text(draw: st.DrawFn) -> bytes:
    """Generated Unicode text (any script, controls, surrogates escaped) in a drawn encoding."""
    lines = draw(st.lists(st.text(max_size=120), max_size=30))
    return "\n".join(lines).encode(draw(st.sampled_from(ENCODINGS)), errors="ignore")


TEXT_FILES = st.one_of(st.binary(max_size=4000), encoded_text(), mutated(CORPUS_TEXT, TEXT_TOKENS))


@st.composite
def markdown(draw: st.DrawFn) -> bytes:
    """Markdown-like lines: headings, lists, code fences, links, tables, HTML, around generated text."""
    pieces = st.one_of(st.sampled_from(["# ", "## ", "### ", "#", "- ", "* ", "1. ", "> ", "```", "|", "---",
                                         "[a](b)", "![x](y)", "<div>", "</div>", "**", "_", "\\", "    ", "\n"]),
                       st.text(max_size=40), st.integers(0, 3000).map(lambda n: " " * n),
                       st.integers(0, 3000).map(lambda n: "#" * n))
    lines = draw(st.lists(st.lists(pieces, max_size=6).map("".join), max_size=30))
    return "\n".join(lines).encode(draw(st.sampled_from(["utf-8", "utf-16", "cp1252"])), errors="ignore")


MARKDOWN_FILES = st.one_of(markdown(), mutated(CORPUS_TEXT, TEXT_TOKENS))


# ---------------------------------------------------------------- HTML

TAGS = ["html", "head", "body", "title", "meta", "div", "p", "span", "a", "article", "main", "nav", "header",
        "footer", "aside", "script", "style", "noscript", "table", "tr", "td", "ul", "li", "br", "img", "svg",
        "math", "template", "iframe", "pre", "code", "h1", "h2", "form", "textarea", "xmp", "plaintext"]
HTML_TOKENS = [b"<", b">", b"</", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"<!DOCTYPE html>", b"&amp;", b"&#0;",
               b"&#xD800;", b"&#99999999;", b"&nbsp;", b"<?xml version='1.0' encoding='ebcdic'?>",
               b'<meta charset="utf-16">', b'<meta charset="nonsense">', b"<title>", b"</title>", b"<script>",
               b"</script>", b"<div>" * 50, b"</div>" * 50, b"\x00", b"\xff\xfe", b'<html lang="">', b"<body>"]


@st.composite
def html_element(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    attrs = "".join(f' {name}="{value}"' for name, value in draw(st.lists(
        st.tuples(st.sampled_from(["class", "id", "href", "content", "charset", "lang", "style", "x"]),
                  st.text(max_size=12).map(lambda s: s.replace('"', "'"))), max_size=3)))
    children = [] if depth >= 4 else draw(st.lists(
        st.one_of(st.text(max_size=80), st.deferred(lambda: html_element(depth + 1))), max_size=4))
    close = draw(st.sampled_from([f"</{tag}>", "", f"</{draw(st.sampled_from(TAGS))}>"]))
    return f"<{tag}{attrs}>{''.join(children)}{close}"


@st.composite
def html_page(draw: st.DrawFn) -> bytes:
    """A generated page: optional doctype and head, nested elements with generated text and attributes."""
    head = draw(st.sampled_from(["", "<!DOCTYPE html>", "<?xml version='1.0'?>"]))
    title = draw(st.one_of(st.just(""), st.text(max_size=40).map(lambda t: f"<title>{t}</title>")))
    body = "".join(draw(st.lists(html_element(), max_size=6)))
    page = f"{head}<html><head>{title}</head><body>{body}</body></html>"
    return page.encode(draw(st.sampled_from(["utf-8", "utf-16", "cp1252", "utf-8-sig"])), errors="ignore")


def _html_seed(text: bytes) -> bytes:
    paragraphs = text.decode("utf-8-sig").split("\n\n")[:8]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head><title>{paragraphs[0][:60]}</title><script>var x = 1;</script></head>"
            f"<body><nav><a href='/'>Home</a></nav><article>{body}</article><footer>(c)</footer></body></html>"
            ).encode()


HTML_SEEDS = [_html_seed(t) for t in CORPUS_TEXT]
HTML_FILES = st.one_of(html_page(), mutated(HTML_SEEDS, HTML_TOKENS), st.binary(max_size=2000))


# ---------------------------------------------------------------- PDF


def pdf_file(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF of ``objects`` (numbered from 1) with a correct cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info 2 0 R >>\n" % (len(objects) + 1, root)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def pdf_stream(data: bytes, encoding: str, extra: bytes = b"") -> bytes:
    """A stream object holding ``data`` raw or encoded with a standard filter."""
    if encoding == "flate":
        data, extra = zlib.compress(data), extra + b" /Filter /FlateDecode"
    elif encoding == "hex":
        data, extra = data.hex().encode() + b">", extra + b" /Filter /ASCIIHexDecode"
    elif encoding == "a85":
        data, extra = base64.a85encode(data) + b"~>", extra + b" /Filter /ASCII85Decode"
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def _literal(raw: bytes) -> bytes:
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


OPERATORS = [b"BT", b"ET", b"Tj", b"TJ", b"'", b'"', b"Tf", b"Td", b"TD", b"Tm", b"T*", b"Tc", b"Tw", b"Tz", b"TL",
             b"Ts", b"Tr", b"cm", b"q", b"Q", b"Do", b"re", b"f", b"gs", b"d0", b"d1", b"BDC", b"EMC", b"w"]
OPERANDS = st.one_of(
    st.integers(-10**9, 10**9).map(lambda n: b"%d" % n),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda x: repr(x).encode()),
    st.binary(max_size=24).map(_literal), st.binary(max_size=12).map(lambda b: b"<" + b.hex().encode() + b">"),
    st.sampled_from([b"/F1", b"/F2", b"/Im1", b"/GS1", b"/Nope", b"/", b"[", b"]", b"<<", b">>", b"null", b"true"]),
    st.lists(st.one_of(st.binary(max_size=12).map(_literal), st.integers(-5000, 5000).map(lambda n: b"%d" % n)),
             max_size=5).map(lambda items: b"[" + b" ".join(items) + b"]"))


@st.composite
def content_stream(draw: st.DrawFn) -> bytes:
    """Text-drawing operators with generated operands around a real sentence."""
    ops = draw(st.lists(st.tuples(st.lists(OPERANDS, max_size=4), st.sampled_from(OPERATORS)), max_size=25))
    body = b"\n".join(b" ".join([*args, op]) for args, op in ops)
    return b"BT /F1 12 Tf 72 720 Td (The harbour plan was approved.) Tj\n" + body + b"\nET"


def _hex4(n: int) -> bytes:
    return b"<%04X>" % n


@st.composite
def to_unicode(draw: st.DrawFn) -> bytes:
    """A ToUnicode CMap with generated code ranges, single mappings and range mappings."""
    codes = st.integers(0, 0xFFFF)
    chars = draw(st.lists(st.tuples(codes, st.binary(max_size=8)), max_size=6))
    ranges = draw(st.lists(st.tuples(codes, codes, codes), max_size=4))
    return (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            b"1 begincodespacerange " + draw(st.sampled_from([b"<0000> <FFFF>", b"<00> <FF>", b"<> <>"]))
            + b" endcodespacerange\n%d beginbfchar\n" % len(chars)
            + b"".join(_hex4(c) + b" <" + u.hex().encode() + b">\n" for c, u in chars)
            + b"endbfchar\n%d beginbfrange\n" % len(ranges)
            + b"".join(_hex4(a) + b" " + _hex4(b) + b" " + _hex4(c) + b"\n" for a, b, c in ranges)
            + b"endbfrange\nendcmap CMapName currentdict /CMap defineresource pop end end")


@st.composite
def font(draw: st.DrawFn, cmap_object: int) -> bytes:
    """A standard, re-encoded, composite (Identity-H with a ToUnicode CMap) or nonsense font dictionary."""
    kind = draw(st.sampled_from(["standard", "differences", "composite", "widths", "nonsense"]))
    if kind == "standard":
        return b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    if kind == "differences":
        names = draw(st.lists(st.sampled_from([b"/a", b"/b", b"/space", b"/uni0041", b"/g123", b"/.notdef", b"/"]),
                              max_size=8))
        start = draw(st.integers(-5, 300))
        return (b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /Differences [%d %s] >> >>"
                % (start, b" ".join(names)))
    if kind == "composite":
        return (b"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /ToUnicode %d 0 R "
                b"/DescendantFonts [<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /W [0 [500 600]] >>] >>"
                % cmap_object)
    if kind == "widths":
        first, count = draw(st.integers(-10, 300)), draw(st.integers(0, 10))
        return (b"<< /Type /Font /Subtype /TrueType /BaseFont /Arial /FirstChar %d /LastChar %d /Widths [%s] >>"
                % (first, first + draw(st.integers(-5, 20)), b" ".join(b"%d" % (500 + i) for i in range(count))))
    return draw(st.sampled_from([b"null", b"42", b"<< >>", b"<< /Subtype /Type3 >>", b"[1 0 R]", b"(font)"]))


@st.composite
def generated_pdf(draw: st.DrawFn) -> bytes:
    """A well-formed PDF whose pages, fonts, CMaps, filters and content streams are generated."""
    pages = draw(st.integers(1, 3))
    encodings = st.sampled_from(["raw", "flate", "hex", "a85"])
    # 1 catalog, 2 info, 3 pages, 4 font, 5 cmap, 6.. one page and one content stream each
    kids = b" ".join(b"%d 0 R" % (6 + 2 * i) for i in range(pages))
    if draw(st.integers(0, 9)) == 0:
        kids += b" 3 0 R"  # a page tree that contains itself
    objects = [b"<< /Type /Catalog /Pages 3 0 R >>",
               b"<< /Title " + draw(st.binary(max_size=30).map(_literal)) + b" >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, draw(st.integers(-1, pages + 2))),
               draw(font(5)), pdf_stream(draw(to_unicode()), draw(encodings))]
    for i in range(pages):
        objects.append(b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 4 0 R >> >> >>" % (7 + 2 * i))
        objects.append(pdf_stream(draw(content_stream()), draw(encodings)))
    return pdf_file(objects)


def _pdf_seeds() -> list[bytes]:
    """Small real PDFs: reportlab text pages, uncompressed (the fuzzer sees operators) and compressed."""
    from reportlab.pdfgen import canvas

    seeds = []
    for compress, pages in ((0, 1), (0, 2), (1, 1)):
        buf = io.BytesIO()
        pdf = canvas.Canvas(buf, pageCompression=compress, invariant=1)
        pdf.setTitle("Fuzz seed")
        for page in range(pages):
            for i, line in enumerate(CORPUS_TEXT[page].decode("utf-8-sig").split("\n")[:12]):
                pdf.drawString(72, 720 - 14 * i, line[:90])
            pdf.showPage()
        pdf.save()
        seeds.append(buf.getvalue())
    return seeds


PDF_TOKENS = [b"<<", b">>", b"[", b"]", b"(", b")", b"\\", b"/", b"obj", b"endobj", b"stream\n", b"\nendstream",
              b"xref", b"trailer", b"startxref\n0\n", b"%%EOF", b"-1", b"0", b"9999999999", b"1e308", b"1 0 R",
              b"99 0 R", b"/Length 999999999", b"/Filter /FlateDecode", b"/Filter /LZWDecode",
              b"/Filter /ASCII85Decode", b"/Filter [/FlateDecode /FlateDecode]",
              b"/DecodeParms << /Predictor 12 /Columns 999999 >>", b"/Type /Pages", b"/Kids [1 0 R]", b"/Count -5",
              b"/Parent 3 0 R", b"/Encrypt", b"/Font", b"/ToUnicode", b"/Encoding /Identity-H",
              b"/Differences [1 /a]", b"BT", b"ET", b"Tj", b"TJ", b"Tf", b"Tm", b"Td", b"T*", b"'", b'"', b"cm", b"q",
              b"Q" * 40, b"q" * 200, b"Do", b"/XObject", b"BI ID EI", b"<feff00410042>", b"<d800>", b"\x00",
              b"\xff" * 8]
PDF_SEEDS = _pdf_seeds()
PDF_FILES = st.one_of(
    generated_pdf(),
    st.builds(mutate, generated_pdf(), st.lists(mutations(PDF_TOKENS), min_size=1, max_size=3)),
    mutated(PDF_SEEDS, PDF_TOKENS, max_edits=4),
    st.binary(max_size=2000).map(lambda b: b"%PDF-1.4\n" + b))


# ---------------------------------------------------------------- ZIP-based formats (issue 16)

ZIP_KINDS = ["docx", "pptx", "xlsx", "epub", "odt"]
XML_TOKENS = [b"<", b">", b"</", b"/>", b"&amp;", b"&#0;", b"&#xD800;", b"&#99999999;", b"<![CDATA[", b"]]>",
              b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>', b"&b;",
              b"\x00", b"\xff\xfe", b'<?xml version="1.0" encoding="ebcdic"?>', b'xmlns="urn:nowhere"',
              b'r:id="rId99"', b'Target="../../../etc/passwd"', b'Target="http://example.org/x" TargetMode="External"',
              b"<w:p><w:r><w:t>", b"</w:t></w:r></w:p>", b"<a:t>", b"</a:t>", b"<text:p>", b"</text:p>",
              b'<c r="XFD1048576" t="s"><v>99999</v></c>', b'<row r="1048576">', b'<dimension ref="A1:XFD1048576"/>',
              b"<p>", b"</p>" * 40, b"<div>" * 200, b'<itemref idref="nowhere"/>', b'full-path="nowhere.opf"']
ZIP_SEEDS = {kind: MAKERS[kind](*SENTENCES[kind]) for kind in ZIP_KINDS}


def rezip(members: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info, data in members:
            out.writestr(info, data)
    return buf.getvalue()


@st.composite
def mutated_part(draw: st.DrawFn, kind: str) -> bytes:
    """The seed of ``kind`` with one part's bytes mutated (an XML part more often), or one part left out."""
    archive = zipfile.ZipFile(io.BytesIO(ZIP_SEEDS[kind]))
    members = [(info, archive.read(info)) for info in archive.infolist()]
    xml = [i for i, (info, _) in enumerate(members) if info.filename.endswith((".xml", ".xhtml", ".rels", ".opf"))]
    at = draw(st.one_of(st.sampled_from(xml), st.integers(0, len(members) - 1)))
    if draw(st.integers(0, 9)) == 0:
        return rezip(members[:at] + members[at + 1:])
    info, data = members[at]
    members[at] = (info, mutate(data, draw(st.lists(mutations(XML_TOKENS), min_size=1, max_size=6))))
    return rezip(members)


def zip_files(kind: str) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated_part(kind), mutated_part(kind), mutated([ZIP_SEEDS[kind]], XML_TOKENS, max_edits=3))


# ---------------------------------------------------------------- text-based formats of issue 16

TEXT_KINDS = ["eml", "json", "ipynb", "csv"]
STRUCTURE_TOKENS = [b'"', b"{", b"}", b"[", b"]", b",", b":", b";", b"\t", b"\\u0000", b"\\ud800", b"[" * 5000,
                    b"\r\n\r\n", b"--", b"Content-Type: text/html; charset=nonsense\r\n", b"=?utf-8?q?=FF?=",
                    b"Content-Transfer-Encoding: base64\r\n", b"Content-Type: multipart/mixed; boundary=x\r\n"]


def text_format_files(kind: str) -> st.SearchStrategy[bytes]:
    """The real file of ``kind`` (``tests/test_formats.py``) mutated, or random bytes."""
    return st.one_of(mutated([MAKERS[kind](*SENTENCES[kind])], STRUCTURE_TOKENS + TEXT_TOKENS, max_edits=6),
                     st.binary(max_size=500))


# ---------------------------------------------------------------- the tests


@pytest.fixture
def fuzz_examples(request: pytest.FixtureRequest) -> int | None:
    """``--fuzz-examples N`` (conftest.py): N cases per reader instead of the CI budget."""
    return request.config.getoption("fuzz_examples")


def specific_reason(result: Document | DocumentError) -> None:
    """Our own readers fail only for a reason they name, never with a generic ``unreadable`` (a bug)."""
    assert not (isinstance(result, DocumentError) and result.reason.startswith("unreadable")), result


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rag-fuzz-") as name:
        yield Path(name)


def fuzz(reader: str, files: st.SearchStrategy[bytes], folder: Path, examples: int | None,
         check: Callable[[Document | DocumentError], None] = lambda _: None) -> None:
    """Run ``examples`` (or the CI budget of ``reader``) seeded cases of ``files`` through ``check_file``."""

    @settings(max_examples=examples or BUDGET[reader], derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(files)
    def one(data: bytes) -> None:
        check(check_file(folder, f"case.{reader}", data))

    one()


def test_fuzz_text(folder: Path, fuzz_examples: int | None):
    fuzz("txt", TEXT_FILES, folder, fuzz_examples, specific_reason)


def test_fuzz_markdown(folder: Path, fuzz_examples: int | None):
    fuzz("md", MARKDOWN_FILES, folder, fuzz_examples, specific_reason)


@pytest.mark.slow
def test_fuzz_html(folder: Path, fuzz_examples: int | None):
    fuzz("html", HTML_FILES, folder, fuzz_examples)


@pytest.mark.slow
def test_fuzz_pdf(folder: Path, fuzz_examples: int | None):
    fuzz("pdf", PDF_FILES, folder, fuzz_examples)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ZIP_KINDS)
def test_fuzz_zip_formats(folder: Path, fuzz_examples: int | None, kind: str):
    fuzz(kind, zip_files(kind), folder, fuzz_examples)


@pytest.mark.slow
@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_fuzz_text_based_formats(folder: Path, fuzz_examples: int | None, kind: str):
    fuzz(kind, text_format_files(kind), folder, fuzz_examples)


# ---------------------------------------------------------------- bombs: bounded time and memory, nothing lost

BOMB_LIMITS = ReadLimits(timeout_s=4.0, memory_mb=512)


def parent_growth_mb(read: Callable[[], object]) -> float:
    """How much this process's peak memory grew during ``read()``, in MB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    read()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def inflating_pdf(block: bytes, blocks: int) -> bytes:
    """A PDF whose one content stream is ``block`` repeated ``blocks`` times, FlateDecode-compressed."""
    packer = zlib.compressobj(9)
    packed = b"".join(packer.compress(block) for _ in range(blocks)) + packer.flush()
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)
    return pdf_file([b"<< /Type /Catalog /Pages 3 0 R >>", b"<< >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
                     b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
                     b"/Resources << /Font << /F1 6 0 R >> >> >>",
                     stream, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def read_bomb(folder: Path, name: str, data: bytes, limits: ReadLimits) -> tuple[str, float, float]:
    """Read ``data`` as ``name`` under ``limits``: the DocumentError's reason, the seconds taken, the growth in MB."""
    path = folder / name
    path.write_bytes(data)
    outcome: list[str] = []

    def read() -> None:
        with pytest.raises(DocumentError) as caught:
            load_document(path, limits=limits)
        check_error(caught.value, path)
        outcome.append(caught.value.reason)

    started = time.perf_counter()
    growth = parent_growth_mb(read)
    return outcome[0], time.perf_counter() - started, growth


@pytest.mark.slow
def test_a_pdf_stream_inflating_to_2_gb_is_refused(folder: Path):
    reason, seconds, growth = read_bomb(folder, "bomb.pdf", inflating_pdf(bytes(1 << 20), 2048), BOMB_LIMITS)
    assert reason == ("exceeds a safety limit of the PDF parser "
                      "(a stream inflates past its limit: a decompression bomb?)")
    assert seconds < BOMB_LIMITS.timeout_s + SLACK_S and growth < 100


def pages_sharing_a_heavy_stream(pages: int) -> bytes:
    """A 50 kB PDF whose pages all draw one stream of 1.2 M operators: pypdf takes ~40 s a page, hours in all."""
    operators = b"BT /F1 12 Tf 72 720 Td " + b"(harbour) Tj\n" * 600_000 + b"ET"
    kids = b" ".join(b"%d 0 R" % (6 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 3 0 R >>", b"<< >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", pdf_stream(operators, "flate")]
    page = (b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
            b"/Resources << /Font << /F1 4 0 R >> >> >>")
    return pdf_file(objects + [page] * pages)


@pytest.mark.slow
def test_a_pdf_that_takes_hours_is_stopped_at_the_time_limit(folder: Path):
    reason, seconds, growth = read_bomb(folder, "slow.pdf", pages_sharing_a_heavy_stream(200), BOMB_LIMITS)
    assert reason == "took longer than 4 s to read (limit: RAG_READ_TIMEOUT_S)"
    assert BOMB_LIMITS.timeout_s <= seconds < BOMB_LIMITS.timeout_s + SLACK_S and growth < 100


@pytest.mark.slow
def test_a_parser_needing_more_memory_than_the_cap_is_stopped(folder: Path):
    data = inflating_pdf(b"BT /F1 12 Tf 72 720 Td (harbour) Tj ET\n" * 1000, 1500)  # inflates to 60 MB
    reason, _, growth = read_bomb(folder, "big.pdf", data, ReadLimits(timeout_s=20, memory_mb=40))
    assert "RAG_READ_MEMORY_MB" in reason, reason
    assert growth < 100


@pytest.mark.slow
def test_a_million_nested_html_tags(folder: Path):
    data = b"<html><body>" + b"<div>" * 1_000_000 + b"deep text in the harbour" + b"</div>" * 1_000_000
    path = folder / "nested.html"
    path.write_bytes(data)
    started = time.perf_counter()
    growth = parent_growth_mb(lambda: check_file(folder, "nested.html", data))
    assert time.perf_counter() - started < LIMITS.timeout_s + SLACK_S and growth < 200


@pytest.mark.slow
def test_a_20_mb_single_line_of_text(folder: Path):
    data = b"harbour " * 2_500_000  # 20 MB, no newline
    reason, seconds, growth = read_bomb(folder, "line.txt", data, ReadLimits())  # default: 10 M characters
    assert reason == "has more than 10,000,000 characters of text (limit: RAG_READ_MAX_CHARS)"
    assert seconds < 10 and growth < 100  # read in the child, not here
    doc = load_document(folder / "line.txt", limits=ReadLimits(max_chars=30_000_000))
    assert len(doc.text) == len(data) - 1  # the trailing space stripped


@pytest.mark.slow
def test_indexing_a_folder_of_bombs_goes_on_with_the_rest(tmp_path: Path):
    from rag import Index, Settings
    from rag.testing import FakeEmbedder

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_bytes(CORPUS_TEXT[0])
    (folder / "bomb.pdf").write_bytes(inflating_pdf(bytes(1 << 20), 200))
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00\xd8")  # a UTF-16 BOM, then a lone surrogate
    (folder / "comment.html").write_bytes(b"<!-- nothing but a comment -->")
    index = Index(tmp_path / "index", Settings(chunk_size=120, chunk_overlap=16), embedder=FakeEmbedder())
    report = index.sync([folder])
    assert report.added == ["good.txt"]
    assert len(report.problems) == 3 and all("\n" not in line for line in report.problems), report.problems
