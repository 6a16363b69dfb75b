"""Gold question sets: JSON Lines, one question per line, checked on load with errors naming the line.

    {"id": "q01", "question": "...", "answerable": true, "type": "fact",
     "must_include": ["Japan", "South Korea|Korea"], "evidence": ["verbatim quote"],
     "sources": ["000_5e6a84f29a338f7b.txt"], "reference": "A full reference answer."}

``type`` is optional (it groups the accuracy-by-type plot; "unknown" when missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

GOLD = Path(__file__).resolve().parent / "gold" / "aukus.jsonl"
_FIELDS = {"id": str, "question": str, "answerable": bool, "must_include": list, "evidence": list,
           "sources": list, "reference": str}


def load_gold(path: Path | str) -> list[dict[str, Any]]:
    """The questions of a gold file, validated: required keys and types, unique ids, answerable
    questions with evidence and must_include, unanswerable ones with empty lists."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the gold file {path}: {exc.strerror or exc}") from None
    questions, seen = [], set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(q, dict):
            raise ConfigError(f"{where}: expected a JSON object")
        for key, kind in _FIELDS.items():
            if not isinstance(q.get(key), kind):
                raise ConfigError(f"{where}: '{key}' must be a {kind.__name__}, got {q.get(key)!r}")
        if q["id"] in seen:
            raise ConfigError(f"{where}: duplicate id {q['id']!r}")
        seen.add(q["id"])
        if q["answerable"] and not (q["must_include"] and q["evidence"]):
            raise ConfigError(f"{where}: an answerable question needs must_include and evidence")
        if not q["answerable"] and (q["must_include"] or q["evidence"]):
            raise ConfigError(f"{where}: an unanswerable question must have empty must_include and evidence")
        questions.append({**q, "type": q.get("type") or "unknown"})
    if not questions:
        raise ConfigError(f"{path} holds no questions")
    return questions
