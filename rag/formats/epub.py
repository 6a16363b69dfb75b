"""EPUB through ebooklib: the spine's XHTML documents in reading order, as text by lxml; the title from the metadata."""

from __future__ import annotations

import io
import warnings

from ..locations import Anchor
from .zipguard import check_zip

# Elements after which a line ends, so paragraphs, headings, list items and cells do not run together.
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "td", "th", "br", "blockquote", "pre",
           "section", "article", "header", "footer", "aside", "figcaption", "dt", "dd", "table", "ul", "ol", "hr"}


_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def xhtml_text(markup: bytes, headings: list[Anchor] | None = None) -> str:
    """The visible text of an XHTML document, a line per block element (no scripts or styles); its headings'
    anchors are appended to ``headings``."""
    from lxml import html
    from lxml.etree import ParserError, QName

    if not markup.strip():
        return ""
    try:
        tree = html.fromstring(markup)
    except (ParserError, ValueError):  # no element at all
        return ""
    for bad in tree.xpath("//script|//style|//head"):
        bad.drop_tree()
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        name = QName(element).localname.lower()
        if name in _HEADINGS and headings is not None:
            text = " ".join(element.text_content().split())
            if text:
                headings.append((element.text_content(), "section", text))
        if name in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
    return tree.text_content()


def read_epub(data: bytes, path: str) -> tuple[list[str], str | None, list[list[Anchor]]]:
    """The book's documents in spine order, a page each (so that a heading is looked for in its own document, not
    in a table of contents before it); the title is the metadata's ``dc:title``; headings anchor sections."""
    from ebooklib import ITEM_DOCUMENT, epub

    check_zip(data, path)
    with warnings.catch_warnings():  # ebooklib warns about its own defaults changing
        warnings.simplefilter("ignore")
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    parts: list[str] = []
    anchors: list[list[Anchor]] = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is not None and item.get_type() == ITEM_DOCUMENT:
            headings: list[Anchor] = []
            text = xhtml_text(item.get_content(), headings)
            if text.strip():
                parts.append(text)
                anchors.append(headings)
    titles = book.get_metadata("DC", "title")
    title = titles[0][0] if titles and isinstance(titles[0][0], str) else None
    return parts or [""], title, anchors or [[]]
