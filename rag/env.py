"""The one module that reads the environment. Every variable the project honours is named here.

| variable | meaning | default |
|---|---|---|
| ``RAG_INDEX`` | the index folder | ``index`` (in the current directory) |
| ``RAG_STORE`` | a PostgreSQL store (``postgresql://…``) used instead of the default index folder | none |
| ``RAG_SHARE`` | ``I/N``: this ``rag index`` writes the I-th of N shares of its files (a PostgreSQL store) | all |
| ``RAG_API_KEY`` | the API key of ``rag serve`` / ``rag api`` | none: loopback only |
| ``RAG_MODEL_DIR`` | where the answer model is assembled, and probe verdicts kept | ``$XDG_CACHE_HOME/rag-assistant`` |
| ``XDG_CACHE_HOME`` | the user's cache folder | ``~/.cache`` |
| ``RAG_LLAMA_EXTRA_BUFTS`` | llama.cpp's extra buffer types: ``auto``, ``on``, ``off`` | ``auto`` |
| ``RAG_SQUAD`` | the SQuAD v1.1 dev file of ``rag bench squad`` | the fetched copy in the cache |
| ``RAG_READ_TIMEOUT_S`` | seconds one file may take to read (``rag.reading``) | 30 |
| ``RAG_READ_MEMORY_MB`` | memory the child parsing one file may add, in MB | 1024 |
| ``RAG_READ_MAX_CHARS`` | characters of text one file may yield | 10000000 |

    >>> get("RAG_NOT_SET_ANYWHERE", "the default")
    'the default'
    >>> EXTRA_BUFTS
    'RAG_LLAMA_EXTRA_BUFTS'
"""

from __future__ import annotations

import os
from pathlib import Path

INDEX = "RAG_INDEX"
STORE = "RAG_STORE"
API_KEY = "RAG_API_KEY"
MODEL_DIR = "RAG_MODEL_DIR"
EXTRA_BUFTS = "RAG_LLAMA_EXTRA_BUFTS"
SQUAD = "RAG_SQUAD"
READ_TIMEOUT = "RAG_READ_TIMEOUT_S"
READ_MEMORY = "RAG_READ_MEMORY_MB"
READ_MAX_CHARS = "RAG_READ_MAX_CHARS"


def get(name: str, default: str = "") -> str:
    """``$name`` stripped, or ``default`` when unset or blank."""
    return os.environ.get(name, "").strip() or default


def index_dir() -> Path:
    """``$RAG_INDEX`` if set, else ``index/`` in the current directory."""
    return Path(get(INDEX, "index"))


def store() -> str:
    """``$RAG_STORE`` (a ``postgresql://`` URL that replaces the default index folder), or ""."""
    return get(STORE)


def cache_dir() -> Path:
    """This project's cache: ``$XDG_CACHE_HOME/rag-assistant`` (default ``~/.cache/rag-assistant``)."""
    return Path(get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag-assistant"


def model_dir() -> Path:
    """``$RAG_MODEL_DIR``, else the cache folder: where the answer model is assembled."""
    return Path(get(MODEL_DIR)) if get(MODEL_DIR) else cache_dir()


def api_key() -> str | None:
    """``$RAG_API_KEY``, or None."""
    return get(API_KEY) or None


def extra_bufts() -> str:
    """``$RAG_LLAMA_EXTRA_BUFTS`` lower-cased (validated by ``rag.probe``), default ``auto``."""
    return get(EXTRA_BUFTS, "auto").lower()


def squad_file() -> Path | None:
    """``$RAG_SQUAD``, or None."""
    return Path(get(SQUAD)) if get(SQUAD) else None


def offline() -> dict[str, str]:
    """Make Hugging Face libraries in this process (and its children) never reach for a model hub."""
    flags = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    os.environ.update(flags)
    return flags
