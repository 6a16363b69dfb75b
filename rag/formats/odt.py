"""OpenDocument text (.odt) through odfpy: headings, paragraphs, lists and tables in order; the title from meta."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

from ..errors import DocumentError
from ..locations import Anchor
from .tables import table_lines
from .zipguard import check_zip

_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def read_odt(data: bytes, path: str) -> tuple[list[str], str | None, list[list[Anchor]]]:
    """The document body's text as one page, a table row per line with its header; the title is ``dc:title``;
    the headings (``text:h``) anchor sections."""
    from odf import dc
    from odf.opendocument import load

    if "content.xml" not in check_zip(data, path).namelist():
        raise DocumentError(path, "not an OpenDocument file (it has no content.xml)")
    with contextlib.redirect_stdout(io.StringIO()):  # odfpy prints a part it cannot parse before raising
        document = load(io.BytesIO(data))
    body = document.text  # pyright: ignore[reportAttributeAccessIssue]  (set by load, not declared)
    lines = list(_lines(body))
    titles = document.meta.getElementsByType(dc.Title)
    title = str(titles[0]) if titles else None
    return ["\n".join(lines)], title or _first_heading(body), [_headings(body)]


def _lines(node: object) -> Iterator[str]:
    """Depth-first over the body: a paragraph or heading gives its text, a table its rows."""
    from odf import teletype

    stack = list(reversed(getattr(node, "childNodes", [])))
    while stack:
        element = stack.pop()
        qname = getattr(element, "qname", None)
        if qname in ((_TEXT_NS, "p"), (_TEXT_NS, "h")):
            yield teletype.extractText(element)
        elif qname == (_TABLE_NS, "table"):
            yield from table_lines(_rows(element))
        else:
            stack.extend(reversed(getattr(element, "childNodes", [])))


def _rows(table: object) -> list[list[str]]:
    from odf import table as odf_table
    from odf import teletype

    rows = []
    for row in table.getElementsByType(odf_table.TableRow):  # pyright: ignore[reportAttributeAccessIssue]
        cells = row.getElementsByType(odf_table.TableCell)
        rows.append([" ".join(teletype.extractText(p) for p in cell.childNodes) for cell in cells])
    return rows


def _headings(body: object) -> list[Anchor]:
    from odf import teletype
    from odf import text as odf_text

    texts = (teletype.extractText(h).strip() for h in body.getElementsByType(odf_text.H))  # pyright: ignore[reportAttributeAccessIssue]
    return [(text, "section", " ".join(text.split())) for text in texts if text]


def _first_heading(body: object) -> str | None:
    from odf import teletype
    from odf import text as odf_text

    headings = body.getElementsByType(odf_text.H)  # pyright: ignore[reportAttributeAccessIssue]
    return teletype.extractText(headings[0]) if headings else None
