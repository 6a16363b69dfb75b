#!/usr/bin/env python3
"""Validate the AUKUS gold question set (standard library only).

Checks:
  * every line is a JSON object with the required keys and value types;
  * ids are unique; `type` is one of the allowed values;
  * answerable <=> non-empty must_include / evidence / sources / reference,
    and answerable == (type != "unanswerable");
  * must_include has 1-4 elements, each a non-empty "a|b|c" set of alternatives;
  * sources name existing files in the corpus; "multi" questions cite >= 2
    sources and have at least one evidence quote from each;
  * every evidence quote occurs verbatim in at least one of its sources
    (after collapsing whitespace runs to one space on both sides), lies
    within a single line of the file, and is 8-40 words long;
  * the reference answer itself satisfies its must_include elements.

Prints every failure and the counts per type; exits 1 on any failure.

Usage: python3 check_gold.py [GOLD_JSONL] [CORPUS_DIR]
"""
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GOLD = os.path.join(HERE, "aukus.jsonl")
DEFAULT_CORPUS = os.path.normpath(os.path.join(HERE, "..", "..", "corpus"))

REQUIRED = {
    "id": str,
    "question": str,
    "answerable": bool,
    "type": str,
    "must_include": list,
    "evidence": list,
    "sources": list,
    "reference": str,
}
TYPES = {"fact", "number", "who", "multi", "paraphrase", "unanswerable"}


def collapse(s):
    return re.sub(r"\s+", " ", s).strip()


_TRANS = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-", "\u00a0": " ",
})


def norm_answer(s):
    """Normalisation used for must_include matching (same spirit as the scorer)."""
    s = s.translate(_TRANS).lower()
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # 1,677 -> 1677
    return collapse(s)


def satisfies(text, element):
    t = norm_answer(text)
    return any(norm_answer(alt) in t for alt in element.split("|") if alt.strip())


def main():
    gold_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_GOLD
    corpus_dir = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_CORPUS
    failures = []

    def fail(qid, msg):
        failures.append(f"[{qid}] {msg}")

    corpus = {}
    for name in sorted(os.listdir(corpus_dir)):
        p = os.path.join(corpus_dir, name)
        if os.path.isfile(p):
            with open(p, encoding="utf-8") as f:
                raw = f.read()
            corpus[name] = {
                "flat": collapse(raw),
                "lines": [collapse(line) for line in raw.splitlines()],
            }

    counts = Counter()
    ids = set()
    cited = set()
    with open(gold_path, encoding="utf-8") as f:
        lines = f.readlines()

    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            fail(f"line {lineno}", "blank line")
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            fail(f"line {lineno}", f"invalid JSON: {e}")
            continue
        if not isinstance(d, dict):
            fail(f"line {lineno}", "not a JSON object")
            continue
        qid = d.get("id", f"line {lineno}")

        ok = True
        for key, typ in REQUIRED.items():
            if key not in d:
                fail(qid, f"missing key {key!r}")
                ok = False
            elif not isinstance(d[key], typ):
                fail(qid, f"{key!r} should be {typ.__name__}, got {type(d[key]).__name__}")
                ok = False
        extra = set(d) - set(REQUIRED)
        if extra:
            fail(qid, f"unexpected keys {sorted(extra)}")
        if not ok:
            continue

        if qid in ids:
            fail(qid, "duplicate id")
        ids.add(qid)
        if not d["question"].strip():
            fail(qid, "empty question")
        qtype = d["type"]
        counts[qtype] += 1
        if qtype not in TYPES:
            fail(qid, f"unknown type {qtype!r}")
        for key in ("must_include", "evidence", "sources"):
            if not all(isinstance(x, str) and x.strip() for x in d[key]):
                fail(qid, f"{key!r} must contain non-empty strings only")

        ans = d["answerable"]
        if ans != (qtype != "unanswerable"):
            fail(qid, f"answerable={ans} inconsistent with type {qtype!r}")
        if ans:
            for key in ("must_include", "evidence", "sources"):
                if not d[key]:
                    fail(qid, f"answerable question has empty {key!r}")
            if not d["reference"].strip():
                fail(qid, "answerable question has empty reference")
            if not 1 <= len(d["must_include"]) <= 4:
                fail(qid, f"must_include should have 1-4 elements, has {len(d['must_include'])}")
        else:
            for key in ("must_include", "evidence", "sources"):
                if d[key]:
                    fail(qid, f"unanswerable question has non-empty {key!r}")
            if d["reference"]:
                fail(qid, "unanswerable question has non-empty reference")

        for el in d["must_include"]:
            if isinstance(el, str) and any(not a.strip() for a in el.split("|")):
                fail(qid, f"must_include element {el!r} has an empty alternative")
            elif isinstance(el, str) and d["reference"] and not satisfies(d["reference"], el):
                fail(qid, f"reference does not satisfy must_include element {el!r}")

        if len(set(d["sources"])) != len(d["sources"]):
            fail(qid, "duplicate entries in sources")
        srcs = [s for s in d["sources"] if isinstance(s, str)]
        for s in srcs:
            if s not in corpus:
                fail(qid, f"unknown source file {s!r}")
        cited.update(s for s in srcs if s in corpus)

        matched_sources = set()
        for ev in d["evidence"]:
            if not isinstance(ev, str):
                continue
            cev = collapse(ev)
            n_words = len(cev.split())
            if not 8 <= n_words <= 40:
                fail(qid, f"evidence has {n_words} words (want 8-40): {ev[:60]!r}...")
            hits = [s for s in srcs if s in corpus and cev in corpus[s]["flat"]]
            if not hits:
                fail(qid, f"evidence not found verbatim in sources {srcs}: {ev!r}")
                continue
            matched_sources.update(hits)
            if not any(cev in ln for s in hits for ln in corpus[s]["lines"]):
                fail(qid, f"evidence spans a line break: {ev[:60]!r}...")

        if qtype == "multi":
            if len(srcs) < 2:
                fail(qid, "multi question needs at least two sources")
            missing = [s for s in srcs if s in corpus and s not in matched_sources]
            if missing:
                fail(qid, f"multi question has no evidence from {missing}")

    uncovered = sorted(set(corpus) - cited)
    if uncovered:
        fail("corpus", f"documents never cited: {uncovered}")

    total = sum(counts.values())
    print(f"{gold_path}: {total} questions")
    for t in sorted(TYPES | set(counts)):
        print(f"  {t:13s} {counts.get(t, 0)}")
    answerable = total - counts.get("unanswerable", 0)
    print(f"  {'answerable':13s} {answerable}")
    if failures:
        print(f"\n{len(failures)} failure(s):")
        for msg in failures:
            print("  " + msg)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
