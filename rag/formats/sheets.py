"""Spreadsheets: .xlsx through openpyxl (one page per sheet) and .csv through the standard library's ``csv``.

Each row becomes one line naming every value's column (``rag.formats.tables``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import DocumentError
from ..locations import Anchor
from .tables import table_rows
from .zipguard import check_zip

_DELIMITERS = ",;\t|"


def read_xlsx(data: bytes, path: str) -> tuple[list[str], str | None, list[list[Anchor]]]:
    """Each sheet's cached values as a page headed ``Sheet: NAME``; the title: the workbook's, else the file name;
    anchors: each sheet and each row's number in it."""
    from openpyxl import load_workbook

    check_zip(data, path)
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    pages, anchors = [], []
    for sheet in book.worksheets:
        if hasattr(sheet, "reset_dimensions"):  # a stated size of A1:XFD1048576 would pad every row to 16,384 cells
            sheet.reset_dimensions()  # pyright: ignore[reportAttributeAccessIssue]
        rows = table_rows(sheet.iter_rows(values_only=True))  # from row 1, empty rows included
        if rows:
            head = f"Sheet: {sheet.title}"
            pages.append("\n".join([head, *(line for line, _ in rows)]))
            anchors.append([(head, "sheet", sheet.title), *((line, "row", number) for line, number in rows)])
    book.close()
    return pages or [""], book.properties.title or Path(path).name, anchors or [[]]


def read_csv(data: bytes, path: str) -> tuple[list[str], str | None, list[list[Anchor]]]:
    """The rows of a CSV file (delimiter detected: comma, semicolon, tab or bar); the title is the file's name;
    anchors: each line's record number (the header is row 1)."""
    from ..documents import decode

    text = decode(data, path)
    try:
        dialect = csv.Sniffer().sniff(text[:20_000], delimiters=_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    try:
        rows = table_rows(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as exc:
        raise DocumentError(path, f"malformed CSV ({' '.join(str(exc).split())[:120]})") from None
    return ["\n".join(line for line, _ in rows)], Path(path).name, [[(line, "row", n) for line, n in rows]]
