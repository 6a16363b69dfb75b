"""Where in a document a passage is: the place a person would look for it (``p. 3``, ``slide 4``,
``Sheet1, rows 2–9``, ``§ Heading``).

A document carries *marks*: ``(offset, kind, value)`` in its cleaned text, sorted by offset, each saying that
from there on the text is on that page, slide, sheet or row, or under that heading. A passage's location is
derived from its span and the marks (``describe``), so spans stay exact and a location never has to be stored
per chunk.

Readers do not know offsets in the cleaned text (normalising and cleaning come after them), so they give
*anchors* instead: ``(line, kind, value)``, the text of the line where a mark goes (``None``: the start of the
page). ``place`` finds them in the cleaned page, in order: a row must be the next line (a row the cleaner
dropped, a repeat of the one before, is left out), a heading the next line with its text.

    >>> marks = [(0, "slide", 1), (40, "slide", 2), (90, "slide", 3)]
    >>> describe(marks, 10, 30), describe(marks, 35, 95)
    ('slide 1', 'slides 1–3')
    >>> describe([(0, "sheet", "Sales"), (12, "row", 2), (30, "row", 3), (50, "row", 4)], 13, 45)
    'Sales, rows 2–3'
    >>> describe([(0, "section", "Intro"), (100, "section", "Method")], 90, 150)
    '§ Intro'
    >>> place("Sheet: S\\nA: 1\\nA: 1\\n\\nA: 2", [("Sheet: S", "sheet", "S"), ("A: 1", "row", 2),
    ...       ("A: 1", "row", 3), ("A: 2", "row", 4)])
    [(0, 'sheet', 'S'), (9, 'row', 2), (14, 'row', 3), (20, 'row', 4)]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

Value = int | str
Mark = tuple[int, str, Value]  # (offset in the cleaned text, kind, value)
Anchor = tuple[str | None, str, Value]  # (the line where the mark goes, None for the page's start; kind; value)

KINDS = ("page", "slide", "sheet", "row", "section")
_RANGE = "\u2013"  # en dash, as in "pp. 3–4"
_NAMES = {"page": ("p.", "pp."), "slide": ("slide", "slides")}


def page_marks(starts: Iterable[int]) -> list[Mark]:
    """The marks of a PDF's pages, from the offset where each page starts (``Document.pages``)."""
    return [(offset, "page", number) for number, offset in enumerate(starts, 1)]


def place(page: str, anchors: Sequence[Anchor], base: int = 0) -> list[Mark]:
    """The marks of ``anchors`` in a cleaned ``page`` that starts at ``base`` in the document.

    Anchors are matched in order, line by line (whitespace runs compared as one space): a ``row`` anchor only
    against the next non-blank line, any other against the next line with its text at or after the previous
    anchor's line. An anchor not found is left out.
    """
    lines, offsets, where = [], [], {}
    offset = 0
    for line in page.split("\n"):
        key = " ".join(line.split())
        if key:
            where.setdefault(key, []).append(len(lines))
            lines.append(key)
            offsets.append(offset)
        offset += len(line) + 1
    marks: list[Mark] = []
    at = 0  # the first line an anchor may take
    for text, kind, value in anchors:
        if text is None:
            marks.append((base, kind, value))
            continue
        key = " ".join(next((part for part in text.split("\n") if part.strip()), "").split())
        if kind == "row":
            found = at if at < len(lines) and lines[at] == key else None
        else:
            candidates = where.get(key, [])
            i = bisect_left(candidates, at)
            found = candidates[i] if i < len(candidates) else None
        if found is not None:
            marks.append((base + offsets[found], kind, value))
            at = found + 1
    return marks


def describe(marks: Sequence[Mark], start: int, end: int) -> str | None:
    """The location of the span ``start:end`` given a document's ``marks`` (sorted by offset), or None.

    Pages and slides give the range the span covers (``p. 3``, ``pp. 3–4``); a spreadsheet its sheet and rows
    (``Sheet1, rows 2–9``; sheets joined by ``;``); a heading the section the span starts in (``§ Heading``, or
    the first heading inside the span when it starts before any).
    """
    if not marks:
        return None
    offsets = [m[0] for m in marks]
    first = max(bisect_right(offsets, start) - 1, 0)
    last = bisect_left(offsets, max(end, start + 1))
    covering = list(marks[first:last])
    if covering and covering[0][1] == "row":  # the sheet the first row is on
        covering[:0] = [m for m in marks[:first] if m[1] == "sheet"][-1:]
    parts = [_pages(covering, kind) for kind in _NAMES] + [_rows(covering), _section(covering)]
    return "; ".join(p for p in parts if p) or None


def _pages(marks: Sequence[Mark], kind: str) -> str | None:
    numbers = [int(v) for _, k, v in marks if k == kind]
    if not numbers:
        return None
    one, many = _NAMES[kind]
    low, high = min(numbers), max(numbers)
    return f"{one} {low}" if low == high else f"{many} {low}{_RANGE}{high}"


def _rows(marks: Sequence[Mark]) -> str | None:
    """``Sheet, rows a–b`` for each sheet the span touches (a CSV has rows and no sheet)."""
    sheets: list[tuple[str | None, list[int]]] = []
    for _, kind, value in marks:
        if kind == "sheet":
            sheets.append((str(value), []))
        elif kind == "row":
            if not sheets:
                sheets.append((None, []))
            sheets[-1][1].append(int(value))
    parts = []
    for sheet, rows in sheets:
        if rows:
            low, high = min(rows), max(rows)
            span = f"row {low}" if low == high else f"rows {low}{_RANGE}{high}"
            parts.append(f"{sheet}, {span}" if sheet is not None else span)
        elif sheet is not None:
            parts.append(sheet)
    return "; ".join(parts) or None


def _section(marks: Sequence[Mark]) -> str | None:
    heading = next((str(v) for _, k, v in marks if k == "section"), None)
    return f"\u00a7 {heading}" if heading else None
