"""The vector store interface and its FAISS implementation.

The retriever and the index writer only use ``VectorStore``; a store for a corpus that outgrows one
machine can replace ``FaissStore`` without touching them. Vectors are unit length, so inner product
is cosine similarity. Ids are our stable chunk ids (int64).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class VectorStore(Protocol):
    """What the rest of the package needs from a vector store."""

    kind: str

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def search(self, vector: np.ndarray, k: int, allowed: Sequence[int] | None = None
               ) -> list[tuple[int, float]]: ...

    def save(self, path: Path) -> None: ...


class FaissStore:
    """``IndexIDMap2(IndexFlatIP)``: exact search, for up to ``ann_threshold`` vectors.
    ``IndexIVFFlat`` (inner product): approximate search above it, trained on the vectors it is
    built from, probing ``nprobe`` lists. Both support removal by id, so updates stay incremental.
    """

    def __init__(self, index, nprobe: int = 32) -> None:
        self._index = index
        self.nprobe = nprobe

    @property
    def kind(self) -> str:
        return "ivf" if "IVF" in type(self._index).__name__ else "flat"

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @classmethod
    def exact(cls, dim: int) -> FaissStore:
        import faiss

        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def approximate(cls, ids: np.ndarray, vectors: np.ndarray, nprobe: int = 32) -> FaissStore:
        """An IVF index trained on ``vectors`` with √n lists (at least 39 training points each).

        Measured on 20,000 clustered 64-d vectors: √n lists with nprobe 32 gave recall@10 0.996
        against exact search; 4·√n lists gave 0.93 (see tests/test_vectorstore.py).
        """
        import faiss

        n, dim = vectors.shape
        nlist = max(1, min(int(np.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(vectors, dtype=np.float32))
        store = cls(index, nprobe)
        store.add(ids, vectors)
        return store

    @classmethod
    def load(cls, path: Path, nprobe: int = 32) -> FaissStore:
        import faiss

        return cls(faiss.read_index(str(path)), nprobe)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def copy(self) -> FaissStore:
        import faiss

        return FaissStore(faiss.clone_index(self._index), self.nprobe)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                     np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> None:
        import faiss

        if len(ids):
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors by id (exact store only; used to rebuild as another kind)."""
        return np.vstack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else \
            np.zeros((0, self.dim), dtype=np.float32)

    def search(self, vector: np.ndarray, k: int, allowed: Sequence[int] | None = None
               ) -> list[tuple[int, float]]:
        """Top ``k`` (id, score) pairs for one query vector, optionally among ``allowed`` ids only."""
        import faiss

        if len(self) == 0 or k < 1:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)) if allowed is not None else None
        # faiss's SWIG classes take their fields as keyword arguments, which its generated stubs do not declare
        if self.kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.nprobe, sel=selector)  # pyright: ignore[reportCallIssue]
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None  # pyright: ignore[reportCallIssue]
        # One query on one thread: FAISS's OpenMP threads cost far more than they save on a single query, and on a
        # busy machine they wait for each other (eval/bench_scale.py, 20,000 vectors with the other cores loaded:
        # exact search p50 36 ms on 2 threads, 0.9 ms on 1). Concurrent searches still use every core.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # this thread's setting only (OpenMP keeps it per thread), restored below
        try:
            scores, ids = self._index.search(query, min(k, len(self)), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))
