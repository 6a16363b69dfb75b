"""What kind of answer a question asks for, and whether a sentence gives it.

A "how many" question answered with a true sentence that holds no number is not answered, nor is a "who"
question answered without a name the question does not already give: the assistant says the documents don't
say, instead of showing something beside the point.

    >>> asks_for_number("How many respondents did the survey have?"), asks_for_number("Who spoke?")
    (True, False)
    >>> states_number("More than one-third agreed."), states_number("It was a small survey.")
    (True, False)
    >>> asks_for_name("What is the name of the researcher cited by the Global Times?")
    True
    >>> names_news("The Global Times cited a researcher of Australian studies.",
    ...            "What is the name of the Australian-studies researcher cited by the Global Times?")
    False

An amount asked for in a unit ("how large is the fine, in yen?") is answered only by a sentence in that unit:

    >>> asked_unit("How large is the fine, in yen, under the bill?"), asked_unit("How many staff work there?")
    ('yen', None)
    >>> states_unit("Up to five years in prison and a hefty fine.", "yen"), states_unit("US$7.5 billion", "dollar")
    (False, True)
    >>> gives_what_is_asked("How large is the fine, in yen?", ["Up to five years in prison and a hefty fine."])
    False

A question may have parts that one passage rarely answers together: two questions in one, or one asked of
several documents. A 1.5B model given both answers the first and stops, so these are answered part by part:

    >>> split_parts("What did the statement say about Japan, and what law is Japan pursuing?")
    ['What did the statement say about Japan?', 'What law is Japan pursuing?']
    >>> split_parts("Could Seoul's position flip, and why?")   # too short to stand alone: one question
    ["Could Seoul's position flip, and why?"]
    >>> across_documents("What threats are cited across the articles?"), across_documents("Who said it?")
    (True, False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .sentences import STOP_WORDS, idf_overlap

_NUMBER_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|long|large|big|old|often|far)\b"
    r"|\bwhat\s+(?:\w+\s+)?(?:percentage|per\s*cent|proportion|share|fraction|number|amount|sum|figure|total|"
    r"price|cost)\b"
    r"|\bwhat\s+(?:did|does|do|would|will|could)\b.{0,60}\bcost\b"
    r"|\b(?:in\s+)?(?:what|which)\s+year\b",
    re.IGNORECASE)
_NUMBER = re.compile(
    r"\d"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|"
    r"millions?|billions?|trillions?|dozens?|half|halves|third|thirds|quarters?|twice|double|triple|single|"
    r"both|none|no)\b",
    re.IGNORECASE)


def asks_for_number(question: str) -> bool:
    """The question asks how many, how much, what share, what it cost, or which year."""
    return bool(_NUMBER_QUESTION.search(question))


_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*"
# A number that is part of a name ("Pillar 1", "KF-21", "G7") counts nothing; a date's ("May 1") does.
_NAMED_NUMBER = re.compile(rf"\b(?!{_MONTH}\b)([A-Z][A-Za-z]*)[\s-]?\d+\b")


def _unnamed(text: str) -> str:
    """``text`` without the numbers that are part of a name ("In 2017" keeps its year: "In" names nothing)."""
    return _NAMED_NUMBER.sub(lambda m: m[0] if m[1].lower() in STOP_WORDS else " ", text)


def states_number(text: str) -> bool:
    """The text gives a number, in digits or words ("36.4 per cent", "one-third", "eight"), not one that is
    part of a name ("Pillar 1", "KF-21").

    >>> states_number("Under Pillar 1, London pledged to help."), states_number("It began on May 1.")
    (False, True)
    """
    return bool(_NUMBER.search(_unnamed(re.sub(r"\[\d+\]", " ", text))))


_NAME_QUESTION = re.compile(
    r"^\s*who\b|\bwho\s+(?:is|was|were|are|said|says|told|predicted|warned|welcomed|wrote|argued|introduced|did)\b"
    r"|\bwhat\s+is\s+the\s+name\b|\bname\s+of\s+the\b"
    r"|\b(?:which|what)\s+(?:\w+\s+)?(?:analyst|official|minister|researcher|expert|professor|spokes\w+|diplomat"
    r"|person|leader|scholar|fellow|author|lawmaker|senator|politician|journalist)s?\b",
    re.IGNORECASE)


def asks_for_name(question: str) -> bool:
    """The question asks who: a person's name (who said, which analyst, what is the name of …)."""
    return bool(_NAME_QUESTION.search(question))


def names_news(text: str, question: str) -> bool:
    """The text names someone or something (a capitalised word, the first one included: "Nagy said …") that
    the question does not (its words split at hyphens too)."""
    given = {w.lower() for w in re.findall(r"[A-Za-z]\w*", question)}
    capitalised = {t.lower() for t in re.findall(r"[A-Za-z]\w*", re.sub(r"\[\d+\]", " ", text))
                   if t[0].isupper() and t.lower() not in STOP_WORDS}
    return bool(capitalised - given)


# ", and what …" starts a second question; a bare "and why?" is read with the first.
_SECOND_QUESTION = re.compile(r",?\s+and\s+(?=(?:what|why|how|which|who|whom|whose|where|when)\b)", re.IGNORECASE)
_ACROSS = re.compile(
    r"\bacross\s+(?:the|these|all|both|several|different)\s+(?:\w+\s+)?(?:articles|documents|sources|reports|pieces)\b"
    r"|\b(?:both|all|each\s+of\s+the)\s+(?:articles|documents|sources|reports)\b"
    r"|\baccording\s+to\s+[^?,;]*?\band\b[^?,;]*?\b(?:article|report|piece|source|paper)s?\b"
    r"|\bcompar(?:e|es|ed|ing)\b|\bdiffer(?:s|ent|ently)?\s+(?:from|between|in\s+how)\b",
    re.IGNORECASE)
MIN_PART_WORDS = 3


def split_parts(question: str) -> list[str]:
    """The questions ``question`` asks, in order: two for "…, and what …?" whose second part has at least
    ``MIN_PART_WORDS`` words, else ``[question]``."""
    pieces = _SECOND_QUESTION.split(question.strip(), maxsplit=1)
    if len(pieces) < 2 or len(re.findall(r"\w+", pieces[1])) < MIN_PART_WORDS:
        return [question]
    first, second = (p.strip().rstrip("?").strip() for p in pieces)
    return [first + "?", second[:1].upper() + second[1:] + "?"]


def across_documents(question: str) -> bool:
    """The question asks what several documents say ("across the articles", "according to A and B", compare)."""
    return bool(_ACROSS.search(question))


_UNIT = (r"yen|dollar|euro|pound|won|yuan|renminbi|rupee|rouble|ruble|kilomet(?:re|er)|mile|met(?:re|er)|tonne|ton"
         r"|kilogram|year|month|week|day|hour|minute")
# ", in yen," / "… in US dollars?": the unit an amount is asked in.
_IN_UNIT = re.compile(rf"(?:^|,)\s*in\s+(?:(?:us|u\.s\.|american|australian|canadian)\s+)?({_UNIT})s?\s*(?:,|\?|$)",
                      re.IGNORECASE)
_SYMBOL = {"dollar": "$", "yen": "¥", "euro": "€", "pound": "£", "won": "₩", "yuan": "¥"}


def asked_unit(question: str) -> str | None:
    """The unit a question asks an amount in, set off by commas or last ("…, in yen, …" → "yen"), else None."""
    found = _IN_UNIT.search(question)
    return found.group(1).lower() if found else None


def states_unit(text: str, unit: str) -> bool:
    """The text gives something in ``unit`` (its name, or its symbol: "US$7.5 billion" is in dollars)."""
    return bool(re.search(rf"\b{re.escape(unit)}", text, re.IGNORECASE)) or (unit in _SYMBOL and _SYMBOL[unit] in text)


def asks_for_specifics(question: str) -> bool:
    """The question asks for something an answer either gives or not: a number, a name, an amount in a unit."""
    return asks_for_number(question) or asks_for_name(question) or asked_unit(question) is not None


# A sentence is about what a question asks when it holds this share of the question's (idf-weighted) content words
# that the best of the sentences shown holds.
ABOUT_SHARE = 0.5


def about(question: str, sources: Sequence[str], shown: Sequence[str]) -> bool:
    """Some of ``sources`` (the sentences an answer's specifics come from) is about what ``question`` asks, as
    much as ``ABOUT_SHARE`` of the best of ``shown`` (every sentence the model was shown) is.

    >>> shown = ["Nagy said Japan will likely be the first country to cooperate in Pillar 2.",
    ...          "Doo said joining Pillar 2 would mean a lattice-like architecture."]
    >>> q = "Which analyst predicted that Japan would be the first country to cooperate in Pillar 2?"
    >>> about(q, [shown[1]], shown), about(q, shown[:1], shown)
    (False, True)
    """
    overlap = idf_overlap(question, [*shown, *sources])
    best = max(overlap[: len(shown)], default=0.0)
    return any(o >= ABOUT_SHARE * best for o in overlap[len(shown):])


def gives_what_is_asked(question: str, texts: list[str]) -> bool:
    """Some of ``texts`` gives the kind of thing ``question`` asks for: a number for "how many", a new name for
    "who", an amount in the unit asked in; any text does for other questions."""
    unit = asked_unit(question)
    return ((not asks_for_number(question) or any(states_number(t) for t in texts))
            and (not asks_for_name(question) or any(names_news(t, question) for t in texts))
            and (unit is None or any(states_unit(t, unit) for t in texts)))
