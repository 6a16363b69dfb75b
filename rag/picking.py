"""Which retrieved chunks become the ``k`` passages an answer reads.

Candidates are taken in rank order. At most ``per_document`` places go to one document while other documents
have candidates to offer (a question whose answer spans two documents needs both shown; the best-matching one
otherwise fills every place). With the documents' texts given, a candidate that overlaps or touches (only
whitespace between) a passage already taken from its document is joined to it instead of taking a place of its
own: a long sentence the chunker cut in three is one passage the model, the checks and the citation read whole,
and the places it would have taken go to other passages.

    >>> doc = "Intro. When asked, 1,677 people from 10 nations answered. The rest. Other news."
    >>> def hit(rank, start, end, doc_id="d"):
    ...     return Hit(rank=rank, chunk_id=rank, doc_id=doc_id, title="T", text=doc[start:end], start=start, end=end,
    ...                score=1.0 / rank)
    >>> found = [hit(1, 7, 39), hit(2, 37, 57), hit(3, 68, 79), hit(4, 0, 6, "e")]
    >>> [h.text for h in pick(found, 2)]
    ['When asked, 1,677 people from 10', '10 nations answered.']
    >>> [h.text for h in pick(found, 2, documents={"d": doc})]
    ['When asked, 1,677 people from 10 nations answered.', 'Other news.']
    >>> [(h.doc_id, h.rank) for h in pick(found, 2, per_document=1)]
    [('d', 1), ('e', 4)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from .retriever import Hit


def pick(found: Sequence[Hit], k: int, per_document: int = 0, documents: Mapping[str, str] | None = None,
         skip: Collection[tuple[str, int, int]] = ()) -> list[Hit]:
    """The ``k`` passages to read from ``found`` (rank order), in rank order; see the module's docstring.
    ``per_document`` 0 = no limit; ``documents``: texts by document id, to join touching chunks (None = don't);
    ``skip``: ``(doc_id, start, end)`` spans whose chunks are left out (the passages an earlier answer cited)."""
    candidates = [h for h in found if not any(h.doc_id == d and s <= h.start and h.end <= e for d, s, e in skip)]
    picked: list[Hit] = []
    taken: Counter[str] = Counter()
    quota = per_document or k
    for limited in (True, False):  # too few documents to keep to the quota: fill the places in rank order
        for hit in candidates:
            if len(picked) >= k:
                break
            if any(hit.doc_id == p.doc_id and p.start <= hit.start and hit.end <= p.end for p in picked):
                continue
            at = _touching(picked, hit, documents)
            if at is None and limited and taken[hit.doc_id] >= quota:
                continue
            while at is not None:  # joined, it may touch a second passage: one passage bridges both
                hit = _joined(picked.pop(at), hit, documents[hit.doc_id])  # type: ignore[index]
                taken[hit.doc_id] -= 1
                at = _touching(picked, hit, documents)
            picked.append(hit)
            taken[hit.doc_id] += 1
    return sorted(picked, key=lambda h: h.rank)


def _touching(picked: Sequence[Hit], hit: Hit, documents: Mapping[str, str] | None) -> int | None:
    """The place in ``picked`` of a passage from ``hit``'s document that ``hit`` overlaps or touches (only whitespace
    between), where the document holds both at their spans; None when there is none or no ``documents``."""
    text = (documents or {}).get(hit.doc_id)
    if text is None or text[hit.start : hit.end] != hit.text:
        return None
    for i, p in enumerate(picked):
        if p.doc_id != hit.doc_id or text[p.start : p.end] != p.text:
            continue
        if touches(p, hit, text):
            return i
    return None


def touches(a: Hit, b: Hit, document: str) -> bool:
    """``a`` and ``b`` (spans of ``document``) overlap, or only whitespace stands between them."""
    first, second = sorted((a, b), key=lambda h: h.start)
    return second.start <= first.end or document[first.end : second.start].isspace()


def _joined(a: Hit, b: Hit, document: str) -> Hit:
    """One passage spanning ``a`` and ``b`` (touching, of one document): ranked and scored as the better of them."""
    best = min(a, b, key=lambda h: h.rank)
    start, end = min(a.start, b.start), max(a.end, b.end)
    dense = [x for x in (a.dense_score, b.dense_score) if x is not None]
    bm25 = [x for x in (a.bm25_score, b.bm25_score) if x is not None]
    return replace(best, start=start, end=end, text=document[start:end], score=max(a.score, b.score),
                   dense_score=max(dense, default=None), bm25_score=max(bm25, default=None))
