"""The words BM25 counts, cut exactly as the folder index's ``bm25s`` tokenizer cuts them (``rag.lexical``):
lower case, runs of two or more word characters, English stop words left out, Snowball English stems.

The store keeps these words in each chunk's ``tsvector``, written as a literal (no PostgreSQL text search
configuration re-cuts them), so both stores score the same words and their BM25 rankings agree.

    >>> terms("The ferries leave at 7:45, running every morning.")
    ['ferri', 'leav', '45', 'run', 'everi', 'morn']
"""

from __future__ import annotations

import re
import threading
from functools import cache

_WORDS = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenization.Tokenizer's default splitter
_LOCK = threading.Lock()  # a PyStemmer stemmer is not safe to share between threads


@cache
def _stop_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """``text``'s BM25 words, in order, repeats kept (a word's count in a chunk is its term frequency)."""
    stop = _stop_words()
    words = [w for w in _WORDS.findall(text.lower()) if w not in stop]
    with _LOCK:
        return _stemmer().stemWords(words)


def tsvector(words: list[str]) -> str:
    """The ``tsvector`` literal of ``words``: each word once, with its positions (1-based), taken as written.

    >>> tsvector(["ferri", "leav", "ferri"])
    "'ferri':1,3 'leav':2"
    """
    positions: dict[str, list[int]] = {}
    for n, word in enumerate(words, 1):
        positions.setdefault(word, []).append(min(n, 16383))  # PostgreSQL's largest position
    return " ".join(f"{_quote(w)}:{','.join(map(str, p[:256]))}" for w, p in positions.items())


def tsquery(words: list[str]) -> str:
    """A ``tsquery`` matching any of ``words`` (each quoted: no word is read as an operator)."""
    return " | ".join(_quote(w) for w in dict.fromkeys(words))


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
