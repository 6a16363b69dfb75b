"""PowerPoint (.pptx) through python-pptx: one page per slide, its title first, then text, tables and notes."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ..locations import Anchor
from .tables import table_lines
from .zipguard import check_zip

if TYPE_CHECKING:
    from pptx.shapes.base import BaseShape
    from pptx.slide import Slide


def read_pptx(data: bytes, path: str) -> tuple[list[str], str | None, list[list[Anchor]]]:
    """Each slide's text as a page, the title (the properties' one, else the first slide's title) and each page's
    slide number."""
    from pptx import Presentation

    check_zip(data, path)
    deck = Presentation(io.BytesIO(data))
    pages, first_title = [], None
    for slide in deck.slides:
        title = _title(slide)
        first_title = first_title or title
        pages.append("\n".join(_slide_lines(slide, title)))
    anchors: list[list[Anchor]] = [[(None, "slide", number)] for number in range(1, len(pages) + 1)]
    return pages, deck.core_properties.title or first_title, anchors


def _title(slide: Slide) -> str | None:
    shape = slide.shapes.title
    text = shape.text_frame.text.strip() if shape is not None and shape.has_text_frame else ""
    return " ".join(text.split()) or None


def _slide_lines(slide: Slide, title: str | None) -> list[str]:
    lines = [title] if title else []
    title_id = slide.shapes.title.shape_id if slide.shapes.title is not None else None
    for shape in _shapes(slide.shapes):
        if shape.shape_id == title_id:
            continue
        if shape.has_text_frame:  # pyright: ignore[reportAttributeAccessIssue]
            lines.extend(p.text for p in shape.text_frame.paragraphs)  # pyright: ignore[reportAttributeAccessIssue]
        elif getattr(shape, "has_table", False):
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]  # pyright: ignore[reportAttributeAccessIssue]
            lines.extend(table_lines(rows))
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        lines.extend(["", *slide.notes_slide.notes_text_frame.text.split("\n")])
    return lines


def _shapes(shapes: Iterable[BaseShape]) -> Iterator[BaseShape]:
    """Every shape, those inside groups included, in the slide's order."""
    for shape in shapes:
        if getattr(shape, "shapes", None) is not None:  # a group
            yield from _shapes(shape.shapes)  # pyright: ignore[reportAttributeAccessIssue]
        else:
            yield shape
