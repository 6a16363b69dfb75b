"""Which documents a question names as its source: "according to the RUSI commentary", "the SCMP report", "in
the RUSI author's view", "a diplomat quoted by Politico".

A user who names the source expects the answer from it, yet the passage that answers rarely repeats the
source's name: the one chunk of a commentary that says "RUSI" may be its disclaimer, which wins the place the
answer needed. So the passages of a named document are read first, and when the question names one source and
asks one thing of it (``one_source``), it may have all places but one (``Assistant._search``). A name counts only
where the question frames it as a source, and only when it is found, as written, in at most ``MOST_DOCUMENTS``
documents: a name every article uses ("Japan") tells nothing about which one is meant, and a name no document
holds (a publisher the text never mentions) changes nothing.

    >>> source_names("What was the original purpose of AUKUS, according to the RUSI commentary?")
    ['RUSI']
    >>> source_names("In the RUSI author's view, should newcomers join together?")
    ['RUSI']
    >>> source_names("According to the South China Morning Post article reprinted by Caliber.az, what is it?")
    ['South China Morning Post', 'Caliber.az']
    >>> source_names("Who did a diplomat quoted by Politico say was pushing hard?")
    ['Politico']
    >>> source_names("According to both the RUSI commentary and Stephen Nagy, why is South Korea exposed?")
    ['RUSI', 'Stephen Nagy']
    >>> source_names("What did Japan say in Melbourne?")
    []
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .asks import across_documents, split_parts
from .retriever import Hit

# Documents a name may be found in and still say which one the question means.
MOST_DOCUMENTS = 2
# Chunks searched (BM25) for a name: a name in more chunks than this is too common to name a document.
SEARCHED = 100

_NAME = r"[A-Z][\w&.-]*(?:\s+(?:of\s+)?[A-Z][\w&.-]*)*"
_SOURCE = (r"(?:commentary|article|report|piece|author|writer|analyst|story|column|editorial|op-ed|paper|post|blog"
           r"|interview|analysis|study|survey|statement)s?")
_NAMED_SOURCE = re.compile(
    rf"\b(?i:according\s+to|(?:reported|published|reprinted|quoted|cited|written)\s+by)\s+(?i:both\s+)?"
    rf"(?i:the\s+|an?\s+)?({_NAME})(?:(?:\s+(?i:{_SOURCE}))?\s+and\s+(?i:the\s+|an?\s+)?({_NAME}))?"
    rf"|\b(?i:the|an?)\s+({_NAME})(?:'s|\u2019s)?\s+(?i:{_SOURCE})\b")
_NOT_NAMES = {"The", "A", "An", "US", "U.S."}


def source_names(question: str) -> list[str]:
    """The names ``question`` gives as its source ("the X report", "according to X", "quoted by X"), in order."""
    names: list[str] = []
    for match in _NAMED_SOURCE.finditer(question):
        for name in (match.group(1), match.group(2), match.group(3)):
            name = (name or "").rstrip(".")
            if name and name not in _NOT_NAMES and name not in names:
                names.append(name)
    return names


def named_documents(question: str, search: Callable[[str], Sequence[Hit]]) -> tuple[str, ...]:
    """The ids of the documents ``question`` names as its source, best first: for each name ``source_names``
    finds, the documents whose chunks hold it as written (``search(name)`` returns the chunks to look in), when
    they are at most ``MOST_DOCUMENTS``. Empty when it names none.

    >>> from rag import Retriever
    >>> from rag.testing import tiny_workspace
    >>> retriever = Retriever(tiny_workspace().index)
    >>> search = lambda name: retriever.search(name, k=10, mode="bm25")
    >>> named_documents("When does the ferry leave, according to the Harbour notes?", search)
    ('harbour.txt',)
    >>> named_documents("When does the ferry leave, according to the Reuters report?", search)
    ()
    """
    found: dict[str, None] = {}
    for name in source_names(question):
        pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w])")
        holding = dict.fromkeys(h.doc_id for h in search(name) if pattern.search(h.text))
        if 1 <= len(holding) <= MOST_DOCUMENTS:
            found.update(holding)
    return tuple(found)


def one_source(question: str) -> bool:
    """The question names one source and asks one thing of it: not two parts, nothing across documents.

    >>> one_source("What was AUKUS for, according to the RUSI commentary?")
    True
    >>> one_source("Which countries is the White House fast-tracking, and what does the RUSI commentary say?")
    False
    """
    return len(source_names(question)) == 1 and len(split_parts(question)) == 1 and not across_documents(question)
