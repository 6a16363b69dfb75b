"""Uploaded files: safe names, type and size checks, stored in a folder the server controls."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from .documents import SUPPORTED_SUFFIXES

MAX_UPLOAD_MB = 20


def safe_name(name: str) -> str:
    """A file name that cannot leave the uploads folder: base name only, plain characters, no leading dot."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")
    return base[:120] or "upload"


def store_uploads(files: Sequence[str], uploads: Path, max_mb: float = MAX_UPLOAD_MB) -> tuple[list[Path], list[str]]:
    """Copy uploaded temp files into ``uploads`` under safe names; return the stored paths and one
    problem line per refused file (wrong type, too large), naming it."""
    uploads.mkdir(parents=True, exist_ok=True)
    stored, problems = [], []
    for tmp in files:
        tmp = Path(tmp)
        name = safe_name(tmp.name)
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            problems.append(f"{name}: not a supported type (use {', '.join(sorted(SUPPORTED_SUFFIXES))})")
            continue
        size = tmp.stat().st_size
        if size > max_mb * 1_000_000:
            problems.append(f"{name}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit")
            continue
        target = uploads / name
        if not target.resolve().is_relative_to(uploads.resolve()):
            problems.append(f"{name}: refused (unsafe name)")
            continue
        part = uploads / f".{name}.part"  # hidden: never indexed, and swept by unfinished_parts()
        shutil.copyfile(tmp, part)
        part.replace(target)  # a server killed mid-copy leaves a .part, never a truncated document
        stored.append(target)
    return stored, problems


def unfinished_parts(uploads: Path) -> list[Path]:
    """Copies a killed server left half-written in ``uploads`` (they are never indexed)."""
    return sorted(uploads.glob(".*.part")) if uploads.is_dir() else []
