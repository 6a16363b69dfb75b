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
    return [line for line, _ in table_rows(rows)]


def table_rows(rows: Iterable[Sequence[object]]) -> list[tuple[str, int]]:
    """``table_lines`` with the 1-based number of the row each line comes from (the header's, for a table
    of a header alone).

    >>> table_rows([[], ["City", "Ferries"], ["Picton", 3], [None, None], ["Nelson", 1]])
    [('City: Picton; Ferries: 3', 3), ('City: Nelson; Ferries: 1', 5)]
    """
    header: list[str] | None = None
    header_row = 0
    lines: list[tuple[str, int]] = []
    for number, row in enumerate(rows, 1):
        cells = [cell_text(value) for value in row]
        if not any(cells):
            continue
        if header is None:
            header, header_row = cells, number
            continue
        names = header + [""] * (len(cells) - len(header))
        lines.append(("; ".join(f"{names[i] or f'Column {i + 1}'}: {cell}" for i, cell in enumerate(cells) if cell),
                      number))
    if header is not None and not lines:
        return [("; ".join(cell for cell in header if cell), header_row)]
    return lines
