"""The evaluation harness: gold set, matching, metrics, `rag eval` (with CI floors) and `rag bench squad`."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from rag_eval import squad
from rag_eval.gold import GOLD, load_gold
from rag_eval.harness import SUMMARY_KEYS, compare
from rag_eval.matching import contains_answer, exact_match, matches_all, normalize, passage_is_relevant, token_f1
from rag_eval.metrics import percentile, retrieval_metrics

from rag import ConfigError

from .conftest import CORPUS, ROOT

RAG = str(Path(sys.executable).with_name("rag"))


# ---------------------------------------------------------------- the gold set


def test_every_evidence_quote_occurs_in_its_source_document():
    questions = load_gold(GOLD)
    texts = {p.name: normalize(p.read_text(encoding="utf-8")) for p in CORPUS.iterdir()}
    for q in questions:
        for quote in q["evidence"]:
            assert any(normalize(quote) in texts[s] for s in q["sources"]), (q["id"], quote)
        assert set(q["sources"]) <= set(texts), q["id"]


def test_the_gold_set_has_the_coverage_the_issue_asks_for():
    questions = load_gold(GOLD)
    types = {q["type"] for q in questions}
    assert len(questions) >= 60 and sum(not q["answerable"] for q in questions) >= 12
    assert {"fact", "number", "who", "multi", "paraphrase", "unanswerable"} <= types
    assert {s for q in questions for s in q["sources"]} == {p.name for p in CORPUS.iterdir()}
    assert all(matches_all(q["reference"], q["must_include"]) for q in questions if q["answerable"])


def test_the_full_gold_checker_passes():
    done = subprocess.run([sys.executable, str(ROOT / "eval/gold/check_gold.py")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("line", "message"), [
    ("not json", r":1: not JSON"),
    ('{"id": "a", "question": "q", "answerable": "yes"}', r":1: 'answerable' must be a bool, got 'yes'"),
    ('{"id": "a", "question": "q", "answerable": true, "must_include": [], "evidence": [], "sources": [], '
     '"reference": ""}', "needs must_include and evidence"),
])
def test_a_bad_gold_line_is_named(tmp_path, line, message):
    path = tmp_path / "gold.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=message):
        load_gold(path)


# ---------------------------------------------------------------- matching and metrics


def test_matching_normalises_case_quotes_dashes_and_number_formatting():
    answer = "It cost A$1,677 million\u2014the \u201cPillar 2\u201d budget"
    assert matches_all(answer, ["1677", "pillar 2|p2", '"pillar', "million-the"])
    assert not matches_all("Japan and Canada", ["Japan", "Korea|South Korea"])
    assert passage_is_relevant("... and the second half of the quote here.", ["first half of it, the second half of"
                                                                              " the quote here"])
    assert not passage_is_relevant("unrelated words only", ["the second half of the quote here"])


def test_squad_scores_follow_the_official_normalisation():
    assert exact_match("The Denver Broncos [1].", ["Denver Broncos"]) == 1.0
    assert exact_match("Broncos won", ["Denver Broncos"]) == 0.0
    assert token_f1("Denver Broncos won", ["Denver Broncos"]) == pytest.approx(0.8)
    assert token_f1("", ["Denver Broncos"]) == 0.0
    assert contains_answer("It was won by the Denver Broncos [1].", ["Denver Broncos"])
    assert not contains_answer("It was won by Denverite fans.", ["Denver"])


def test_retrieval_metrics_from_first_relevant_ranks():
    m = retrieval_metrics([1, 3, None, 10], ks=(1, 5, 10))
    assert m["recall@1"] == 0.25 and m["recall@5"] == 0.5 and m["recall@10"] == 0.75
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 0.1) / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 0.5 + 1 / 3.4594316) / 4, rel=1e-5)
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3 and percentile([1, 2], 0.95) == 2


# ---------------------------------------------------------------- rag eval, end to end


@pytest.mark.integration
def test_rag_eval_with_the_extractive_generator_meets_the_retrieval_floors(real_index, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([RAG, "eval", "--generator", "extractive", "--index", str(real_index.path),
                           "--out", str(out), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary) == {*SUMMARY_KEYS, "config"}
    assert summary["n"] == 70 and summary["n_answerable"] == 53
    assert summary["config"]["generator"] == "extractive" and summary["config"]["documents"] == 5
    # Floors, a few points under what this configuration measures (eval/RESULTS.md): a retrieval
    # regression fails CI. Raise them when retrieval improves.
    assert summary["retrieval.recall@5"] >= 0.90
    assert summary["retrieval.recall@1"] >= 0.65
    assert summary["retrieval.mrr"] >= 0.75
    for key in SUMMARY_KEYS[2:11]:
        assert 0.0 <= summary[key] <= 1.0, key
    assert json.loads((out / "summary.json").read_text()) == summary
    rows = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert len(rows) == 70 and {"question", "answer", "citations", "hits", "verdicts", "time_s"} <= set(rows[0])
    for plot in ("recall_at_k.png", "latency.png", "accuracy_by_type.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| retrieval.recall@5 |" in (out / "report.md").read_text()

    # --compare: deltas between two runs (here, the run and a copy with one metric changed)
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text(json.dumps({**summary, "answer.accuracy": summary["answer.accuracy"] + 0.1}))
    shown = subprocess.run([RAG, "eval", "--compare", str(out), str(other)], capture_output=True, text=True)
    assert shown.returncode == 0 and "+0.100" in shown.stdout and "answer.accuracy" in shown.stdout


def test_compare_of_a_missing_run_is_one_clear_line(tmp_path):
    done = subprocess.run([RAG, "eval", "--compare", str(tmp_path), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error:") and "Traceback" not in done.stderr
    rows = compare({"n": 10, "answer.accuracy": 0.5}, {"n": 10, "answer.accuracy": 0.75})
    assert ("answer.accuracy", 0.5, 0.75, 0.25) in rows


# ---------------------------------------------------------------- SQuAD


TINY = {"data": [{"title": "T", "paragraphs": [
    {"context": "Super Bowl 50 was won by the Denver Broncos, who beat the Carolina Panthers 24 to 10.",
     "qas": [{"id": "a1", "question": "Which team won Super Bowl 50?", "answers": [{"text": "Denver Broncos"}]},
             {"id": "a2", "question": "Whom did the Broncos beat?", "answers": [{"text": "Carolina Panthers"}]}]},
    {"context": "The Amazon rainforest covers much of the Amazon basin of South America, about 5,500,000 km2.",
     "qas": [{"id": "b1", "question": "How large is the Amazon rainforest?", "answers": [{"text": "5,500,000 km2"}]}]},
    {"context": "Oxygen is a chemical element with symbol O and atomic number 8, a highly reactive nonmetal.",
     "qas": [{"id": "c1", "question": "What is the atomic number of oxygen?", "answers": [{"text": "8"}]}]},
]}]}


@pytest.mark.integration
def test_rag_bench_squad_on_a_tiny_squad_file(tmp_path):
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps(TINY))
    out = tmp_path / "out"
    done = subprocess.run([RAG, "bench", "squad", "--data", str(data), "--sample", "2", "--generator", "extractive",
                           "--index", str(tmp_path / "index"), "--out", str(out), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    for key in ("retrieval.recall@1", "retrieval.recall@5", "retrieval.recall@10", "retrieval.mrr",
                "retrieval.ndcg@10", "answer.em", "answer.f1", "answer.contains"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert set(summary["modes"]) == {"hybrid", "dense", "bm25"}
    assert summary["modes"]["dense"]["recall@5"] == 1.0  # three paragraphs: the right one is always in the top 5
    assert summary["config"]["paragraphs"] == 3 and summary["config"]["questions"] == 4
    assert "| hybrid |" in (out / "report.md").read_text()
    assert len((out / "answers.jsonl").read_text().splitlines()) == 2


def test_bench_squad_without_data_says_how_to_get_it(tmp_path):
    done = subprocess.run([RAG, "bench", "squad", "--data", str(tmp_path / "none.json"), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "rag bench squad --fetch" in done.stderr and "Traceback" not in done.stderr


def test_fetch_keeps_only_the_verified_file_from_the_archive(tmp_path, monkeypatch):
    payload = json.dumps(TINY).encode()
    archive = tmp_path / "bigbench.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(squad.MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setattr(squad, "ARCHIVE_URL", archive.as_uri())
    monkeypatch.setattr(squad, "ARCHIVE_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(squad, "DATA_SHA256", hashlib.sha256(payload).hexdigest())
    target = tmp_path / "cache" / "squaddev_v1.1.json"
    assert squad.fetch(target, log=lambda line: None) == target
    assert target.read_bytes() == payload and list(target.parent.iterdir()) == [target]
    monkeypatch.setattr(squad, "ARCHIVE_SHA256", "0" * 64)  # a corrupted download is refused, nothing kept
    target.unlink()
    with pytest.raises(ConfigError, match="sha256"):
        squad.fetch(target, log=lambda line: None)
    assert list(target.parent.iterdir()) == []
