"""JSON files (every value, one per line, under its key path) and Jupyter notebooks (their Markdown and code cells),
through the standard library's ``json``.

    >>> print("\\n".join(json_lines({"title": "Ferries", "routes": [{"to": "Somes", "fare": 12}], "tags": ["a", "b"]})))
    title: Ferries
    routes.to: Somes
    routes.fare: 12
    tags: a, b
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DocumentError

_CELL_TYPES = ("markdown", "code", "raw")


def _load(data: bytes, path: str) -> object:
    from ..documents import decode

    try:
        return json.loads(decode(data, path))
    except json.JSONDecodeError as exc:
        raise DocumentError(path, f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def _scalar(value: object) -> str:
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def json_lines(value: object) -> list[str]:
    """``key.path: value`` for every string, number and boolean; a list of plain values on one line."""
    lines: list[str] = []
    stack: list[tuple[str, object]] = [("", value)]
    while stack:  # depth-first without recursion: nesting depth is the file's to choose
        key, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{key}.{k}" if key else str(k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list) and all(not isinstance(v, dict | list) for v in item):
            if item:
                lines.append(f"{key}: {', '.join(map(_scalar, item))}" if key else ", ".join(map(_scalar, item)))
        elif isinstance(item, list):
            stack.extend((key, v) for v in reversed(item))
        elif item is not None and str(item).strip():
            lines.append(f"{key}: {_scalar(item)}" if key else _scalar(item))
    return lines


def read_json(data: bytes, path: str) -> tuple[list[str], str | None]:
    """A JSON file's values, one line each; the title is a top-level ``title`` or ``name``, else the file's name."""
    value = _load(data, path)
    title = next((value[k] for k in ("title", "name") if isinstance(value, dict) and isinstance(value.get(k), str)),
                 None)
    return ["\n".join(json_lines(value))], title or Path(path).name


def read_ipynb(data: bytes, path: str) -> tuple[list[str], str | None]:
    """A notebook's Markdown, code and raw cells (not their outputs), in order; the title is its first heading."""
    from ..documents import _markdown_title

    notebook = _load(data, path)
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if cells is None and isinstance(notebook, dict) and isinstance(notebook.get("worksheets"), list):
        cells = [c for sheet in notebook["worksheets"] if isinstance(sheet, dict) for c in sheet.get("cells", [])]
    if not isinstance(cells, list):
        raise DocumentError(path, "not a Jupyter notebook (no list of cells)")
    kept = [c for c in cells if isinstance(c, dict) and c.get("cell_type") in _CELL_TYPES]
    text = "\n\n".join(t for t in map(_source, kept) if t.strip())
    prose = "\n\n".join(_source(c) for c in kept if c.get("cell_type") == "markdown")
    return [text], _markdown_title(prose)  # not a code cell's '# comment'


def _source(cell: dict) -> str:
    source = cell.get("source", cell.get("input", ""))
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""
