"""How answers and passages are matched against a gold set (normalisation shared by every metric)."""

from __future__ import annotations

import re
import unicodedata
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
