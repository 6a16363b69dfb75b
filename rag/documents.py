"""Load files into documents: decode, extract (HTML, PDF, and the formats of ``rag.formats``), normalise, clean,
and describe.

The cleaned ``Document.text`` is the text every character offset in the index refers to.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING

from .clean import clean_text, guess_title, is_furniture
from .errors import DocumentError
from .formats import CONVERTERS, convert
from .locations import Anchor, Mark, place
from .reading import ReadLimits, read_pages, too_much_text

if TYPE_CHECKING:
    from pypdf import PdfReader

SUPPORTED_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html", ".pdf": "pdf",
                      ".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv", ".epub": "epub",
                      ".odt": "odt", ".eml": "eml", ".json": "json", ".ipynb": "ipynb"}

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PAGE_BREAK = "\n\n"
_MD_HEADING = re.compile(r"^#{1,2}[^\S\n]+(\S[^\n]*)", re.MULTILINE)
# Any ATX heading ("### Costs ##"), and a setext one (a line underlined with = or -), for sections.
_MD_SECTION = re.compile(r"^ {0,3}#{1,6}[^\S\n]+([^\n]*)$"
                         r"|^ {0,3}([^\s#>=-][^\n]*)\n {0,3}(?:=+|-+)[^\S\n]*$", re.MULTILINE)
_HTML_HEADINGS = "//h1|//h2|//h3|//h4|//h5|//h6"
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_TITLE_CHARS = 200


@dataclass(frozen=True)
class Document:
    """A cleaned document. ``pages`` holds the offset where each PDF page starts (empty otherwise); ``marks``
    where each slide, sheet, row or section starts (``rag.locations``)."""

    doc_id: str
    title: str
    text: str
    source: str
    sha256: str
    mtime: float
    size: int
    pages: tuple[int, ...] = field(default=())
    marks: tuple[Mark, ...] = field(default=())

    def page_at(self, offset: int) -> int | None:
        """1-based page number containing ``offset``, or None for documents without pages."""
        if not self.pages:
            return None
        return bisect_right(self.pages, offset)


def normalize(text: str) -> str:
    """NFC, Unix newlines, no zero-width or control characters (C0 and C1), non-breaking spaces as spaces.

    Characters are removed before composing, so that what is left is NFC (``e``, a zero-width space
    and a combining accent compose to ``é``).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_ZERO_WIDTH)
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\f", "\n\n")
    return unicodedata.normalize("NFC", _CONTROL.sub("", text))


def decode(data: bytes, path: str) -> str:
    """UTF-8 first (with or without BOM), then the encoding charset-normalizer detects."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentError(path, f"invalid UTF-16 at byte {exc.start} (the file starts with a UTF-16 "
                                      "byte order mark)") from None
    if b"\x00" in data[:8192]:
        raise DocumentError(path, "binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None:
        raise DocumentError(path, "cannot detect the text encoding")
    # Single-byte encodings are hard to tell apart on short texts (French cp1252 scores as Baltic
    # cp1257). Windows-1252 is by far the commonest: prefer it when it is nearly as good.
    western = next((m for m in results if m.encoding == "cp1252"), None)
    if western is not None and western.chaos <= best.chaos + 0.05:
        best = western
    return str(best)


def _markdown_title(text: str) -> str | None:
    """The first level-1 or level-2 ATX heading, without its closing ``#``s (linear: one line at a time)."""
    match = _MD_HEADING.search(text)
    if match is None:
        return None
    heading = match.group(1).rstrip()
    return heading.rstrip("#").rstrip() or heading


def _markdown_sections(text: str) -> list[Anchor]:
    """The anchors of a Markdown page's headings, ATX (``## Costs``) and setext (underlined)."""
    anchors: list[Anchor] = []
    for match in _MD_SECTION.finditer(text):
        heading = " ".join((_without_closing(match.group(1)) if match.group(1) is not None
                            else match.group(2)).split())
        if heading:
            anchors.append((match.group(0).split("\n")[0], "section", heading))
    return anchors


def _without_closing(atx: str) -> str:
    """An ATX heading's text without its closing ``#``s (``C#`` keeps its own: they must follow a space)."""
    text = atx.rstrip()
    bare = text.rstrip("#")
    return bare.rstrip() if bare != text and (not bare or bare[-1].isspace()) else text


def _html(data: bytes, path: str) -> tuple[str, str | None, list[Anchor]]:
    import trafilatura
    from lxml import html as lxml_html
    from lxml.etree import ParserError

    markup = _XML_DECLARATION.sub("", decode(data, path), count=1)  # lxml refuses str with an encoding declaration
    extracted = trafilatura.bare_extraction(
        markup, include_comments=False, include_tables=True, favor_recall=True, with_metadata=True
    )
    # typed Document | dict | None; a Document here (as_dict is False by default)
    text = extracted.text if extracted is not None and extracted.text else None  # pyright: ignore[reportAttributeAccessIssue]
    title = extracted.title if extracted is not None else None  # pyright: ignore[reportAttributeAccessIssue]
    try:
        tree = lxml_html.fromstring(markup) if markup.strip() else None
    except ParserError:  # markup without a single element: a comment, a doctype
        tree = None
    if text is None and tree is not None:  # trafilatura declines tiny pages; keep their visible text
        for bad in tree.xpath("//script|//style|//noscript"):
            bad.drop_tree()
        text = tree.text_content()
    anchors: list[Anchor] = []
    if tree is not None:
        page_title = tree.findtext(".//title")
        title = (page_title or "").strip() or title
        for heading in tree.xpath(_HTML_HEADINGS):
            said = " ".join(heading.text_content().split())
            if said:
                anchors.append((said, "section", said))
    return text or "", title, anchors


def _pdf(data: bytes, path: str, max_chars: int) -> tuple[list[str], str | None]:
    import logging

    from pypdf.errors import LimitReachedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a malformed file's warnings: its skipped line says enough
    try:
        return _pdf_pages(data, path, max_chars)
    except LimitReachedError as exc:  # pypdf's own guards: inflating past 75 MB, cycles, too many entries
        said = " ".join(str(exc).split())[:120]
        if "decompress" in said.lower():
            said = "a stream inflates past its limit: a decompression bomb?"
        raise DocumentError(path, f"exceeds a safety limit of the PDF parser ({said})") from None


def _pdf_pages(data: bytes, path: str, max_chars: int) -> tuple[list[str], str | None]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise DocumentError(path, "encrypted PDF")
    pages, total = [], 0
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        total += len(pages[-1])
        if total > max_chars:
            raise DocumentError(path, too_much_text(max_chars))
    return pages, _pdf_title(reader)


def _pdf_title(reader: PdfReader) -> str | None:
    """The document information's /Title, or None, also when that dictionary is malformed: the text counts more."""
    try:
        title = (reader.metadata or {}).get("/Title")
        return str(title) if isinstance(title, str) else None  # not a dangling reference's NullObject ("None")
    except Exception:
        return None


def _raw_pages(kind: str, data: bytes, path: str, max_chars: int) -> tuple[list[str], str | None, list[list[Anchor]]]:
    if kind == "pdf":
        pages, title = _pdf(data, path, max_chars)
        return pages, title, [[] for _ in pages]  # the page starts are the marks (Document.pages)
    if kind == "html":
        text, title, anchors = _html(data, path)
        return [text], title, [anchors]
    if kind in CONVERTERS:
        return convert(kind, data, path)
    text = decode(data, path)
    return [text], None, [_markdown_sections(text) if kind == "markdown" else []]


def _title(found: str | None, text: str) -> str | None:
    """One line of at most 200 characters: the file's own title unless it is furniture, else a guess."""
    found = " ".join(normalize(found or "").split())
    if not found or is_furniture(found):
        found = " ".join(guess_title(text).split())
    return found[:_TITLE_CHARS] or None


def extract(kind: str, data: bytes, path: str, max_chars: int) -> tuple[list[str], str | None, list[Mark]]:
    """The cleaned text of a file's pages (one page, or one per PDF page, slide or sheet), its title (None: none
    found) and its marks: offsets in the pages joined by ``_PAGE_BREAK`` where slides, sheets, rows or
    sections start (``rag.locations``).

    Raises ``DocumentError`` for a file without usable text or with more than ``max_chars`` characters.
    Runs in a child process for all but small text and Markdown files (``rag.reading``); parsers may raise
    anything there.
    """
    raw, title, anchors = _raw_pages(kind, data, path, max_chars)
    if sum(map(len, raw)) > max_chars:
        raise DocumentError(path, too_much_text(max_chars))
    pages = [clean_text(normalize(page)) for page in raw]
    if sum(map(len, pages)) + len(_PAGE_BREAK) * (len(pages) - 1) > max_chars:
        raise DocumentError(path, too_much_text(max_chars))
    if not any(page.strip() for page in pages):
        raise DocumentError(path, "no text found after extraction and cleaning")
    if kind == "markdown":
        title = _markdown_title(pages[0])
    marks: list[Mark] = []
    for page, wanted, start in zip(pages, anchors, _starts(pages), strict=False):
        marks += place(page, [(normalize(a) if a is not None else None, k, v) for a, k, v in wanted], start)
    return pages, _title(title, _PAGE_BREAK.join(pages)), marks


def _starts(pages: list[str]) -> list[int]:
    """The offset where each page starts in the pages joined by ``_PAGE_BREAK``."""
    return list(accumulate((len(p) + len(_PAGE_BREAK) for p in pages[:-1]), initial=0))


def load_document(path: Path | str, doc_id: str | None = None, limits: ReadLimits | None = None) -> Document:
    """Read, extract and clean one file within ``limits`` (default: ``ReadLimits()``, from the environment).

    Raises ``DocumentError`` with a one-line reason: unsupported, empty, binary, undecodable, unreadable,
    too much text, or the parser took too long, needed too much memory or crashed (``rag.reading``).
    """
    path = Path(path)
    doc_id = doc_id or path.name
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(str(path), f"unsupported file type {path.suffix or '(none)'!r}; "
                                       f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    try:
        data = path.read_bytes()
        stat = path.stat()
    except OSError as exc:
        raise DocumentError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise DocumentError(str(path), "empty file")
    pages, title, marks = read_pages(kind, data, str(path), limits or ReadLimits())
    starts = _starts(pages)
    return Document(
        doc_id=doc_id,
        title=title or doc_id,
        text=_PAGE_BREAK.join(pages),
        source=str(path.resolve()),
        sha256=hashlib.sha256(data).hexdigest(),
        mtime=stat.st_mtime,
        size=stat.st_size,
        pages=tuple(starts) if kind == "pdf" else (),
        marks=tuple(marks),
    )


def find_files(paths: Iterable[Path | str]) -> tuple[list[tuple[Path, str]], list[str]]:
    """Expand files and folders into ``(path, doc_id)`` pairs, plus one problem line per bad path.

    A document's id is its path relative to the folder given (its file name for a file given
    directly), with ``/`` separators, so the same corpus yields the same ids on any machine.
    Hidden files and folders are skipped; files of unsupported types inside folders are ignored.
    """
    found: dict[str, Path] = {}
    problems: list[str] = []
    for root in map(Path, paths):
        if not root.exists():
            problems.append(f"{root}: no such file or folder")
            continue
        if root.is_file():
            candidates = [(root, root.name)]
        else:
            candidates = [
                (p, p.relative_to(root).as_posix())
                for p in sorted(root.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
            ]
            if not candidates:
                problems.append(f"{root}: no supported files ({', '.join(sorted(SUPPORTED_SUFFIXES))})")
        for path, doc_id in candidates:
            if doc_id in found and found[doc_id].resolve() != path.resolve():
                problems.append(f"{path}: skipped, document id {doc_id!r} is already taken by {found[doc_id]}")
                continue
            found[doc_id] = path
    return [(p, d) for d, p in found.items()], problems
