"""Load files into documents: decode, extract (HTML, PDF), normalise, clean, and describe.

The cleaned ``Document.text`` is the text every character offset in the index refers to.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .clean import clean_text, guess_title, is_furniture
from .errors import DocumentError

SUPPORTED_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html", ".pdf": "pdf"}

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PAGE_BREAK = "\n\n"


@dataclass(frozen=True)
class Document:
    """A cleaned document. ``pages`` holds the offset where each PDF page starts (empty otherwise)."""

    doc_id: str
    title: str
    text: str
    source: str
    sha256: str
    mtime: float
    size: int
    pages: tuple[int, ...] = field(default=())

    def page_at(self, offset: int) -> int | None:
        """1-based page number containing ``offset``, or None for documents without pages."""
        if not self.pages:
            return None
        return bisect_right(self.pages, offset)


def normalize(text: str) -> str:
    """NFC, Unix newlines, no zero-width or control characters, non-breaking spaces as spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\f", "\n\n")
    return _CONTROL.sub("", text)


def decode(data: bytes, path: str) -> str:
    """UTF-8 first (with or without BOM), then the encoding charset-normalizer detects."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
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
    match = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def _html(data: bytes, path: str) -> tuple[str, str | None]:
    import trafilatura
    from lxml import html as lxml_html

    markup = decode(data, path)
    extracted = trafilatura.bare_extraction(
        markup, include_comments=False, include_tables=True, favor_recall=True, with_metadata=True
    )
    # typed Document | dict | None; a Document here (as_dict is False by default)
    text = extracted.text if extracted is not None and extracted.text else None  # pyright: ignore[reportAttributeAccessIssue]
    title = extracted.title if extracted is not None else None  # pyright: ignore[reportAttributeAccessIssue]
    tree = lxml_html.fromstring(markup) if markup.strip() else None
    if text is None and tree is not None:  # trafilatura declines tiny pages; keep their visible text
        for bad in tree.xpath("//script|//style|//noscript"):
            bad.drop_tree()
        text = tree.text_content()
    if tree is not None:
        page_title = tree.findtext(".//title")
        title = (page_title or "").strip() or title
    return text or "", title


def _pdf(path: Path) -> tuple[list[str], str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise DocumentError(str(path), "encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise DocumentError(str(path), f"unreadable PDF ({exc.__class__.__name__})") from None
    return pages, str(title).strip() if title else None


def load_document(path: Path | str, doc_id: str | None = None) -> Document:
    """Read, extract and clean one file. Raises ``DocumentError`` with a one-line reason."""
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
    title: str | None = None
    page_starts: tuple[int, ...] = ()
    if kind == "pdf":
        raw_pages, title = _pdf(path)
        cleaned_pages = [clean_text(normalize(p)) for p in raw_pages]
        starts, parts, offset = [], [], 0
        for page in cleaned_pages:
            starts.append(offset)
            parts.append(page)
            offset += len(page) + len(_PAGE_BREAK)
        text, page_starts = _PAGE_BREAK.join(parts), tuple(starts)
    else:
        if kind == "html":
            raw, title = _html(data, str(path))
        else:
            raw = decode(data, str(path))
        text = clean_text(normalize(raw))
        if kind == "markdown":
            title = _markdown_title(text)
    if not text.strip():
        raise DocumentError(str(path), "no text found after extraction and cleaning")
    if title and is_furniture(title.strip()):
        title = None
    return Document(
        doc_id=doc_id,
        title=(title or guess_title(text) or doc_id).strip(),
        text=text,
        source=str(path.resolve()),
        sha256=hashlib.sha256(data).hexdigest(),
        mtime=stat.st_mtime,
        size=stat.st_size,
        pages=page_starts,
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
