"""EPUB through ebooklib: the spine's XHTML documents in reading order, as text by lxml; the title from the metadata."""

from __future__ import annotations

import io
import warnings

from .zipguard import check_zip

# Elements after which a line ends, so paragraphs, headings, list items and cells do not run together.
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "td", "th", "br", "blockquote", "pre",
           "section", "article", "header", "footer", "aside", "figcaption", "dt", "dd", "table", "ul", "ol", "hr"}


def xhtml_text(markup: bytes) -> str:
    """The visible text of an XHTML document, a line per block element (no scripts or styles)."""
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
        if isinstance(element.tag, str) and QName(element).localname.lower() in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
    return tree.text_content()


def read_epub(data: bytes, path: str) -> tuple[list[str], str | None]:
    """The book's documents in spine order as one page; the title is the metadata's ``dc:title``."""
    from ebooklib import ITEM_DOCUMENT, epub

    check_zip(data, path)
    with warnings.catch_warnings():  # ebooklib warns about its own defaults changing
        warnings.simplefilter("ignore")
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    parts = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is not None and item.get_type() == ITEM_DOCUMENT:
            parts.append(xhtml_text(item.get_content()))
    titles = book.get_metadata("DC", "title")
    title = titles[0][0] if titles and isinstance(titles[0][0], str) else None
    return ["\n\n".join(parts)], title
