"""Tables as readable text: one row per line, each value with its column's header.

A chunk cut from the middle of a long table then still says what each number is.

    >>> print("\\n".join(table_lines([["City", "Ferries", ""], ["Wellington", 12, None], ["", "", ""]])))
    City: Wellington; Ferries: 12
    >>> table_lines([["Only a header"]])
    ['Only a header']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def cell_text(value: object) -> str:
    """A cell's value as one line of text ('' for empty); whole floats lose their '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def table_lines(rows: Iterable[Sequence[object]]) -> list[str]:
    """The first non-empty row is the header; every later row becomes ``Header: value; Header: value``.

    A column without a header is named by its number (``Column 3``); empty cells are left out, and so
    are empty rows. A table of a header alone gives that header's line.
    """
    header: list[str] | None = None
    lines: list[str] = []
    for row in rows:
        cells = [cell_text(value) for value in row]
        if not any(cells):
            continue
        if header is None:
            header = cells
            continue
        names = header + [""] * (len(cells) - len(header))
        lines.append("; ".join(f"{names[i] or f'Column {i + 1}'}: {cell}" for i, cell in enumerate(cells) if cell))
    if header is not None and not lines:
        return ["; ".join(cell for cell in header if cell)]
    return lines
