"""Remove web-page furniture from plain text, line by line, without touching article sentences.

Scraped pages keep their navigation, share buttons and prompts as lines of their own. Each rule
below drops a whole line, never part of one, so every surviving sentence is byte-for-byte the
author's. Rules are deliberately narrow: a false positive deletes content, a false negative only
leaves a harmless line in the index. Bump ``CLEANER_VERSION`` when a rule changes, so indexes
re-clean their documents.
"""

from __future__ import annotations

import re

# 2: C1 control characters removed, zero-width characters removed before NFC, titles normalised (issue 14 fuzzing)
# 3: not a cleaning rule but the chunker's (special tokens counted once per chunk, long sentences cut at
#    clauses, small neighbours joined, issue 13): documents are re-read so their chunks follow the new rules
# 4: documents carry location marks (slides, sheets and rows, sections; rag.locations, issue 16) and an EPUB's
#    chapters are cleaned one by one: documents are re-read to get them
# 5: the chunker's rules of 3 undone (they lost answers on the dev gold set, eval/RESULTS.md): re-chunk again
CLEANER_VERSION = 5

# Whole lines that are site navigation or social/app links ("twitter", "apple store", "ru").
_NAV_TOKENS = {
    "twitter", "x", "youtube", "instagram", "facebook", "telegram", "linkedin", "whatsapp", "tiktok",
    "reddit", "pinterest", "vk", "email", "rss", "apple store", "app store", "google play",
    "play market", "night_theme", "search", "menu", "home", "ru", "en", "arm", "az", "print",
    "share", "copy link", "ads", "advertisement", "a+", "a-", "free stats", "quote", "podcasts",
    "view profile", "footnotes", "explore our related content", "leave a reply", "read more",
    "related", "related articles", "skip to content", "back to top",
}

# Lines that are prompts, notices or widgets, matched from the start of the line.
_FURNITURE = [re.compile(p, re.IGNORECASE) for p in (
    r"subscribe to (the |our )?.*newsletter",
    r"get a weekly round-up of",
    r"sign up (for|to) (our|the) newsletter",
    r"have an idea for a commentary",
    r"comments are closed\.?$",
    r"your email address will not be published",
    r"share-line",
    r"liked the story\?",
    r"share (this|on) ",
    r"views?: \d[\d,]*$",
    r"any use of materials is allowed only",
    r"what are you looking for\s*\?",
    r"ссылка скопирована",
    r"link copied",
    r"the most important world news$",
    r"all rights reserved",
)]

_ICON = re.compile(r"\bicon\b|icon\b|\bicon", re.IGNORECASE)
_TIMESTAMPS = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?(\s+\d{1,2}:\d{2}(:\d{2})?)*$")
_BARE_DOMAIN = re.compile(r"^[\w-]+(\.[\w-]+)*\.(az|com|org|net|co|uk|io|ru|info|news)$", re.IGNORECASE)
_SECTION_LABEL = re.compile(r"^[A-Z]{2,12}$")  # "WORLD", "NEWS": a one-word all-caps menu label


def is_furniture(line: str) -> bool:
    """True when ``line`` (already stripped) is page furniture rather than article text."""
    low = line.lower()
    if low in _NAV_TOKENS:
        return True
    if any(p.match(line) for p in _FURNITURE):
        return True
    if "©" in line and len(line.split()) <= 12:  # copyright notices
        return True
    if len(_ICON.findall(line)) >= 3:  # icon-font names: "icon bookmark-bicon bookmarkicon ..."
        return True
    if _TIMESTAMPS.match(line):  # media player times: "0:00", "28:18"
        return True
    if _BARE_DOMAIN.match(line):  # "Caliber.Az"
        return True
    if _SECTION_LABEL.match(line) and line not in {"AUKUS", "NATO"} and len(line) > 2:
        return True
    return not any(ch.isalnum() for ch in line)  # only punctuation or symbols


def _is_headline(line: str) -> bool:
    """A short, mostly-letters line without closing punctuation: a title, heading or ticker item."""
    words = line.split()
    letters = sum(ch.isalpha() for ch in line)
    return 3 <= len(words) <= 25 and letters >= len(line) / 2 and line.rstrip()[-1] not in ".!?:"


def _recurs_below(line: str, below: str) -> bool:
    """At least half of the line's longer words occur in the text below it."""
    own = re.findall(r"\w{4,}", line.lower())
    rest = set(re.findall(r"\w{4,}", below.lower()))
    return bool(own) and sum(w in rest for w in own) / len(own) >= 0.5


def _title_position(lines: list[str]) -> int | None:
    """Index of the first headline among the first 8 lines whose words recur in the article below."""
    for i, line in enumerate(lines[:8]):
        if line and _is_headline(line) and _recurs_below(line, "\n".join(lines[i + 1 :])):
            return i
    return None


def guess_title(text: str) -> str:
    """The first heading-like line whose words recur in the body, else the first substantive line."""
    lines = text.split("\n")
    pos = _title_position(lines)
    if pos is not None:
        return lines[pos].strip()
    return next((ln.strip()[:200] for ln in lines if ln.strip()), "")


def clean_text(text: str) -> str:
    """Drop furniture lines and a line that repeats the previous one; keep at most one blank line.

    Above the title, also drop headlines that have nothing to do with the article (a site's
    ticker of other stories): their words do not recur below. ``text`` must already be
    normalised (see ``documents.normalize``).
    """
    out: list[str] = []
    previous = None
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            if out and out[-1] != "":
                out.append("")
            continue
        if is_furniture(line) or line == previous:  # repeated captions and related-article links
            continue
        out.append(line)
        previous = line
    title = _title_position(out)
    if title:
        out = [ln for ln in out[:title] if not (ln and _is_headline(ln))] + out[title:]
    return "\n".join(out).strip()
