"""How far to trust a shown answer: a per-question confidence from the signals a run records, and the
risk-coverage curve, operating points and reliability (expected calibration error) computed from it.

Reporting only (issue 13, "calibrated abstention"): the assistant abstains exactly as before; this says what
a confidence threshold on top of it would do. The confidence is the probability that the answer shown is right
(an answered unanswerable question is always wrong; an abstention shows no answer and has no confidence), from
a logistic regression on the row's ``signals`` fitted with stratified k-fold cross-validation (fixed seed):
each question's confidence comes from the model fitted on the *other* folds, never on itself. With too few
answered questions, or only right (or only wrong) ones, nothing is fitted and a single signal stands in for it
(the lowest judge P(yes), else the lowest lexical support, else the best dense score).

    >>> risk_coverage([0.9, 0.8, None, 0.4], [True, False, None, False])
    [(0.9, 0.25, 0.0), (0.8, 0.5, 0.5), (0.4, 0.75, 0.6667)]
    >>> expected_calibration_error([0.2, 0.2, 0.8, 0.8], [False, True, True, True], bins=10)
    0.25
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The numeric signals a row records (harness._signals) that the model reads; "quoted" is read as 0/1.
FEATURES = ("best_dense", "best_bm25", "dense_margin", "support_mean", "support_min", "judge_min", "n_supported",
            "quoted")
FOLDS = 5
SEED = 0
MIN_ANSWERED = 10         # fewer answered questions than this: no model, a single signal instead
MIN_PER_CLASS = 2         # ... and the same with fewer than this many right, or wrong, answers
BINS = 10                 # equal-width confidence bins of the reliability diagram and the ECE
RISK_TARGETS = (0.05, 0.10, 0.20)
FALLBACKS = (("judge_min", "the lowest judge P(yes) of the answer's sentences"),
             ("support_min", "the lowest lexical support of the answer's sentences"),
             ("best_dense", "the best dense retrieval score"))


@dataclass(frozen=True)
class Fit:
    """Per row, the confidence that its shown answer is right (None: abstained, nothing shown), and how."""

    confidence: list[float | None]
    method: str                   # one line for the report
    features: tuple[str, ...]     # the signals it read
    folds: int                    # cross-validation folds; 0 when no model was fitted


def shown_right(row: dict[str, Any]) -> bool | None:
    """Whether the answer shown is right: None for an abstention; an answered unanswerable question is wrong."""
    if row["abstained"]:
        return None
    return bool(row["answerable"] and row["verdicts"].get("correct"))


def fit_confidence(rows: Sequence[dict[str, Any]], folds: int = FOLDS, seed: int = SEED) -> Fit:
    """Out-of-fold confidences for the answered rows (see the module's docstring)."""
    answered = [i for i, r in enumerate(rows) if shown_right(r) is not None]
    labels = [bool(shown_right(rows[i])) for i in answered]
    features = tuple(f for f in FEATURES if any(_signal(rows[i], f) is not None for i in answered))
    right = sum(labels)
    minority = min(right, len(labels) - right)
    confidence: list[float | None] = [None] * len(rows)
    if len(answered) < MIN_ANSWERED or minority < MIN_PER_CLASS or not features:
        why = (f"{len(answered)} answered questions, {right} right" if answered and features
               else "no answered question records signals" if answered else "no answered question")
        return _fallback(rows, answered, why)

    import numpy as np
    from sklearn.model_selection import cross_val_predict

    x = np.array([[_number(_signal(rows[i], f)) for f in features] for i in answered], dtype=float)
    y = np.array(labels, dtype=int)
    k = max(2, min(folds, minority))
    with warnings.catch_warnings():  # a fold where a signal never varies is fine: it just carries no weight
        warnings.simplefilter("ignore")
        p = np.asarray(cross_val_predict(model(), x, y, cv=splitter(k, seed), method="predict_proba"))
    for i, value in zip(answered, p[:, 1], strict=True):
        confidence[i] = round(float(value), 4)
    return Fit(confidence, f"logistic regression on {', '.join(features)}; {k}-fold stratified cross-validation "
                           f"(seed {seed}), out-of-fold predictions only", features, k)


def model() -> Any:
    """The small model: missing signals imputed by the training folds' median, standardised, logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                         LogisticRegression(C=1.0, max_iter=1000))


def splitter(folds: int = FOLDS, seed: int = SEED) -> Any:
    """The folds: stratified (each keeps the share of right answers), shuffled with a fixed seed."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def _fallback(rows: Sequence[dict[str, Any]], answered: list[int], why: str) -> Fit:
    confidence: list[float | None] = [None] * len(rows)
    for name, words in FALLBACKS:
        if any(_signal(rows[i], name) is not None for i in answered):
            for i in answered:
                value = _signal(rows[i], name)
                confidence[i] = round(min(1.0, max(0.0, float(value))), 4) if value is not None else 0.0
            return Fit(confidence, f"no model fitted ({why}): the confidence is {words}, nothing fitted", (name,), 0)
    return Fit(confidence, f"no confidence ({why})", (), 0)


def _signal(row: dict[str, Any], name: str) -> Any:
    value = (row.get("signals") or {}).get(name)
    if isinstance(value, bool):
        return float(value)
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def risk_coverage(confidence: Sequence[float | None], right: Sequence[bool | None],
                  n_total: int | None = None) -> list[tuple[float, float, float]]:
    """(threshold, coverage, risk) as the threshold lowers through each distinct confidence: keep only the
    answers with confidence ≥ threshold. Coverage is the share of all ``n_total`` questions (default: one per
    entry) answered, risk the share of those answers that are wrong. Entries without a confidence (the
    assistant abstained) are never answered; coverage only grows down the list."""
    n_total = len(confidence) if n_total is None else n_total
    pairs = sorted(((c, bool(r)) for c, r in zip(confidence, right, strict=True) if c is not None),
                   key=lambda p: -p[0])
    out: list[tuple[float, float, float]] = []
    wrong = 0
    for answered, (c, r) in enumerate(pairs, 1):
        wrong += not r
        if answered == len(pairs) or pairs[answered][0] != c:
            out.append((c, round(answered / n_total, 4), round(wrong / answered, 4)))
    return out


def operating_points(curve: Sequence[tuple[float, float, float]],
                     targets: Sequence[float] = RISK_TARGETS) -> list[dict[str, Any]]:
    """The run as it was (every answer kept), the widest coverage whose risk stays within each target, and
    the threshold 0.5; ``threshold`` None (and coverage 0) where no threshold reaches a target."""
    if not curve:
        return []
    points = [{"point": "as run (every answer kept)", **_point(curve[-1])}]
    for target in targets:
        within = [p for p in curve if p[2] <= target]
        best = max(within, key=lambda p: p[1]) if within else None
        points.append({"point": f"risk ≤ {target:.2f}",
                       **(_point(best) if best else {"threshold": None, "coverage": 0.0, "risk": None})})
    half = [p for p in curve if p[0] >= 0.5]
    points.append({"point": "confidence ≥ 0.5",
                   **(_point(half[-1]) if half else {"threshold": None, "coverage": 0.0, "risk": None})})
    return points


def _point(p: tuple[float, float, float]) -> dict[str, Any]:
    return {"threshold": p[0], "coverage": p[1], "risk": p[2]}


def reliability(confidence: Sequence[float | None], right: Sequence[bool | None],
                bins: int = BINS) -> list[dict[str, Any]]:
    """Per non-empty equal-width bin of confidence: its range, count, mean confidence and observed accuracy."""
    groups: dict[int, list[tuple[float, bool]]] = {}
    for c, r in zip(confidence, right, strict=True):
        if c is not None:
            groups.setdefault(min(int(c * bins), bins - 1), []).append((c, bool(r)))
    return [{"low": b / bins, "high": (b + 1) / bins, "n": len(g), "confidence": sum(c for c, _ in g) / len(g),
             "accuracy": sum(r for _, r in g) / len(g)} for b, g in sorted(groups.items())]


def expected_calibration_error(confidence: Sequence[float | None], right: Sequence[bool | None],
                               bins: int = BINS) -> float | None:
    """Σ over bins of (share of answers in the bin) * |accuracy - mean confidence|; None with no answers."""
    table = reliability(confidence, right, bins)
    n = sum(b["n"] for b in table)
    if not n:
        return None
    return round(sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in table), 4)
