"""Embedding queries without torch: the ONNX export of the bundled model run by onnxruntime.

The graph is the sentence-transformers pipeline itself (transformer, mean pooling over the attention mask,
L2 normalisation; see ``rag.onnx_export``), so only the tokenisation is done here, with the model's own
``tokenizer.json`` in the fast ``tokenizers`` library: its normaliser lowercases as the model's tokenizer does,
texts are cut at the model's ``max_seq_length`` (256 word pieces, longest first, from the right) and a batch is
padded to its longest text with [PAD] (id 0), as sentence-transformers does. Loading takes about 0.1 s
(torch and sentence-transformers: about 5 s).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class OnnxQueryEncoder:
    """Turns texts into the same unit vectors as ``SentenceTransformer(model_dir).encode(normalize_embeddings=True)``.

    Raises ``ImportError`` when onnxruntime or tokenizers is missing, and onnxruntime's errors for a bad file.
    """

    def __init__(self, model_dir: Path, onnx_file: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        limit = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(limit), strategy="longest_first", direction="right")
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", direction="right")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: a warning on stderr would look like a failure to the user
        self.session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A float32 array of shape (len(texts), dim), L2-normalised rows."""
        if not texts:
            return np.zeros((0, self.session.get_outputs()[0].shape[-1]), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
        (vectors,) = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})
        return np.asarray(vectors, dtype=np.float32)
