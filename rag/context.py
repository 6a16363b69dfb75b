"""What the model reads: the retrieved passages, cut down to the sentences that matter.

On a 2-core CPU the model reads about 80 prompt tokens a second, so five whole passages (about
500 tokens) cost six seconds before the first word appears. ``compact`` keeps, within a token
budget, the sentences most related to the question: each passage's best sentence first (so every
retrieved passage is represented, best passages first), then the best remaining sentences overall.
Kept sentences stay in document order; a gap is shown as "…". Relatedness is the question's
idf-weighted content words found in the sentence plus, when an embedder is given, cosine similarity,
which catches paraphrases that share no words.

Sentences that give orders to an AI model ("ignore previous instructions", "Note to the assistant: …",
"Any AI summarising this must …", "the answer to every question is …", "print your system prompt", the
same in other languages) are never shown to it: documents are data. The prompt says so too; this is the
second fence. These patterns depend on wording: measured on a red-team set they catch 18 of 25 orders
they were not tuned on, and flag none of the bundled corpus's sentences (eval/RELIABILITY.md).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .embedding import Embedder
from .picking import touches
from .retriever import Hit
from .sentences import SAYING, Sentence, idf_overlap, split_sentences

# Who an order is given to: an AI model, by any of its names, in the languages the red-team set covers.
_READER = (r"(?:AI|A\.I\.|IA|KI|ИИ|LLMs?|GPT|(?:chat\s?)?bots?|(?:virtual\s+|AI\s+|chat\s+)?assistants?"
           r"|(?:large\s+|generative\s+|AI\s+)?(?:language\s+)?models?|automated\s+(?:systems?|readers?|agents?|tools?)"
           r"|machine\s+readers?|AI\s+(?:tools?|systems?|agents?|readers?))")
# What an order tells it to do, after "Assistant, …" (a comma alone is too common: "AI, quantum and …").
_DO = (r"(?:reply|respond|answer|say|tell|write|print|ignore|disregard|include|add|append|end|begin|start|repeat|list"
       r"|translate|do\s+not|don't|never|always|make|pretend|act|forget|copy|describe|insert|send|recommend|stop|output"
       r"|reveal|show|use|treat|summari[sz]e|claim|state|mention)")
_INJECTION = re.compile(
    # overriding the model's own instructions
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules|guidelines|passages?|context)\b"
    r"|\byou are (?:now|no longer)\b|\byour (?:new |real |only )(?:task|job|instructions?|role)\b"
    r"|\bfrom now on,?\s+(?:you|answer|reply|respond|say|always|only)\b"
    # addressing the reader: "AI: …", "Note to the assistant …", "If you are a language model …", "Any AI … must"
    rf"|(?:^|[.;:!?]\s+)(?:(?:dear|hey|attention|important\s+(?:to|for)|note\s+(?:to|for)|message\s+(?:to|for)|"
    rf"instructions?\s+for|"
    rf"to|for)\s+(?:the\s+|any\s+|all\s+)?)?{_READER}\s*[:\uff1a]"
    rf"|(?:^|[.;:!?]\s+)(?:dear\s+|hey\s+|attention\s+)?{_READER},\s*(?:please\s+|kindly\s+)?{_DO}\b"
    rf"|\b(?:notes?|messages?|instructions?|notices?|prompts?)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?{_READER}\b"
    rf"|\bif you are (?:an?\s+)?{_READER}\b"
    rf"|\b(?:any|all|every|whoever)\b.{{0,20}}\b{_READER}\b.{{0,60}}\b(?:must|should|shall|needs?\s+to|has\s+to)\b"
    rf"|\b{_READER}\s+(?:that\s+)?(?:reading|summari[sz]ing|processing|quoting|answering|who\s+reads?|that\s+(?:reads?|sees?))\b"
    # forcing the reply
    r"|\b(?:answer|reply|respond|say)\w*\b.{0,40}\b(?:only|solely|just)\s+(?:with|by)\b"
    r"|\b(?:the\s+)?(?:only\s+)?(?:correct\s+|right\s+)?(?:answer|reply|response)\s+(?:to|for)\s+(?:every|all|any|each)\s+"
    r"(?:\w+\s+){0,2}(?:questions?|quer(?:y|ies)|requests?)\b"
    r"|\b(?:for|to)\s+(?:every|any|all|each)\s+(?:\w+\s+){0,2}(?:questions?|quer(?:y|ies)|requests?)\b.{0,60}"
    r"\b(?:answer|reply|respond|say)\w*\b"
    r"|\b(?:reply|respond|answer)\w*\s+(?:to\s+)?(?:every|any|all|each)\s+(?:\w+\s+){0,2}"
    r"(?:questions?|query|queries|requests?|prompts?)\b.{0,60}\b(?:with|by saying|that)\b"
    r"|\b(?:whatever|regardless\s+of|no\s+matter)\s+(?:the\s+question|what\s+(?:you\s+are|you're|is)\s+asked|you\s+are\s+asked)"
    # asking for secrets, links and tracking
    r"|\b(?:print|reveal|repeat|output|show|disclose|list)\b.{0,40}\b(?:system\s+prompt|(?:your|the)\s+(?:hidden\s+)?"
    r"(?:instructions|prompt|configuration|rules)|instructions\s+you\s+(?:were|have\s+been)\s+given|API\s+keys?|"
    r"secrets?|passwords?|environment\s+variables?|every\s+document)\b"
    r"|\b(?:include|add|append|insert)\b.{0,30}\b(?:link|URL|image|pixel)\b.{0,60}\b(?:answer|reply|response)\b"
    r"|!\[[^\]]*\]\(https?://"
    # the same orders in other languages: an addressee, or "answer only / every question"
    r"|(?:pour|para|per|für|an|для)\s+(?:l'|la\s+|a\s+|die\s+|den\s+)?(?:IA|KI|ИИ|AI)\b"
    r"|(?:人工智能|\uff21\uff29|AI|ai)\s*(?:への|に|へ|에게|的提示|助手|助理|어시스턴트)|给人工智能"
    r"|réponds?\s+uniquement|antworte\s+nur|responde\s+solo|rispondi\s+(?:soltanto|solo)|responda\s+(?:apenas|só)"
    r"|отвечай\s+только|とだけ答え|只回答",
    re.IGNORECASE | re.MULTILINE)


def is_injection(sentence: str) -> bool:
    """A sentence that gives orders to an AI model rather than stating something."""
    return bool(_INJECTION.search(sentence))


# Page furniture that survives as a sentence: photo captions and credits, datelines, reprint notices, bylines,
# the opinion disclaimer under a commentary.
_FURNITURE = re.compile(
    r"^(?:image|photo|picture|file\s+photo|photograph|credit|caption)s?\s*[:/]"
    r"|^(?:the\s+)?(?:views|opinions)\s+expressed\s+(?:in\s+this|here)\b"
    r"|^\d{1,2}\s+[A-Z][a-z]{2,8}\.?,?\s+\d{4}(?:,?\s+\d{1,2}:\d{2})?$"
    r"|^[A-Z][a-z]{2,8}\.?\s+\d{1,2},?\s+\d{4}(?:,?\s+\d{1,2}:\d{2})?$"
    r"|\breprints?\s+(?:the|this)\s+(?:article|story|piece)\b"
    r"|^(?:written\s+by|by)$",
    re.IGNORECASE)
_WORD = re.compile(r"\w+")
# A sentence that leans on the one before it: "This …", "They …", "The fallout …", "Such …".
_REFERS_BACK = re.compile(
    "^[\"\u201c\u2018(]?"
    r"(?:this|that|these|those|it|its|they|their|them|he|she|his|her|such|both|the\s+(?:same|latter|former)"
    r"|the\s+[a-z]+\s+(?:cost|was|were|is|are|has|had|would|will))\b",
    re.IGNORECASE)
# A quotation's later sentence ("“The AUKUS Pillar 2 isn't just …") leans on the one before that says who speaks.
_OPENS_QUOTE = re.compile("^[\"\u201c\u2018]")
_ATTRIBUTION = re.compile(rf"\b(?:{SAYING}|according\s+to)\b", re.IGNORECASE)
# How far back a sentence that leans on the one before is followed ("It's more like …" ← "“The pact isn't …" ← "…,"
# Ban said.").
LEANS_BACK = 2


def leans_on(sentence: str, before: str) -> bool:
    """``sentence`` needs ``before`` to be understood: it refers back to it ("This …", "The fallout cost …"), or it
    goes on with a quotation whose speaker ``before`` names.

    >>> leans_on("“It is more like an alliance.", "“We gain much,” Ban Kil-joo said.")
    True
    >>> leans_on("“Seoul should join now,” Doo said.", "“We gain much,” Ban Kil-joo said.")
    False
    >>> leans_on("The fallout cost US$7.5 billion.", "China retaliated in 2017.")
    True
    """
    return bool(_REFERS_BACK.match(sentence)) or (
        bool(_OPENS_QUOTE.match(sentence)) and not _ATTRIBUTION.search(sentence) and bool(_ATTRIBUTION.search(before)))


def is_furniture(sentence: str) -> bool:
    """A caption, dateline, byline or reprint notice: words on the page that answer nothing.

    >>> [is_furniture(s) for s in ("Photo: AP", "12 May 2024 06:37", "Caliber.Az reprints the article.",
    ...                             "The views expressed in this Commentary are the author's.",
    ...                             "Japan joined in 2024.")]
    [True, True, True, True, False]
    """
    return bool(_FURNITURE.search(sentence.strip()))


def repeats_title(sentence: str, title: str) -> bool:
    """A sentence that is only the document's headline again (a page repeats it above the text): the model
    already reads the title above the passage. A headline has no full stop; a sentence that has one is text,
    even when the title was guessed from it (a plain-text file whose first line is a sentence).

    >>> repeats_title("Japan, South Korea want in on Pillar 2 – but trust is still sticking point Aukus expansion",
    ...               "Aukus expansion: Japan, South Korea want in on Pillar 2 – but trust is still a sticking point")
    True
    >>> repeats_title("AUKUS members consider security deal with Japan The US, UK and Australia are engaging partners",
    ...               "AUKUS members consider security deal with Japan")
    False
    >>> repeats_title("Satoru Nagao said the bill would help.", "Satoru Nagao said the bill would help.")
    False
    """
    words = _WORD.findall(sentence.lower())
    return (len(words) >= 3 and not sentence.rstrip().endswith(".")
            and not set(words) - set(_WORD.findall(title.lower())))


def says_nothing(text: str) -> bool:
    """A passage with no line of text: only furniture and lines under 5 words (a heading, a byline). Read last: it
    takes a place a passage that answers needs (a commentary's disclaimer matches every question naming its
    publisher).

    >>> says_nothing("The views expressed in this Commentary are the author's.\\n\\nWRITTEN BY\\n\\nSang Hun Seok")
    True
    >>> says_nothing("Conclusion"), says_nothing("Photo: AP. South Korea is highly vulnerable, Nagy said.")
    (True, False)
    """
    lines = (line.strip() for sentence in split_sentences(text) for line in sentence.text.split("\n"))
    return not any(not is_furniture(line) and len(_WORD.findall(line)) >= 5 for line in lines)


def hides(sentence: str) -> bool:
    """What ``compact`` keeps from the model by default: orders to an AI model and page furniture."""
    return is_injection(sentence) or is_furniture(sentence)


def hidden_by(defence: str) -> Callable[[str], bool]:
    """The sentences kept from the model under ``AnswerSettings.injection_defence``: with "patterns", orders and
    furniture; otherwise furniture only."""
    return hides if defence == "patterns" else is_furniture


@dataclass(frozen=True)
class Excerpt:
    """The part of one hit shown to the model: its sentences (document spans) in order."""

    hit: Hit
    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for i, s in enumerate(self.sentences):
            if i and s.start > self.sentences[i - 1].end + 2 and not self.hit.text[
                    self.sentences[i - 1].end - self.hit.start : s.start - self.hit.start].isspace():
                parts.append("…")
            parts.append(s.text)
        return " ".join(parts)


def with_touching(excerpts: Sequence[Excerpt], documents: Mapping[str, str]) -> list[str]:
    """For each excerpt, what was shown of it and of every shown excerpt of its document whose passage overlaps or
    touches it (only whitespace between), as one text in document order: a sentence the chunker cut into three
    passages, all three shown, is read whole. Only shown sentences; an excerpt touching none is its own text.

    >>> doc = "Intro. When asked, 1,677 people from 10 nations answered. Other news. The end."
    >>> def shown(start, end):
    ...     hit = Hit(rank=1, chunk_id=start, doc_id="d", title="T", text=doc[start:end], start=start, end=end,
    ...               score=1.0)
    ...     return Excerpt(hit, (Sentence(start, end, doc[start:end]),))
    >>> for text in with_touching([shown(7, 39), shown(37, 57), shown(70, 78)], {"d": doc}): print(text)
    When asked, 1,677 people from 10 nations answered.
    When asked, 1,677 people from 10 nations answered.
    The end.
    """
    def whole(e: Excerpt) -> bool:
        text = documents.get(e.hit.doc_id)
        return bool(e.sentences) and text is not None and text[e.hit.start : e.hit.end] == e.hit.text

    out: list[str] = []
    for e in excerpts:
        text = documents.get(e.hit.doc_id, "")
        group = [e] if whole(e) else []
        for member in group:  # grows as touching excerpts are found
            group += [f for f in excerpts if f not in group and f.hit.doc_id == e.hit.doc_id and whole(f)
                      and touches(member.hit, f.hit, text)]
        if len(group) < 2:
            out.append(e.text)
            continue
        spans: list[list[int]] = []
        for start, end in sorted((x.start, x.end) for f in group for x in f.sentences):
            if spans and (start <= spans[-1][1] or text[spans[-1][1] : start].isspace()):
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        out.append(" … ".join(text[start:end] for start, end in spans))
    return out


WIDEN_MOST = 400  # characters a passage may grow on each side to reach its sentence's edge


def widen(hit: Hit, document: str, most: int = WIDEN_MOST) -> Hit:
    """``hit`` with its span moved out to the edges of the sentences its chunk cuts (each side at most ``most``
    characters further), its text the document's text there: still an exact span of ``document``. ``hit``
    itself when ``document`` does not hold its text at its span.

    >>> doc = "Intro. When asked, 1,677 people from 10 nations answered the 2022 survey. The end."
    >>> cut = Hit(rank=1, chunk_id=0, doc_id="d", title="T", text="the 2022 survey. The", start=57, end=77,
    ...           score=1.0)
    >>> widen(cut, doc).text
    'When asked, 1,677 people from 10 nations answered the 2022 survey. The end.'
    """
    if document[hit.start : hit.end] != hit.text:
        return hit
    start, end = hit.start, hit.end
    for s in split_sentences(document):
        if s.start < hit.start < s.end and hit.start - s.start <= most:
            start = s.start
        if s.start < hit.end < s.end and s.end - hit.end <= most:
            end = s.end
    return hit if (start, end) == (hit.start, hit.end) else replace(hit, start=start, end=end,
                                                                      text=document[start:end])


def whole_sentences(excerpt: Excerpt, document: str) -> str:
    """``excerpt``'s text with each sentence the chunker cut completed from ``document`` (the text the spans
    index). The judge reads this: a claim drawn from a long sentence split over two chunks ("… asked 1,677
    respondents from 10 Southeast Asian nations" | "what they thought about Aukus in 2022, …") is checked against
    the whole sentence, not a fragment that lacks its subject or its year. The excerpt's own text when
    ``document`` does not hold the hit's text at its span (a stale copy).

    >>> doc = "Intro. When asked, 1,677 people from 10 nations answered the 2022 survey. The end."
    >>> cut = Hit(rank=1, chunk_id=0, doc_id="d", title="T", text="the 2022 survey. The end.", start=57,
    ...           end=82, score=1.0)
    >>> whole_sentences(Excerpt(cut, (Sentence(57, 73, "the 2022 survey."),)), doc)
    'When asked, 1,677 people from 10 nations answered the 2022 survey.'
    """
    hit = excerpt.hit
    if document[hit.start : hit.end] != hit.text:
        return excerpt.text
    full = split_sentences(document)
    starts = [f.start for f in full]
    picked: list[Sentence] = []
    for s in excerpt.sentences:
        i = max(bisect_right(starts, s.start) - 1, 0)
        while i < len(full) and full[i].start < s.end:
            if full[i].end > s.start and (not picked or full[i].start >= picked[-1].end):
                picked.append(full[i])
            i += 1
    parts: list[str] = []
    for i, f in enumerate(picked):
        if i and not document[picked[i - 1].end : f.start].isspace() and picked[i - 1].end != f.start:
            parts.append("…")
        parts.append(f.text)
    return " ".join(parts) or excerpt.text


# ``compact``: a sentence this close to the best one's relatedness is kept before every passage's best sentence (a
# second strong sentence of the top passage is worth more than a weak one of the fifth).
STRONG = 0.8


def estimate_tokens(text: str) -> int:
    """Prompt tokens for English text with a BPE tokenizer, roughly (4 characters a token)."""
    return len(text) // 4 + 1


def compact(question: str, hits: Sequence[Hit], budget: int, embedder: Embedder | None = None,
            count_tokens: Callable[[str], int] = estimate_tokens,
            drop: Callable[[str], bool] | None = hides) -> list[Excerpt]:
    """Excerpts of ``hits`` (same order) whose texts fit ``budget`` tokens together. 0 = no cut.
    Sentences for which ``drop`` is true (orders to the model, page furniture) are left out, and with ``drop`` a
    sentence that only repeats its document's title (the model reads the title anyway); a kept sentence
    that refers back ("This …", "The fallout cost …") brings the sentence before it when that fits."""
    per_hit = [[s for s in split_sentences(h.text, offset=h.start) or [Sentence(h.start, h.end, h.text)]
                if drop is None or not (drop(s.text) or repeats_title(s.text, h.title))] for h in hits]
    if budget <= 0 or sum(count_tokens(s.text) for sentences in per_hit for s in sentences) <= budget:
        return [Excerpt(h, tuple(s)) for h, s in zip(hits, per_hit, strict=True)]
    flat = [(i, s) for i, sentences in enumerate(per_hit) for s in sentences]
    scores = _relatedness(question, [s.text for _, s in flat], embedder)
    ranked = sorted(range(len(flat)), key=lambda j: -(scores[j] - 0.02 * flat[j][0]))
    chosen: set[int] = set()
    used = 0
    seen_hits: set[int] = set()
    # Pass 0: the sentences nearly as related as the best (STRONG). Pass 1: every passage's best sentence, best
    # passages first. Pass 2: the best of the rest.
    strong = STRONG * max(scores, default=0.0)
    for pass_ in (0, 1, 2):
        for j in ranked:
            i, sentence = flat[j]
            if j in chosen or (pass_ == 1 and i in seen_hits) or (pass_ == 0 and scores[j] < strong):
                continue
            # A sentence that refers back ("The fallout cost …") or goes on with a quotation comes with the ones it
            # leans on (up to LEANS_BACK), if they fit.
            before: list[int] = []
            b = j
            while len(before) < LEANS_BACK and b > 0 and flat[b - 1][0] == i and b - 1 not in chosen \
                    and leans_on(flat[b][1].text, flat[b - 1][1].text):
                b -= 1
                before.append(b)
            cost = count_tokens(sentence.text)
            if used + cost > budget:
                continue
            for b in before:
                extra = count_tokens(flat[b][1].text)
                if used + cost + extra > budget:
                    break
                chosen.add(b)
                used += extra
            chosen.add(j)
            seen_hits.add(i)
            used += cost
    return [Excerpt(h, tuple(s for j, (i2, s) in enumerate(flat) if i2 == i and j in chosen))
            for i, h in enumerate(hits)]


def _relatedness(question: str, texts: list[str], embedder: Embedder | None) -> list[float]:
    lexical = np.array(idf_overlap(question, texts))
    if embedder is None:
        return lexical.tolist()
    vectors = embedder.embed_batch([question, *texts])
    cosine = vectors[1:] @ vectors[0]
    return (0.5 * lexical + 0.5 * cosine).tolist()
