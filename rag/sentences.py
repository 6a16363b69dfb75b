"""Sentences with exact spans, and the content words used to compare a claim with a passage.

Shared by the extractive generator (which picks sentences), citation verification (which checks
that a sentence's words are in the passage it cites) and highlighting (which finds the passage
sentence that supports an answer sentence).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

# A sentence ends at . ! or ? (optionally followed by closing quotes or brackets, or a citation
# marker like [2]) and then whitespace and an upper-case letter, digit, quote or opening bracket.
# Abbreviations that often precede a capital ("Mr. Smith", "U.S. Navy") are not ends.
_END = re.compile("[.!?]['\"\u2019\u201d)\\]]*(?:\\s*\\[\\d+\\])*(?=\\s+(?!\\[\\d+\\])['\"\u2018\u201c(\\[]?[A-Z0-9])"
                  "|\\n\\s*\\n|\\n(?=\\s*[-*\u2022]\\s)")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sen|Rep|Gen|Col|Lt|Capt|Gov|St|Jr|Sr|No|vs|etc|Inc|Ltd|Co)"
                     r"|\b(?:[A-Z]\.){1,3}[A-Z]?)\.?$")
_WORD = re.compile("[^\\W_]+(?:[.,'\u2019][^\\W_]+)*")

_STOP_TEXT = """
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not of off on once only
or other our ours ourselves out over own same she should so some such than that the their theirs them themselves
then there these they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yourself yourselves said says say according would also may might must shall
states stated article articles commentary piece author mentioned mentions reportedly passage passages document documents
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


# The verbs that attribute words to a speaker ("…," Nagy said. / Albanese told reporters …), one list for every rule
# that looks for who speaks (``rag.context.leans_on``, ``rag.asks.speakers``).
SAYING = r"(?:said|says|saying|told|added|adds|wrote|stressed|warned|argued|claimed|noted)"


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Sentences of ``text`` with spans in ``text`` (+ ``offset``): ``text[s.start - offset:s.end - offset]``."""
    out: list[Sentence] = []
    start = 0
    for match in _END.finditer(text):
        end = match.end()
        if _ABBREV.search(text[start:match.start() + 1]) and text[match.start()] == ".":
            continue
        _append(out, text, start, end, offset)
        start = end
    _append(out, text, start, len(text), offset)
    return out


def _append(out: list[Sentence], text: str, start: int, end: int, offset: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    s = start + lead
    out.append(Sentence(s + offset, s + len(stripped) + offset, stripped))


@cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased word tokens; numbers keep their inner separators ("1,677" -> "1677")."""
    return [w.replace(",", "").replace("\u2019", "'") for w in _WORD.findall(text.lower())]


def content_terms(text: str) -> set[str]:
    """Stemmed words minus stop words and citation numbers: what a claim asserts."""
    text = re.sub(r"\[\d+\]", " ", text)
    kept = [w for w in words(text) if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
    return set(_stemmer().stemWords(kept))


def idf_overlap(question: str, texts: Sequence[str]) -> list[float]:
    """For each text, the idf-weighted share of the question's content terms it contains.

    Idf is taken over ``texts`` themselves: a question word every candidate shares tells nothing.
    """
    q_terms = content_terms(question)
    terms = [content_terms(t) for t in texts]
    idf = {t: math.log(1 + len(texts) / (1 + sum(t in ts for ts in terms))) for t in q_terms}
    total = sum(idf.values()) or 1.0
    return [sum(idf[t] for t in q_terms & ts) / total for ts in terms]


def names(text: str) -> set[str]:
    """Capitalised words after the first, lower-cased: the people, places and bodies a sentence names."""
    tokens = re.findall(r"[A-Za-z][\w-]*", re.sub(r"\[\d+\]", " ", text))
    return {t.lower() for t in tokens[1:] if t[0].isupper() and t.lower() not in STOP_WORDS}


def all_words(text: str) -> set[str]:
    """Every word of ``text``, lower-cased, split as ``names`` splits them, and the parts of a hyphenated one:
    "a Chicago-based think tank" holds "Chicago".

    >>> sorted(all_words("a Chicago-based think-tank"))
    ['a', 'based', 'chicago', 'chicago-based', 'tank', 'think', 'think-tank']
    """
    tokens = {t.lower() for t in re.findall(r"[A-Za-z][\w-]*", text)}
    return tokens | {part for t in tokens if "-" in t for part in t.split("-") if part}


def numbers(text: str) -> set[str]:
    """Numbers mentioned in ``text`` ("1,677" and "1677" are the same), citation markers excluded."""
    text = re.sub(r"\[\d+\]", " ", text)
    return {n.replace(",", "") for n in re.findall(r"\d+(?:[.,]\d+)*", text)}


def support(claim: str, evidence: str, given: str = "") -> float:
    """Share of the claim's content terms that occur in ``evidence`` (1.0 for a claim with none).

    Terms the claim shares with ``given`` (the question) are context, not news: when the claim adds
    anything beyond them, only what it adds is counted, so "Pillar 2 spans eight capability areas"
    is judged on "eight", the part that could be invented.
    """
    terms = content_terms(claim)
    new = terms - content_terms(given) if given else terms
    terms = new or terms
    if not terms:
        return 1.0
    return len(terms & content_terms(evidence)) / len(terms)
