"""Word (.docx) through python-docx: paragraphs and tables in document order; the title from the properties;
headings (paragraphs styled ``Heading N`` or ``Title``) as the anchors of sections."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..locations import Anchor
from .tables import table_lines
from .zipguard import check_zip

if TYPE_CHECKING:
    from docx.document import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

_TITLE_STYLES = ("Title", "Heading 1")
_TITLE_WITHIN = 20  # paragraphs searched for a title style (looking a style up costs about 0.7 ms)


def read_docx(data: bytes, path: str) -> tuple[list[str], str | None, list[list[Anchor]]]:
    """The body's text as one page (a table row per line, with its header), the document's title and its
    headings."""
    import docx
    from docx.table import Table

    check_zip(data, path)
    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    heading: str | None = None
    anchors: list[Anchor] = []
    is_heading = _HeadingStyles(document)
    for number, block in enumerate(document.iter_inner_content()):
        if isinstance(block, Table):
            lines.extend(table_lines(_rows(block)))
            lines.append("")
            continue
        text = block.text.strip()
        if heading is None and text and number < _TITLE_WITHIN and _styled_as_title(block):
            heading = text
        if text and is_heading(block._p.style):
            anchors.append((text, "section", " ".join(text.split())))
        lines.append(text)
    return ["\n".join(lines)], document.core_properties.title or heading, [anchors]


class _HeadingStyles:
    """Whether a paragraph style id names a heading, each id looked up once: the id is read from the paragraph's
    XML for free, resolving a paragraph's style object costs about 0.7 ms."""

    def __init__(self, document: Document) -> None:
        self._styles = document.styles.element
        self._known: dict[str | None, bool] = {None: False}

    def __call__(self, style_id: str | None) -> bool:
        if style_id not in self._known:
            style = self._styles.get_by_id(style_id)
            name = (style.name_val or "").lower() if style is not None else ""
            self._known[style_id] = name == "title" or name.startswith("heading")
        return self._known[style_id]


def _styled_as_title(paragraph: Paragraph) -> bool:
    style = paragraph.style
    return style is not None and style.name in _TITLE_STYLES


def _rows(table: Table) -> list[list[str]]:
    """Each row's cells, a merged cell once (python-docx repeats it for every grid column it spans)."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(cell.text)
        rows.append(cells)
    return rows
