"""Queries by the bundled model's ONNX export (issue 15): the same vectors and hits as torch, no torch imported on
the one-shot ``rag search`` path, and torch again, silently, whenever the export is missing, stale or unreadable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Index
from rag.embedding import SentenceTransformerEmbedder, bundled_model_path
from rag.onnx_file import GRAPH, RECORD, current_onnx, export_dir, fingerprint, sizes
from rag.retriever import Retriever, search_json

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "transformers")


def torch_says(texts: list[str]) -> np.ndarray:
    """What the torch path would answer, without loading torch: a vector no export would give."""
    return np.full((len(texts), 384), 1 / np.sqrt(384), dtype=np.float32)


def embedder_in(cache: Path, monkeypatch: pytest.MonkeyPatch, **kwargs) -> SentenceTransformerEmbedder:
    monkeypatch.setenv("RAG_MODEL_DIR", str(cache))
    embedder = SentenceTransformerEmbedder(**kwargs)
    monkeypatch.setattr(embedder, "_encode", torch_says)
    return embedder


def fake_export(cache: Path, graph: bytes = b"not a graph") -> Path:
    """An export folder that passes the record check (right key, right sizes) but holds no model."""
    fp = fingerprint()
    assert fp is not None, "the bundled model's install record should name its files"
    folder = export_dir(fp, cache)
    folder.mkdir(parents=True)
    (folder / GRAPH).write_bytes(graph)
    (folder / (GRAPH + ".data")).write_bytes(b"\0" * 16)
    (folder / RECORD).write_text(json.dumps({"fingerprint": fp, "sizes": sizes(folder)}))
    return folder


def test_without_the_export_queries_go_to_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    embedder = embedder_in(tmp_path, monkeypatch)
    assert current_onnx() is None
    assert np.array_equal(embedder.embed_batch(["Which countries could join Pillar 2?"]), torch_says(["q"]))
    assert embedder.query_backend == "torch"


def test_an_export_that_will_not_load_falls_back_to_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake_export(tmp_path)
    embedder = embedder_in(tmp_path, monkeypatch)
    assert current_onnx() is not None  # it looks current: only onnxruntime can tell it is no model
    assert np.array_equal(embedder.embed_batch(["a query"]), torch_says(["q"]))
    assert embedder.query_backend == "torch"


def test_a_stale_or_cut_export_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_MODEL_DIR", str(tmp_path))
    folder = fake_export(tmp_path)
    assert current_onnx() == folder / GRAPH
    with (folder / (GRAPH + ".data")).open("ab") as f:  # the weights changed size since the record was written
        f.write(b"\0")
    assert current_onnx() is None
    record = json.loads((folder / RECORD).read_text())
    record["sizes"] = sizes(folder)
    record["fingerprint"]["version"] = "0.0.1"  # made for another version of the model's package
    (folder / RECORD).write_text(json.dumps(record))
    assert current_onnx() is None


class StubEncoder:
    """Stands in for onnxruntime: a vector torch would never give."""

    def __init__(self, model_dir: Path, onnx_file: Path) -> None:
        self.onnx_file = onnx_file

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.eye(len(texts), 384, dtype=np.float32)


def test_queries_use_the_export_of_the_bundled_model_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake_export(tmp_path)
    monkeypatch.setattr("rag.onnx_query.OnnxQueryEncoder", StubEncoder)
    default = embedder_in(tmp_path, monkeypatch)
    assert default.query_backend == "onnx"
    assert np.array_equal(default.embed_batch(["a query"]), np.eye(1, 384, dtype=np.float32))
    assert np.array_equal(default.embed(["a passage"]), torch_says(["a passage"]))  # what the index stores: torch
    for other in (embedder_in(tmp_path, monkeypatch, model=bundled_model_path()),  # a model folder given
                  embedder_in(tmp_path, monkeypatch, fast_queries=False)):
        assert other.query_backend == "torch"
        assert np.array_equal(other.embed_batch(["a query"]), torch_says(["q"]))


def test_importing_rag_loads_no_onnxruntime():
    code = "import sys, rag, rag.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'onnxruntime'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "tests")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- the real model

TEXTS = ["Which countries could join Pillar 2?", "PILLAR TWO", "pillar two", "", " ", "\n\t", "?",
         "Ünïcödé — naïve café, Zürich, São Paulo", "東京の港はどこですか", "Какие страны могут присоединиться?",
         "emoji 😀🚢 and symbols ±≠∞", "AUKUS Pillar 2 covers hypersonics, quantum, AI, cyber and undersea. " * 40,
         "Short.", "New Zealand\u00a0is\u200bnot nuclear-armed."]


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export made as `make install` makes it, into a cache folder of its own (about 10 s)."""
    from rag.onnx_export import export

    cache = tmp_path_factory.mktemp("model-cache")
    path, distance = export(cache)
    assert path.exists() and distance is not None and distance < 1e-4
    assert export(cache) == (path, None)  # made once: the second call keeps it
    return cache


@pytest.mark.integration
def test_onnx_and_torch_vectors_agree(export_cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_MODEL_DIR", str(export_cache))
    fast, slow = SentenceTransformerEmbedder(), SentenceTransformerEmbedder(fast_queries=False)
    assert fast.query_backend == "onnx" and slow.query_backend == "torch"
    assert fast.count_tokens(TEXTS[11]) > 256  # the long text is cut, as torch cuts it
    want = slow.embed_batch(TEXTS)
    for got in (fast.embed_batch(TEXTS), np.concatenate([fast.embed_batch([t]) for t in TEXTS])):
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
        distance = 1 - (got * want).sum(axis=1)
        assert distance.max() < 1e-3, dict(zip(TEXTS, distance.round(6), strict=True))
    assert 1 - float(want[1] @ want[2]) < 1e-6  # lowercased before it is split, like the model's tokenizer
    assert np.array_equal(fast.embed(TEXTS[:2]), slow.embed(TEXTS[:2]))  # documents: torch either way


@pytest.mark.integration
def test_search_by_onnx_finds_what_torch_finds(real_index: Index, export_cache: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_MODEL_DIR", str(export_cache))
    fast = Retriever(Index(real_index.path, embedder=SentenceTransformerEmbedder()))
    slow = Retriever(Index(real_index.path, embedder=SentenceTransformerEmbedder(fast_queries=False)))
    assert fast.index.embedder.query_backend == "onnx"  # type: ignore[attr-defined]
    for query in ("Which countries could join Pillar 2?", "When was AUKUS announced?", "nuclear-powered submarines",
                  "Zürich café 東京"):
        for mode in ("hybrid", "dense"):
            got, want = fast.search(query, k=8, mode=mode), slow.search(query, k=8, mode=mode)
            assert [(h.chunk_id, h.start, h.end) for h in got] == [(h.chunk_id, h.start, h.end) for h in want]
            assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-5)


@pytest.mark.integration
def test_a_one_shot_search_imports_no_torch(real_index: Index, export_cache: Path):
    query = "Which countries could join Pillar 2?"
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}), "
            "file=sys.stderr))\n"
            "from rag.cli import main\n"
            f"main(['search', {query!r}, '-k', '3', '--json', '--index', {str(real_index.path)!r}])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "tests",
                          env={**os.environ, "RAG_MODEL_DIR": str(export_cache)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    slow = Retriever(Index(real_index.path, embedder=SentenceTransformerEmbedder(fast_queries=False)))
    got, want = json.loads(done.stdout)["hits"], search_json(query, "hybrid", slow.search(query, k=3))["hits"]
    scores = ("score", "dense_score", "bm25_score")
    assert [{k: v for k, v in h.items() if k not in scores} for h in got] == [
        {k: v for k, v in h.items() if k not in scores} for h in want]
    def numbers(hits: list[dict]) -> list[list[float]]:
        return [[np.nan if h[k] is None else h[k] for k in scores] for h in hits]

    assert np.allclose(numbers(got), numbers(want), atol=1e-5, equal_nan=True)
