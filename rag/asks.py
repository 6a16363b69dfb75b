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
    >>> asks_for_name("What were the names of the two men?"), asks_for_name("Which South Korean academic said so?")
    (True, True)
    >>> asks_for_name("What did the analyst say about Japan?")
    False
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
from collections.abc import Collection, Sequence
from typing import NamedTuple

from .sentences import SAYING, STOP_WORDS, all_words, idf_overlap, names

_NUMBER_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|long|large|big|old|often|far(?!\s+along))\b"
    r"|\bwhat\s+(?:\w+\s+)?(?:percentage|per\s*cent|proportion|share|fraction|number|amount|sum|figure|total|"
    r"price|cost)\b"
    r"|\bwhat\s+(?:did|does|do|would|will|could)\b.{0,60}\bcost\b"
    r"|\b(?:in\s+)?(?:what|which)\s+year\b"
    r"|\bwhat\s+(?:is|was|are|were|would\s+be)\s+the\s+(?:maximum|minimum)\b",
    re.IGNORECASE)
# Words that count: a number written out, or a word for one ("a trio of nations", "one-third").
_COUNT_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
                r"|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?"
                r"|thousands?|millions?|billions?|trillions?|dozens?|pairs?|duos?|trios?|quartets?|half|third|thirds"
                r"|quarters?|twice|double|triple")
_NUMBER = re.compile(rf"\d|\b(?:{_COUNT_WORDS}|halves|single|both|none|no)\b", re.IGNORECASE)


def asks_for_number(question: str) -> bool:
    """The question asks how many, how much, what share, what it cost, which year, or what the maximum or minimum is.

    >>> asks_for_number("What is the maximum prison sentence for leaking?"), asks_for_number("What is the bill?")
    (True, False)
    """
    return bool(_NUMBER_QUESTION.search(question))


_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*"
# A number that is part of a name ("Pillar 1", "KF-21", "G7") counts nothing; a date's ("May 1") does.
_NAMED_NUMBER = re.compile(rf"\b(?!{_MONTH}\b)([A-Z][A-Za-z]*)[\s-]?\d+\b")


def _unmarked(text: str) -> str:
    """``text`` without citation markers ("[2]"), whose digits are no number."""
    return re.sub(r"\[\d+\]", " ", text)


def _unnamed(text: str) -> str:
    """``text`` without the numbers that are part of a name ("In 2017" keeps its year: "In" names nothing)."""
    return _NAMED_NUMBER.sub(lambda m: m[0] if m[1].lower() in STOP_WORDS else " ", text)


def states_number(text: str) -> bool:
    """The text gives a number, in digits or words ("36.4 per cent", "one-third", "eight"), not one that is
    part of a name ("Pillar 1", "KF-21").

    >>> states_number("Under Pillar 1, London pledged to help."), states_number("It began on May 1.")
    (False, True)
    >>> states_number("A trio of nations want to join.")
    True
    """
    return bool(_NUMBER.search(_unnamed(_unmarked(text))))


_NAME_QUESTION = re.compile(
    r"^\s*who\b|\bwho\s+(?:is|was|were|are|said|says|told|predicted|warned|welcomed|wrote|argued|introduced|did)\b"
    r"|\bwhat\s+(?:is|are|was|were)\s+the\s+names?\b|\bnames?\s+of\s+the\b"
    r"|\b(?:which|what)\s+(?:(?!(?:did|does|do|is|was|were|are|has|have|had|the|a|an|would|will|can|could)\b)"
    r"[\w-]+\s+){0,2}?(?:analyst|official|minister|researcher|expert|professor|spokes\w+"
    r"|diplomat|person|leader|scholar|academic|fellow|author|lawmaker|senator|politician|journalist|commentator"
    r"|observer|ambassador|envoy)s?\b",
    re.IGNORECASE)


# "Which fighter jet project …?", "which two countries …?": a thing the documents call by its name.
_NAMED_THING = re.compile(
    r"(?:\bwhich\s+(?:[\w-]+\s+){0,3}?|\bwhat\s+)"
    r"(?:countr(?:y|ies)|nations?|projects?|programmes?|programs?"
    r"|compan(?:y|ies)|conglomerates?|firms?|outlets?|newspapers?|think\s+tanks?|institutes?|universit(?:y|ies)"
    r"|organi[sz]ations?|agenc(?:y|ies)|groups?|groupings?|formats?|alliances?|blocs?|cit(?:y|ies))\b",
    re.IGNORECASE)


def asks_for_name(question: str) -> bool:
    """The question asks who or which: a person's name (who said, which analyst, what is the name of …), or
    the name of a country, project, outlet or group ("which fighter jet project …?").

    >>> asks_for_name("Which fighter jet project was involved?"), asks_for_name("Which areas did it name?")
    (True, False)
    """
    return bool(_NAME_QUESTION.search(question) or _NAMED_THING.search(question))


# "Who is the New Zealand defence minister …?", "Which Foreign Ministry spokesperson …?": an office the person asked
# for holds. A word in lower case just before it ("defence", "prime") is part of the office; a capitalised one ("New
# Zealand", "Foreign Ministry") says whose office it is.
_OFFICE = (r"minister|secretary|president|ambassador|envoy|spokes\w*|chief|commander|director|governor|chair\w*"
           r"|mayor|premier|chancellor")
_OFFICE_QUESTION = re.compile(
    rf"^\s*(?:who\s+(?:is|was|are|were)\s+the|which)\s+((?:[\w'\u2019-]+\s+){{0,4}}?)({_OFFICE})s?\b", re.IGNORECASE)


def asked_office(question: str) -> tuple[str, ...]:
    """The words of the office a "who is the …?" question asks the holder of, lower case, else ().

    >>> asked_office("Who is the New Zealand defence minister in the talks?"), asked_office("Who said so?")
    (('defence', 'minister'), ())
    >>> asked_office("Which Chinese Foreign Ministry spokesperson said it?")
    ('spokes',)
    """
    found = _OFFICE_QUESTION.search(question)
    if not found:
        return ()
    before = found.group(1).split()
    qualifier = before[-1] if before and before[-1].islower() and before[-1] not in STOP_WORDS else None
    office = found.group(2).lower()
    office = re.sub(r"^(spokes|chair)\w*", r"\1", office)
    return (qualifier, office) if qualifier else (office,)


def holds_office(text: str, office: Sequence[str]) -> bool:
    """``text`` names the office ``asked_office`` found (British or American spelling); any text does for ().

    >>> holds_office("Foreign Minister Winston Peters said so.", ("defence", "minister"))
    False
    >>> holds_office("Defense Minister Shin Won-sik said so.", ("defence", "minister"))
    True
    """
    lowered = text.lower().replace("defense", "defence")  # () holds: all([]) is True
    return all(re.search(rf"\b{re.escape(word)}", lowered) for word in office)


# "What did Trudeau say …?", "How has Albanese described …?": what someone said, which may take more than one sentence.
_SAID_VERBS = r"say|said|describe|described|characteri[sz]ed?"
_SAID_QUESTION = re.compile(rf"^\s*(?:what|how)\s+(?:has|have|had|did|does|do)\b.{{0,80}}?\b(?:{_SAID_VERBS})\b",
                            re.IGNORECASE)
# "Albanese said", "Anthony Albanese saying", "said Nagy", "according to Nagy": the speaker's last name.
_SPEAKER = re.compile(
    rf"\b([A-Z][\w'\u2019-]+)\s*,?\s+{SAYING}\b|\b(?:{SAYING}|according\s+to)\s+([A-Z][\w'\u2019-]+)")


def asks_what_was_said(question: str) -> bool:
    """The question asks what someone said or how they described something.

    >>> asks_what_was_said("How has Albanese described Japan joining?"), asks_what_was_said("Who said it?")
    (True, False)
    """
    return bool(_SAID_QUESTION.search(question))


# "What did Stephen Nagy say about …?", "How did Mao Ning respond to …?", "What view did Ban Kil-joo express about
# …?": whose words are asked for, and about what.
_SAID_BY = re.compile(
    rf"^\s*(?:what|how)(?:\s+\w+)?\s+(?:has|have|had|did|does|do)\s+(.{{1,80}}?)\s+(?:{_SAID_VERBS}"
    r"|respond|responded|react|reacted|reply|replied|comment|commented|express|expressed"
    r"|think|feel|believe|view)\b(.*)$", re.IGNORECASE)
# A capital stands for its country ("Tokyo taking part" is Japan taking part), and the other way round.
CAPITALS = {"tokyo": "japan", "seoul": "korea", "pyongyang": "korea", "beijing": "china", "washington": "us",
            "canberra": "australia", "wellington": "zealand", "london": "uk", "moscow": "russia", "ottawa": "canada"}


# Whose words are asked for is a person's only when the name has no article before it and is no acronym.
_NOT_A_PERSON = re.compile(r"(?:the|a|an)\b", re.IGNORECASE)
# Words before a name that say what the person is, not who ("Defence Minister Shin Won-sik").
_TITLES = {"minister", "prime", "president", "vice", "professor", "prof", "dr", "mr", "mrs", "ms", "senator",
           "secretary", "ambassador", "general", "chancellor", "defence", "defense", "foreign", "deputy", "spokesman",
           "spokeswoman"}


class SaidAsk(NamedTuple):
    """What a "what did X say about Y?" question asks: the parts of X's name (the last two capitalised words: a
    family name may come first, "Shin Won-sik", or last, "Stephen Nagy") and the names Y gives, lower case."""

    speaker: frozenset[str]
    topic: frozenset[str]


def asked_said(question: str, sources: Sequence[str] = ()) -> SaidAsk | None:
    """Whose words ``question`` asks for, and the names of what about; None when it asks no one's ("what did the
    RUSI author say?", "what does the Korea Times say?", "what did South Korea's presidential office say?") or asks
    for no words. ``sources``: the names the question gives as where it was read (``rag.naming.source_names``), which
    are not what the words are about.

    >>> said = asked_said("What did Stephen Nagy say about New Zealand, according to the SCMP?", ["SCMP"])
    >>> sorted(said.speaker), sorted(said.topic)
    (['nagy', 'stephen'], ['new', 'zealand'])
    >>> sorted(asked_said("What view did Defence Minister Shin Won-sik express?").speaker)
    ['shin', 'won-sik']
    >>> asked_said("What did the RUSI author say?"), asked_said("What does the Korea Times say about Seoul?")
    (None, None)
    >>> asked_said("What does RUSI say about Seoul?")
    """
    found = _SAID_BY.search(question)
    who = found.group(1).split() if found else []
    if not found or not who[-1][:1].isupper() or who[-1].lower() in STOP_WORDS:
        return None
    if _NOT_A_PERSON.match(found.group(1)) or who[-1].isupper():  # "the Korea Times", "RUSI": a publication's words
        return None
    name = []
    for word in reversed(who):
        if not word[:1].isupper() or word.lower() in _TITLES or len(name) == 2:
            break
        name.append(word.removesuffix("'s").removesuffix("\u2019s").lower())
    about = found.group(2)
    for source in sources:
        about = about.replace(source, " ")
    return SaidAsk(frozenset(name), frozenset(names("so " + about)))


def gives_words_of(said: SaidAsk, texts: Sequence[str]) -> bool:
    """``texts`` (the passages an answer cites) name the speaker (a part of the name will do: "Shin said") and every
    name of the topic (a capital counts for its country): "What did Nagy say about New Zealand?" is not answered by
    a passage without Nagy or New Zealand.

    >>> said = asked_said("What did Ban Kil-joo say about Tokyo joining?")
    >>> gives_words_of(said, ["Japan would gain, Ban said."]), gives_words_of(said, ["Korea gains, Ban said."])
    (True, False)
    """
    given = all_words(" ".join(texts))
    given |= {CAPITALS[w] for w in given if w in CAPITALS} | {c for c, country in CAPITALS.items() if country in given}
    return bool(said.speaker & given) and said.topic <= given


def speakers(text: str) -> set[str]:
    """The last names ``text`` gives as someone saying something, lower case.

    >>> sorted(speakers("“It is natural,” Albanese said, with Prime Minister Anthony Albanese saying so, said Nagy."))
    ['albanese', 'nagy']
    >>> speakers("The allies said in a statement that Japan could join.")
    set()
    """
    return {name.lower() for found in _SPEAKER.finditer(text) for name in found.groups()
            if name and name.lower() not in STOP_WORDS}


# "When did …?", "in which month …?": answered by a date (a year, a day, a month or a weekday), not "this year".
_TIME_QUESTION = re.compile(r"^\s*when\b|\b(?:what|which)\s+(?:month|date|day|year)\b", re.IGNORECASE)
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_TIME = re.compile(rf"\d|\b(?:(?:January|February|March|April|May|June|July|August|September|October|November"
                   rf"|December)|{_WEEKDAY})\b")


def asks_for_time(question: str) -> bool:
    """The question asks when: a date, a month, a year.

    >>> asks_for_time("When was AUKUS first unveiled?"), asks_for_time("What did he say when asked?")
    (True, False)
    """
    return bool(_TIME_QUESTION.search(question))


def states_time(text: str) -> bool:
    """The text gives a date: digits, a month's or a weekday's name ("this year" is relative, and no date).

    >>> states_time("It was announced in April 2024."), states_time("Talks will begin this year.")
    (True, False)
    """
    return bool(_TIME.search(_unnamed(_unmarked(text))))


def _new_names(text: str, question: str, named: Collection[str] | None = None) -> set[str]:
    """The capitalised words of ``text`` (lower-cased) that the question does not give; a question's "Chinese"
    gives "China" (the same first four letters). The first word counts ("Nagy said …") unless ``named`` is given:
    then it counts only if it is one of those (names seen inside sentences, where a capital means a name)."""
    given = {w.lower() for w in re.findall(r"[A-Za-z]\w*", question)}
    stems = {w[:4] for w in given if len(w) >= 4}
    tokens = re.findall(r"[A-Za-z]\w*", _unmarked(text))
    capitalised = {t.lower() for i, t in enumerate(tokens) if t[0].isupper() and t.lower() not in STOP_WORDS
                   and (i > 0 or named is None or t.lower() in named)}
    return {t for t in capitalised - given if len(t) < 4 or t[:4] not in stems}


def names_news(text: str, question: str, named: Collection[str] | None = None) -> bool:
    """The text names someone or something that the question does not (its words split at hyphens too); see
    ``_new_names`` for ``named``.

    >>> names_news("It would face pressure from China.", "Which countries face Chinese pressure?")
    False
    >>> names_news("Excluding them hurts.", "Which countries?", set()), names_news("Nagy said so.", "Who?", {"nagy"})
    (False, True)
    """
    return bool(_new_names(text, question, named))


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


_CONCESSION = re.compile(r"\b(?:despite|in\s+spite\s+of|although|even\s+though|notwithstanding)\b", re.IGNORECASE)


def two_sided(question: str) -> bool:
    """The question asks for more than one passage is likely to give: what several documents say, or something
    set against something else ("… a natural fit despite its stance on nuclear weapons?").

    >>> two_sided("Why is it a natural fit despite its nuclear stance?"), two_sided("Why is it a natural fit?")
    (True, False)
    """
    return across_documents(question) or bool(_CONCESSION.search(question))


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
    """The question asks for something an answer either gives or not: a number, a name, a date, an amount in a
    unit."""
    return (asks_for_number(question) or asks_for_name(question) or asks_for_time(question)
            or asked_unit(question) is not None)


_NUMBER_TOKEN = re.compile(rf"\d+(?:[.,]\d+)*|\b(?:{_COUNT_WORDS})\b", re.IGNORECASE)


def specifics(question: str, text: str) -> set[str]:
    """What of the kind ``question`` asks for ``text`` gives, as lowercase words: its numbers for "how many",
    its dates for "when", the names the question lacks for "who" or "which country".

    >>> sorted(specifics("Which project did Nagao mention?", "Nagao cited the KF-21 project in Seoul."))
    ['kf-21', 'seoul']
    >>> sorted(specifics("How many were asked?", "In 2022, 1,677 people from ten nations were asked."))
    ['1,677', '2022', 'ten']
    """
    clean = _unmarked(text)
    found: set[str] = set()
    if asks_for_number(question) or asks_for_time(question):
        found |= {m.lower() for m in _NUMBER_TOKEN.findall(_unnamed(clean))}
    if asks_for_time(question):
        found |= {m.lower() for m in _TIME.findall(clean) if not m.isdigit()}
    if asks_for_name(question):  # whole, hyphens and all: "KF-16" is not "KF-21"
        new = _new_names(clean, question)
        found |= {t.lower() for t in re.findall(r"[A-Za-z][\w-]*\w|[A-Za-z]", clean)
                  if re.split(r"[\W_]", t)[0].lower() in new}
    return found


# A sentence is about what a question asks when it holds this share of the question's (idf-weighted) content words
# that the best of the sentences shown holds.
ABOUT_SHARE = 0.5


def about(question: str, sources: Sequence[str], shown: Sequence[str]) -> bool:
    """Some of ``sources`` (the sentences an answer's specifics come from) is about what ``question`` asks, as
    much as ``ABOUT_SHARE`` of the best of ``shown`` (every sentence the model was shown) is, and names the
    office the question asks the holder of, if any (``asked_office``): the foreign minister is no answer to "who
    is the defence minister?".

    >>> shown = ["Nagy said Japan will likely be the first country to cooperate in Pillar 2.",
    ...          "Doo said joining Pillar 2 would mean a lattice-like architecture."]
    >>> q = "Which analyst predicted that Japan would be the first country to cooperate in Pillar 2?"
    >>> about(q, [shown[1]], shown), about(q, shown[:1], shown)
    (False, True)
    """
    overlap = idf_overlap(question, [*shown, *sources])
    best = max(overlap[: len(shown)], default=0.0)
    office = asked_office(question)
    return any(o >= ABOUT_SHARE * best and holds_office(source, office)
               for o, source in zip(overlap[len(shown):], sources, strict=True))


def gives_what_is_asked(question: str, texts: list[str], named: Collection[str] | None = None) -> bool:
    """Some of ``texts`` gives the kind of thing ``question`` asks for: a number for "how many", a new name for
    "who" (see ``_new_names`` for ``named``), a date for "when", an amount in the unit asked in; any text does for
    other questions."""
    unit = asked_unit(question)
    return ((not asks_for_number(question) or any(states_number(t) for t in texts))
            and (not asks_for_name(question) or any(names_news(t, question, named) for t in texts))
            and (not asks_for_time(question) or any(states_time(t) for t in texts))
            and (unit is None or any(states_unit(t, unit) for t in texts)))
