"""How answers and passages are matched against a gold set (normalisation shared by every metric)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2032": "'",
                         "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u00a0": " "})


def normalize(text: str) -> str:
    """Lower case, NFKC, one kind of quote and dash, single spaces, no thousands separators."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return " ".join(text.split())


def matches_all(answer: str, must_include: Sequence[str]) -> bool:
    """True when every element (alternatives separated by ``|``) occurs in the answer."""
    text = normalize(answer)
    return all(any(normalize(alt) in text for alt in element.split("|")) for element in must_include)


def passage_is_relevant(passage: str, evidence: Sequence[str]) -> bool:
    """The passage holds an evidence quote, or a contiguous half of one (quotes straddle chunks)."""
    text = normalize(passage)
    for quote in evidence:
        q = normalize(quote)
        if q in text:
            return True
        half = max(1, len(q) // 2)
        # A contiguous span of at least half the quote: look for any window of that length.
        for i in range(0, len(q) - half + 1):
            if q[i : i + half] in text:
                return True
    return False


# ---------------------------------------------------------------- SQuAD-style answer scores

_MARKERS = re.compile(r"\s*\[\d+\]")
_PUNCTUATION = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def strip_markers(answer: str) -> str:
    """The answer without its ``[n]`` citation markers (they are not words of the answer)."""
    return _MARKERS.sub("", answer)


def exact_match(prediction: str, truths: Sequence[str]) -> float:
    """1.0 when the prediction equals one of the gold answers after SQuAD normalisation."""
    pred = squad_normalize(strip_markers(prediction))
    return float(any(pred == squad_normalize(t) for t in truths))


def token_f1(prediction: str, truths: Sequence[str]) -> float:
    """SQuAD token F1: the best over the gold answers of the bag-of-tokens F1 after normalisation."""
    pred = squad_normalize(strip_markers(prediction)).split()
    best = 0.0
    for truth in truths:
        gold = squad_normalize(truth).split()
        common = Counter(pred) & Counter(gold)
        same = sum(common.values())
        if same:
            precision, recall = same / len(pred), same / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(prediction: str, truths: Sequence[str]) -> bool:
    """A sentence-long answer holds a gold span (after SQuAD normalisation): what EM cannot see."""
    text = f" {squad_normalize(strip_markers(prediction))} "
    return any(f" {squad_normalize(t)} " in text for t in truths if squad_normalize(t))
