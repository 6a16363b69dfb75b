"""Checking an answer against its passages: pure functions, no model of their own.

The model's raw answer is split into sentences, each with the ``[n]`` markers that point at a passage
shown; a sentence is supported when enough of its content words, and all of its numbers and names, are
in the passages it cites and (with ``verify="judge"``) a judge finds the claim stated there. A citation
to the wrong passage is moved to the one that holds the sentence; where that one lacks only a name the cited
passage gives, the sentence cites both (never for a number or a date).

    >>> hits = [Hit(rank=1, chunk_id=1, doc_id="a.txt", title="A", text="Japan may join Pillar 2.", start=0,
    ...             end=24, score=1.0)]
    >>> [(c.text, c.citations, c.supported) for c in verify("Japan may join Pillar 2 [1]. Mars is red.", hits)]
    [('Japan may join Pillar 2.', (1,), True), ('Mars is red.', (), False)]
    >>> with_markers(Claim(text="Japan may join.", citations=(1, 3), supported=True, support=1.0))
    'Japan may join [1][3].'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .asks import specifics, states_time
from .retriever import Hit
from .sentences import Sentence, all_words, names, numbers, split_sentences, support

MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
ABSTAIN_LIKE = re.compile(
    r"documents? (?:do(?:es)?n['\u2019]?t|do(?:es)? not) say|passages? (?:do(?:es)?n['\u2019]?t|do(?:es)? not) "
    r"(?:contain|say|mention|provide|state|include)|no information|not (?:mentioned|provided|stated) in",
    re.IGNORECASE)
Judge = Callable[[str, str], float | None]  # (claim, evidence) -> P(the evidence states the claim)


@dataclass(frozen=True, kw_only=True)
class Citation:
    """A passage an answer cites, numbered as the model saw it. ``quote_*`` spans the supporting sentence."""

    n: int
    doc_id: str
    title: str
    start: int
    end: int
    text: str
    quote_start: int
    quote_end: int
    chunk_id: int = 0
    page: int | None = None

    @property
    def quote(self) -> str:
        return self.text[self.quote_start - self.start : self.quote_end - self.start]


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One answer sentence, the passages it cites, and whether they support it."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    support: float                  # share of content words found in the cited passages
    judge: float | None = None      # the judge's P(yes) that the passages state it
    note: str = ""
    quoted: bool = False            # a passage sentence the model chose as evidence, shown word for word


def verify(raw: str, hits: Sequence[Hit], shown: Sequence[str] | None = None, question: str = "", *,
           mode: str = "lexical", min_support: float = 0.5, judge_threshold: float = 0.5,
           judge: Judge | None = None, known: Sequence[str] | None = None,
           trust_support: float = 1.1) -> list[Claim]:
    """Split ``raw`` into sentences; keep each one's valid markers; decide whether it is supported.

    Words and numbers are checked against the whole cited ``hits``; the ``judge`` (used when ``mode`` is
    ``"judge"``) reads only what the model was shown of them (``shown``, default the hits' text), which is
    shorter and so quicker to read; it is not asked about a sentence whose support reaches ``trust_support``
    (its numbers and names all found too). ``mode="off"`` keeps every cited sentence.
    """
    shown = list(shown) if shown is not None else [h.text for h in hits]
    # Names in the question are context an answer may echo ("The RUSI piece says …"), but only names the
    # documents found know (``known``: their texts, default the passages): a question about someone they
    # never mention has a false premise, and an answer that puts a passage's words in that mouth is invented.
    question = echoable(question, [*(known if known is not None else [h.text for h in hits]),
                                   *(h.title for h in hits)])
    claims: list[Claim] = []
    for text, cited in sentences_with_markers(raw, len(hits)):
        if not text or ABSTAIN_LIKE.search(text) or not re.search(r"\w", text):
            continue
        note = ""
        evidence = "\n".join(hits[n - 1].text for n in cited)
        lexical = support(text, evidence, question) if cited else 0.0
        if lexical < min_support or unsupported_specifics(text, evidence, question):
            # Small models often cite the passage next to the right one, or none: when exactly what
            # the sentence says is in another passage shown, cite that one instead.
            score, n = max(((support(text, h.text, question), n) for n, h in enumerate(hits, 1)), default=(0.0, 0))
            if score >= 0.8 and score > lexical:
                missing = unsupported_specifics(text, hits[n - 1].text, question)
                both = f"{hits[n - 1].text}\n{evidence}"
                if not missing:
                    note = f"citation {''.join(f'[{m}]' for m in cited) or '(none)'} corrected to [{n}]"
                    cited, evidence, lexical = [n], hits[n - 1].text, score
                elif not any(states_time(x.title()) for x in missing) \
                        and not unsupported_specifics(text, both, question):
                    # ... and where that passage lacks only a name the cited one gives ("AUKUS" in [3], all the rest
                    # in [1]), cite both. Never a number or a date from a second passage: "first submarine … in
                    # September 2021" would join a pact's founding month in one passage to a submarine in another.
                    # (``missing`` is lower-cased; a sentence citing nothing has no second passage to give it.)
                    note = f"citation [{n}] added"
                    cited, evidence, lexical = sorted({*cited, n}), both, support(text, both, question)
        if not cited:
            claims.append(Claim(text=text, citations=(), supported=False, support=0.0, note="no citation"))
            continue
        found = round(lexical, 3)
        if mode == "off":
            claims.append(Claim(text=text, citations=tuple(cited), supported=True, support=found, note=note))
            continue
        missing = unsupported_specifics(text, evidence, question)
        if missing:
            claims.append(Claim(text=text, citations=tuple(cited), supported=False, support=found,
                                note=f"not in the cited passages: {', '.join(sorted(missing))}"))
            continue
        p_yes = (judge(text, "\n".join(shown[n - 1] for n in cited))
                 if judge is not None and mode == "judge" and min_support <= lexical < trust_support else None)
        ok = lexical >= min_support and (p_yes is None or p_yes >= judge_threshold)
        if not ok:
            note = ("few of its words are in the cited passages" if lexical < min_support
                    else "the judge found no support")
        claims.append(Claim(text=text, citations=tuple(cited), supported=ok, support=found,
                            judge=None if p_yes is None else round(p_yes, 3), note=note))
    return claims


def sentences_with_markers(raw: str, passages: int) -> list[tuple[str, list[int]]]:
    """Each sentence of ``raw`` without its markers, and the passage numbers (1..``passages``) it cites.

    >>> sentences_with_markers("Japan may [1]. [2] Canada too [9].", 2)
    [('Japan may.', [1, 2]), ('Canada too.', [])]
    """
    out: list[tuple[str, list[int]]] = []
    for sentence in split_sentences(raw):
        cited: list[int] = []
        for group in MARKER.findall(sentence.text):
            for n in (int(x) for x in group.split(",")):
                if 1 <= n <= passages and n not in cited:
                    cited.append(n)
        text = MARKER.sub("", sentence.text).strip()
        if not text and out:  # a marker left alone after the full stop belongs to the sentence before
            out[-1][1].extend(n for n in cited if n not in out[-1][1])
        else:
            out.append((text, cited))
    return out


def unsupported_specifics(claim: str, evidence: str, question: str) -> set[str]:
    """Numbers and names the claim states that its evidence doesn't hold: where small models invent.

    What the question already says is context: answers echo it ("The RUSI piece says …") while
    the passage itself may never repeat the name.

    >>> sorted(unsupported_specifics("Japan pays $5 billion.", "Japan pays $2 billion.", "What does Japan pay?"))
    ['5']
    """
    missing = numbers(claim) - numbers(evidence) - numbers(question)
    return missing | (names(claim) - all_words(evidence) - all_words(question))


def echoable(question: str, texts: Sequence[str]) -> str:
    """``question`` without the full names (two or more capitalised words in a row) of which ``texts`` lack a
    word: the people and bodies an answer may not echo unless the documents know them. A single capitalised
    word stays: outlets and places go by short names the text may not use ("RT", "SCMP", "Pyongyang").

    >>> echoable("What did Rishi Sunak say to RT about Japan?", ["Japan may join Pillar 2."])
    'What did say to RT about Japan?'
    """
    known = all_words(" ".join(texts))
    tokens = question.split()
    capital = [i > 0 and w[:1].isupper() for i, w in enumerate(tokens)]
    in_run = [c and ((i > 0 and capital[i - 1]) or (i + 1 < len(tokens) and capital[i + 1]))
              for i, c in enumerate(capital)]
    return " ".join(w for w, run in zip(tokens, in_run, strict=True) if not run or all_words(w) <= known)


def citations(claims: Sequence[Claim], hits: Sequence[Hit]) -> tuple[Citation, ...]:
    """The cited passages, in order of first citation, each with its best-supporting sentence."""
    out: dict[int, Citation] = {}
    for claim in claims:
        for n in claim.citations:
            if n in out:
                continue
            hit = hits[n - 1]
            best = _best_sentence(claim.text, hit)
            q0, q1 = (best.start, best.end) if best else (hit.start, hit.end)
            out[n] = Citation(n=n, doc_id=hit.doc_id, title=hit.title, start=hit.start, end=hit.end, text=hit.text,
                              quote_start=q0, quote_end=q1, chunk_id=hit.chunk_id, page=hit.page)
    return tuple(out.values())


def _best_sentence(claim: str, hit: Hit) -> Sentence | None:
    sentences = split_sentences(hit.text, offset=hit.start) or []
    return max(sentences, key=lambda s: support(claim, s.text), default=None)


def source_sentence(claim: str, hit: Hit) -> str:
    """The sentence of ``hit`` that best supports ``claim`` (the one a citation highlights)."""
    best = _best_sentence(claim, hit)
    return best.text if best else hit.text


def giving_sentences(question: str, claim: str, hit: Hit) -> list[str]:
    """The sentences of ``hit`` that hold what ``claim`` gives of the kind ``question`` asks for (its number, date
    or new name), else the one best supporting ``claim``: where the claim's answer comes from.

    >>> hit = Hit(chunk_id=0, doc_id="d", title="t", text="Jets of the KF-16 type flew. A leak hit the project.",
    ...           start=0, end=52, score=1.0, rank=1)
    >>> giving_sentences("Which project leaked?", "KF-16 jets flew and a leak hit the project.", hit)
    ['Jets of the KF-16 type flew.']
    """
    wanted = specifics(question, claim)
    holding = [x.text for x in split_sentences(hit.text, offset=hit.start) if wanted & specifics(question, x.text)]
    return holding or [source_sentence(claim, hit)]


def with_markers(claim: Claim) -> str:
    """The claim's text with its markers before the final punctuation."""
    match = re.match(r"(.*?)([.!?]['\"\u2019\u201d)]*)?$", claim.text, re.DOTALL)  # matches any text
    body, punct = match.groups() if match else (claim.text, None)
    return body.rstrip() + " " + "".join(f"[{n}]" for n in claim.citations) + (punct or "")
