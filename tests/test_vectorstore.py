from __future__ import annotations

import numpy as np

from rag import FaissStore


def clustered(n: int, dim: int = 64, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres: a stand-in for sentence embeddings, which cluster by topic."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_store_add_remove_filter(tmp_path):
    vectors = clustered(200)
    ids = np.arange(1000, 1200)
    store = FaissStore.exact(64)
    store.add(ids, vectors)
    assert store.search(vectors[5], 1)[0][0] == 1005
    store.remove([1005])
    assert 1005 not in [i for i, _ in store.search(vectors[5], 10)]
    assert {i for i, _ in store.search(vectors[5], 10, allowed=[1010, 1011])} == {1010, 1011}
    store.save(tmp_path / "v.faiss")
    loaded = FaissStore.load(tmp_path / "v.faiss")
    assert len(loaded) == 199 and loaded.kind == "flat"


def test_ivf_recall_against_exact_search():
    """Recall@10 of the approximate index against exact search, on 20,000 clustered vectors."""
    data, queries = clustered(20_000), clustered(200, seed=1)
    ids = np.arange(len(data))
    exact = FaissStore.exact(64)
    exact.add(ids, data)
    ivf = FaissStore.approximate(ids, data, nprobe=32)
    assert ivf.kind == "ivf"
    found = total = 0
    for q in queries:
        truth = {i for i, _ in exact.search(q, 10)}
        found += len(truth & {i for i, _ in ivf.search(q, 10)})
        total += 10
    recall = found / total
    print(f"IVF recall@10 vs exact: {recall:.3f}")
    assert recall >= 0.95
    ivf.remove([0, 1, 2])
    assert len(ivf) == len(data) - 3
