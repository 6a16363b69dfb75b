"""Near-duplicate passages across documents: word 5-gram shingles, MinHash LSH, exact Jaccard.

A reprint rarely copies a whole article: it copies runs of paragraphs, in between text of its
own. So we work in two steps. ``segment`` cuts every document at the edges of runs of lines that
another document also carries, in the same order; chunking each segment on its own then yields
the same chunks for the same run in both documents. ``group_chunks`` finally joins chunks of
different documents whose Jaccard similarity reaches the threshold; search shows one per group.

datasketch's LSH only proposes candidates; every pair is confirmed with exact Jaccard.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

SHINGLE = 5
MIN_WORDS = 8  # shorter lines and chunks are too small to call duplicates
NUM_PERM = 128
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = SHINGLE) -> frozenset[str]:
    """Lower-cased word n-grams (the whole text when shorter than n words)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _similar_pairs(items: Sequence[tuple[object, str, frozenset[str]]],
                   threshold: float) -> Iterator[tuple[int, int, float]]:
    """Yield (i, j, jaccard) for items of different owners with Jaccard >= threshold."""
    from datasketch import MinHash, MinHashLSH

    if len(items) < 2:
        return
    lsh = MinHashLSH(threshold=threshold * 0.9, num_perm=NUM_PERM)  # a little lower: LSH is approximate
    hashes = MinHash.bulk([[s.encode() for s in sh] for _, _, sh in items], num_perm=NUM_PERM)
    for i, mh in enumerate(hashes):
        lsh.insert(i, mh)
    for i, mh in enumerate(hashes):
        for j in cast(list[int], lsh.query(mh)):  # datasketch types keys as Hashable; ours are the ints inserted
            if j > i and items[i][0] != items[j][0]:
                score = jaccard(items[i][2], items[j][2])
                if score >= threshold:
                    yield i, j, score


@dataclass(frozen=True)
class _Line:
    doc: str
    index: int  # position among the document's lines
    start: int
    end: int


def _lines(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def segment(texts: dict[str, str], threshold: float = 0.9) -> dict[str, list[tuple[int, int]]]:
    """Cut each document into (start, end) segments at the edges of runs shared with another document.

    Segments cover each text completely and in order; a document with nothing shared is one segment.
    """
    units: list[tuple[str, str, frozenset[str]]] = []
    where: list[_Line] = []
    line_spans = {doc: _lines(text) for doc, text in texts.items()}
    for doc, spans in line_spans.items():
        for idx, (s, e) in enumerate(spans):
            line = texts[doc][s:e]
            if len(line.split()) >= MIN_WORDS:
                units.append((doc, line, shingles(line)))
                where.append(_Line(doc, idx, s, e))
    partner: dict[tuple[str, int], tuple[str, int, float]] = {}
    for i, j, score in _similar_pairs(units, threshold):
        a, b = where[i], where[j]
        for x, y in ((a, b), (b, a)):
            best = partner.get((x.doc, x.index))
            if best is None or (score, y.doc) > (best[2], best[0]):
                partner[(x.doc, x.index)] = (y.doc, y.index, score)

    result: dict[str, list[tuple[int, int]]] = {}
    for doc, spans in line_spans.items():
        cuts = [0]
        previous = None  # partner of the previous non-empty line
        for idx, (s, e) in enumerate(spans):
            if s == e:
                continue  # blank lines never decide a cut
            mine = partner.get((doc, idx))
            continues = (
                mine is not None and previous is not None
                and mine[0] == previous[0] and mine[1] > previous[1]
                and not _has_text_between(texts[mine[0]], line_spans[mine[0]], previous[1], mine[1])
            )
            starts_run = (mine is None) != (previous is None) or (mine is not None and not continues)
            if starts_run and s > cuts[-1]:
                cuts.append(s)
            previous = mine
        cuts.append(len(texts[doc]))
        result[doc] = [(a, b) for a, b in itertools.pairwise(cuts) if texts[doc][a:b].strip()]
    return result


def _has_text_between(text: str, spans: list[tuple[int, int]], i: int, j: int) -> bool:
    """Whether lines strictly between i and j in the partner document carry any text."""
    return any(text[s:e].strip() for s, e in spans[i + 1 : j])


def group_chunks(chunks: Sequence[tuple[str, str]], threshold: float = 0.9) -> list[int | None]:
    """For (doc_id, text) chunks, a group number per chunk (None when it has no duplicate elsewhere).

    Chunks join a group when their Jaccard similarity with a chunk of another document reaches
    ``threshold``; groups are closed under that relation (union-find). The group number is the
    position of the group's first chunk.
    """
    items = [(doc, text, shingles(text)) for doc, text in chunks]
    eligible = [i for i, (_, text, _) in enumerate(items) if len(text.split()) >= MIN_WORDS]
    parent = list(range(len(items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    linked = set()
    for i, j, _ in _similar_pairs([items[k] for k in eligible], threshold):
        a, b = find(eligible[i]), find(eligible[j])
        parent[max(a, b)] = min(a, b)
        linked.update((eligible[i], eligible[j]))
    return [find(i) if i in linked else None for i in range(len(items))]
