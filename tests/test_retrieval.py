from __future__ import annotations

import json
from difflib import SequenceMatcher
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import ConfigError, Retriever
from rag.cli import main

from .conftest import DATA

QUESTIONS = [json.loads(line) for line in (DATA / "dev_questions.jsonl").read_text().splitlines() if line.strip()]


def relevant(hit_text: str, evidence: str) -> bool:
    """The passage holds the quote, or at least half of it as one contiguous span (chunk seams)."""
    if evidence in hit_text:
        return True
    match = SequenceMatcher(None, hit_text, evidence, autojunk=False).find_longest_match(
        0, len(hit_text), 0, len(evidence))
    return match.size >= len(evidence) / 2


def recall_at(retriever: Retriever, mode: str, k: int) -> float:
    found = 0
    for q in QUESTIONS:
        hits = retriever.search(q["question"], k=k, mode=mode)
        found += any(relevant(h.text, q["evidence"]) for h in hits)
    return found / len(QUESTIONS)


def test_dev_set_covers_all_documents():
    assert len(QUESTIONS) >= 25
    assert len({q["doc_id"] for q in QUESTIONS}) == 5


@pytest.mark.integration
def test_hybrid_recall_at_5_on_dev_set(real_index):
    retriever = Retriever(real_index)
    recall = recall_at(retriever, "hybrid", 5)
    print(f"hybrid recall@5 = {recall:.3f}")
    assert recall >= 0.95


@pytest.mark.integration
def test_hits_are_exact_spans_with_titles(real_index):
    for hit in Retriever(real_index).search("security clearance bill in Japan", k=5):
        doc = real_index.document(hit.doc_id)
        assert doc.text[hit.start : hit.end] == hit.text
        assert hit.title == doc.title


@pytest.mark.integration
def test_near_duplicate_passages_are_returned_once_with_every_source(real_index):
    hits = Retriever(real_index).search("Shin Won-sik possibility of sharing advanced military technology",
                                        k=5, mode="hybrid")
    carrying = [h for h in hits if "rock the boat" in h.text]
    assert len(carrying) == 1
    sources = {carrying[0].doc_id, *carrying[0].also_in}
    assert sources == {"001_6dd7a3f3fd3484a4.txt", "002_1d980a9ae2147235.txt"}


@pytest.mark.integration
def test_modes_and_document_filter(real_index):
    retriever = Retriever(real_index)
    for mode in ("dense", "bm25", "hybrid"):
        hits = retriever.search("1,677 respondents Southeast Asia", k=3, mode=mode)
        assert hits[0].doc_id == "001_6dd7a3f3fd3484a4.txt", mode
    only = retriever.search("Japan", k=10, doc_ids=["004_07f60d43413d9997.txt"])
    assert only and {h.doc_id for h in only} == {"004_07f60d43413d9997.txt"}
    with pytest.raises(ConfigError, match="unknown document"):
        retriever.search("Japan", doc_ids=["nope.txt"])
    with pytest.raises(ConfigError, match="mode must be one of"):
        retriever.search("Japan", mode="fuzzy")


@pytest.mark.integration
def test_search_json_output(real_index):
    result = CliRunner().invoke(main, ["search", "Who could join Pillar 2?", "-k", "3", "--json",
                                       "--index", str(real_index.path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "Who could join Pillar 2?"
    assert [h["rank"] for h in data["hits"]] == [1, 2, 3]
    for h in data["hits"]:
        assert {"rank", "text", "doc_id", "title", "start", "end", "score"} <= set(h)
        assert Path(real_index.document(h["doc_id"]).source).name == h["doc_id"]
