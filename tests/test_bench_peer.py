"""eval/bench_peer.py's pure parts: when the LangChain peer abstained, how both systems' answers are scored, the
summary, the ratios and the table, and the question loops on tiny fakes (no LangChain, no language model)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rag_eval import bench_peer
from rag_eval.bench_peer import first_sentence, peer_abstained, ratios, run_ours, run_peer, score, summarize, table

from rag.testing import tiny_workspace

ANSWERABLE = {"id": "q1", "type": "fact", "question": "When does the ferry leave?", "answerable": True,
              "must_include": ["7:45"], "evidence": ["The ferry to Somes Island leaves at 7:45 every morning"],
              "sources": ["harbour.txt"], "reference": "At 7:45."}
UNANSWERABLE = {"id": "q2", "type": "unanswerable", "question": "What does the ferry's captain earn?",
                "answerable": False, "must_include": [], "evidence": [], "sources": [], "reference": ""}
RELEVANT = "Harbour notes. The ferry to Somes Island leaves at 7:45 every morning and costs 12 dollars."
OTHER = "Japan may join Pillar 2 of AUKUS, its defence minister said."


@pytest.mark.parametrize("reply", [
    "", "  \n", "I don't know.", "I do not know the answer to that question.", "I'm not sure. Maybe 8:00.",
    "The context does not mention the captain's pay.", "The documents don't say.",
    "There is no information about the captain's salary in the context.", "Unfortunately, I cannot answer that.",
])
def test_replies_that_say_they_do_not_know_are_abstentions(reply):
    assert peer_abstained(reply)


@pytest.mark.parametrize("reply", [
    "The ferry leaves at 7:45.", "The ferry leaves at 7:45. I don't know what it costs.",
    "Experts know that the ferry leaves at 7:45.", "Japan may join Pillar 2\n\nQuestion: I don't know",
])
def test_a_reply_that_answers_first_is_an_answer_even_if_it_hedges_later(reply):
    assert not peer_abstained(reply)


def test_first_sentence_stops_at_a_full_stop_before_a_space_or_a_line_break():
    assert first_sentence(" It leaves at 7.45 a.m. daily. Then... ") == "It leaves at 7.45 a.m."
    assert first_sentence("No stop here\nsecond line") == "No stop here"
    assert first_sentence("") == ""


def test_both_systems_are_scored_alike_and_sources_count_only_when_it_answered():
    right = score(ANSWERABLE, "It leaves at 7:45 [1].", False, [RELEVANT, OTHER, OTHER, RELEVANT], [RELEVANT])
    assert right == {"correct": True, "relevant_citations": [True, False, False, True], "cites_relevant": True,
                     "shown_relevant": True}
    wrong = score(ANSWERABLE, "It leaves at 8:00.", False, [OTHER], [OTHER])
    assert wrong["correct"] is False and wrong["relevant_citations"] == [False] and not wrong["shown_relevant"]
    silent = score(ANSWERABLE, "I don't know. 7:45", True, [RELEVANT], [RELEVANT])
    assert silent["correct"] is False and silent["relevant_citations"] == [] and silent["shown_relevant"]
    assert score(UNANSWERABLE, "I don't know.", True, [OTHER]) == {"abstained_right": True, "relevant_citations": []}
    assert score(UNANSWERABLE, "He earns a lot.", False, [OTHER])["abstained_right"] is False


def _row(q: dict, text: str, abstained: bool, sources: list[str], first: float | None, total: float) -> dict:
    return {"answerable": q["answerable"], "abstained": abstained, "search_s": 0.01, "first_token_s": first,
            "total_s": total, "verdicts": score(q, text, abstained, sources, sources)}


def test_the_summary_counts_citation_precision_abstentions_and_times_like_the_harness():
    rows = [_row(ANSWERABLE, "At 7:45.", False, [RELEVANT, OTHER, OTHER, OTHER], 1.0, 4.0),
            _row(ANSWERABLE, "I don't know.", True, [RELEVANT], 2.0, 3.0),
            _row(UNANSWERABLE, "He earns a lot.", False, [OTHER], 1.5, 5.0),
            _row(UNANSWERABLE, "I don't know.", True, [OTHER], None, 1.0)]
    s = summarize(rows)
    assert (s["n"], s["n_answerable"]) == (4, 2)
    assert s["answer.accuracy"] == 0.5
    assert s["citation.precision"] == 0.25  # 1 of the 4 sources of the one answered answerable question
    assert s["citation.recall"] == 0.5
    assert (s["abstention.right"], s["abstention.wrong"], s["abstention.false_rate"]) == (0.5, 0.5, 0.5)
    assert (s["first_token.p50_s"], s["first_token.p95_s"]) == (1.5, 2.0)  # the one without a first token left out
    assert (s["total.p50_s"], s["total.p95_s"]) == (3.0, 5.0)
    assert s["retrieval.shown_relevant"] == 1.0


def test_ratios_are_ours_over_the_peer_and_the_table_shows_what_is_missing():
    ours = {"n": 3, "index_s": 2.0, "answer.accuracy": 0.6, "citation.precision": None, "total.p50_s": 0.0}
    peer = {"n": 3, "index_s": 4.0, "answer.accuracy": 0.3, "citation.precision": 0.5, "total.p50_s": 0.0}
    assert ratios(ours, peer) == {"index_s": 0.5, "answer.accuracy": 2.0, "total.p50_s": None}
    text = table({"ours": ours, "peer": peer, "ratio": ratios(ours, peer)})
    assert "index time (s)" in text and "2.0" in text and "0.50" in text
    precision = next(line for line in text.splitlines() if line.startswith("citation precision"))
    assert precision.split()[-3:] == ["n/a", "0.500", "n/a"]


def test_the_peer_loop_times_the_first_piece_and_takes_its_sources_from_the_retrieved_chunks():
    docs = [SimpleNamespace(page_content=RELEVANT, metadata={"source": "/corpus/harbour.txt"}),
            SimpleNamespace(page_content=OTHER, metadata={"source": "/corpus/pillar.txt"})]
    retriever = SimpleNamespace(invoke=lambda question: docs)
    replies = {ANSWERABLE["question"]: ["", " The ferry", " leaves at 7:45."],
               UNANSWERABLE["question"]: ["I don't know."]}
    chain = SimpleNamespace(stream=lambda inputs: iter(replies[inputs["question"]]))
    lines: list[str] = []
    rows = run_peer(retriever, chain, [ANSWERABLE, UNANSWERABLE], lines.append, lambda text: len(text.split()))
    assert [r["answer"] for r in rows] == ["The ferry leaves at 7:45.", "I don't know."]
    assert [r["abstained"] for r in rows] == [False, True]
    assert [s["doc_id"] for s in rows[0]["sources"]] == ["harbour.txt", "pillar.txt"]
    assert rows[0]["verdicts"]["correct"] and rows[0]["verdicts"]["relevant_citations"] == [True, False]
    assert rows[1]["verdicts"] == {"abstained_right": True, "relevant_citations": []}
    assert all(0 <= r["first_token_s"] <= r["total_s"] for r in rows)
    assert len(lines) == 2 and lines[0].startswith("peer q1")
    assert rows[0]["reply_tokens"] == 5 and rows[0]["prompt_tokens"] > len(RELEVANT.split()) + len(OTHER.split())
    assert summarize(rows)["reply_tokens.mean"] == 4.0


def test_our_loop_scores_the_assistants_citations_on_a_tiny_workspace():
    assistant = tiny_workspace().assistant  # the extractive generator: no model
    [row] = run_ours(assistant, [ANSWERABLE], lambda line: None)
    assert not row["abstained"] and row["verdicts"]["correct"] and row["verdicts"]["relevant_citations"] == [True]
    assert row["sources"][0]["doc_id"] == "harbour.txt"
    assert row["first_token_s"] is not None and row["first_token_s"] <= row["total_s"]


def test_without_the_peer_packages_the_bench_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(bench_peer, "missing_peer_packages", lambda: ["langchain_community"])
    assert bench_peer.main(["--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and '.venv/bin/pip install -e ".[peer]"' in err
