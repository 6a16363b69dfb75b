"""BM25 over chunk texts with ``bm25s`` (English stop words, Snowball stemming).

Built in memory from the chunk texts when an index is first searched (tens of milliseconds for
thousands of chunks), so it can never disagree with the chunks on disk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BM25Index:
    def __init__(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        import bm25s
        import Stemmer

        self._ids = np.asarray(ids, dtype=np.int64)
        self._position = {int(i): p for p, i in enumerate(self._ids)}
        self._tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))
        self._bm25 = bm25s.BM25()
        if len(texts):
            tokens = self._tokenizer.tokenize(list(texts), return_as="ids", show_progress=False)
            self._bm25.index(tokens, show_progress=False)

    def search(self, query: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, score) pairs with a positive score."""
        if not len(self._ids) or k < 1:
            return []
        tokens = self._tokenizer.tokenize([query], return_as="ids", update_vocab=False, show_progress=False)
        # bm25s types tokenize()'s result as a union over every return_as; "ids" gives a list of lists
        if not tokens or not tokens[0]:  # pyright: ignore[reportIndexIssue]
            return []
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self._ids), dtype=np.float32)
            mask[[self._position[i] for i in allowed if i in self._position]] = 1.0
        # the same union for tokens; and weight_mask defaults to None but is annotated as an array
        docs, scores = self._bm25.retrieve(tokens, k=min(k, len(self._ids)), show_progress=False,  # pyright: ignore[reportArgumentType]
                                           weight_mask=mask)  # pyright: ignore[reportArgumentType]
        return [(int(self._ids[d]), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
