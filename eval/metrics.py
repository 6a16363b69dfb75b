"""Ranking and latency metrics over plain values: one rank (or None) per question in, named numbers out."""

from __future__ import annotations

import math
from collections.abc import Sequence


def retrieval_metrics(ranks: Sequence[int | None], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``ranks``: per question, the 1-based rank of the first relevant result, or None if none was
    retrieved. recall@k is the share with a relevant result in the top k; MRR and nDCG@10 count the
    first relevant result (one relevant item per question, as in SQuAD; ideal DCG is 1)."""
    n = len(ranks)
    if not n:
        return {}
    out = {f"recall@{k}": sum(r is not None and r <= k for r in ranks) / n for k in ks}
    out["mrr"] = sum(1 / r for r in ranks if r is not None) / n
    out["ndcg@10"] = sum(1 / math.log2(r + 1) for r in ranks if r is not None and r <= 10) / n
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 1]); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def mean(values: Sequence[float]) -> float | None:
    """The mean, or None when there is nothing to average (a metric that does not apply)."""
    return sum(values) / len(values) if values else None
