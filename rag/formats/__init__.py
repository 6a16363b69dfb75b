"""Converters from office, e-book, e-mail, spreadsheet and JSON files to text: one module per family, each on a
well-kept library (python-docx, python-pptx, openpyxl, ebooklib with lxml, odfpy, the standard library's ``email``,
``csv`` and ``json``).

Each converter takes a file's bytes and its path and returns its raw pages (one, or one per slide or sheet), its
title (None: none found) and, when the format has them, each page's anchors: where its slides, sheets, rows or
sections start (``rag.locations``); ``rag.documents.extract`` then normalises and cleans the pages and places
the anchors in them. They run in the reader's child
process (``rag.reading``) under its time and memory limits; ZIP containers are checked first (``zipguard``).
"""

from __future__ import annotations

import contextlib
import importlib
import zipfile
from collections.abc import Callable

from ..errors import DocumentError
from ..locations import Anchor

Converted = tuple[list[str], str | None, list[list[Anchor]]]  # pages, title, each page's anchors
Converter = Callable[[bytes, str], tuple[list[str], str | None] | Converted]

# kind -> (module in this package, function)
CONVERTERS = {
    "docx": ("word", "read_docx"),
    "pptx": ("slides", "read_pptx"),
    "xlsx": ("sheets", "read_xlsx"),
    "csv": ("sheets", "read_csv"),
    "epub": ("epub", "read_epub"),
    "odt": ("odt", "read_odt"),
    "eml": ("mail", "read_eml"),
    "json": ("structured", "read_json"),
    "ipynb": ("structured", "read_ipynb"),
}
# The libraries the reader server imports once, so each child starts with them loaded.
LIBRARIES = ["docx", "pptx", "openpyxl", "ebooklib.epub", "odf.opendocument", "email.parser", "csv", "json"]


def converter(kind: str) -> Converter:
    """The function that reads files of ``kind`` (a value of ``rag.documents.SUPPORTED_SUFFIXES``)."""
    module, function = CONVERTERS[kind]
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def convert(kind: str, data: bytes, path: str) -> Converted:
    """The raw pages, title and anchors of a file of ``kind``; a parser's failure becomes a one-line
    ``DocumentError``."""
    try:
        pages, title, *anchors = converter(kind)(data, path)
        return pages, title, anchors[0] if anchors else [[] for _ in pages]
    except (DocumentError, MemoryError, RecursionError):
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DocumentError(path, f"a damaged {kind.upper()} container ({_said(exc)})") from None
    except Exception as exc:
        raise DocumentError(path, f"unreadable {kind.upper()} ({exc.__class__.__name__}: {_said(exc)})") from None


def warm_up() -> None:
    """Write a tiny .docx, .pptx and .xlsx with their own libraries and read each once, so that the libraries'
    lazy set-up (25 to 70 ms each) happens in the reader server before it forks, not in every child."""
    import io

    import docx
    import openpyxl
    import pptx

    for kind, document in (("docx", docx.Document()), ("pptx", pptx.Presentation()), ("xlsx", openpyxl.Workbook())):
        buf = io.BytesIO()
        document.save(buf)
        with contextlib.suppress(DocumentError):  # no text in it: read all the same
            convert(kind, buf.getvalue(), "warm-up")


def _said(exc: BaseException) -> str:
    """The exception's message as one short line of printable characters."""
    said = "".join(c if c.isprintable() else " " for c in str(exc))
    return " ".join(said.split())[:120] or "no detail"
