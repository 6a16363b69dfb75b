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
from rag_eval import calibration, squad
from rag_eval.gold import GOLD, load_gold
from rag_eval.harness import CALIBRATION_KEYS, SUMMARY_KEYS, compare, evaluate, signals, summarize, write_run
from rag_eval.matching import contains_answer, exact_match, matches_all, normalize, passage_is_relevant, token_f1
from rag_eval.metrics import percentile, retrieval_metrics

from rag import Answer, Claim, ConfigError, Hit

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


@pytest.mark.parametrize("gold", ["aukus.jsonl", "aukus-test.jsonl", "aukus-dev2.jsonl", "aukus-dev3.jsonl",
                                  "aukus-dev4.jsonl", "aukus-dev5.jsonl"])
def test_the_full_gold_checker_passes(gold):
    done = subprocess.run([sys.executable, str(ROOT / "eval/gold/check_gold.py"), str(ROOT / "eval/gold" / gold)],
                          capture_output=True, text=True)
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
    types = {"fact", "number", "who", "multi", "paraphrase"}
    assert set(summary) == {*SUMMARY_KEYS, *CALIBRATION_KEYS, "calibration.method", "config",
                            *(f"type.{t}.accuracy" for t in types), "type.unanswerable.abstention"}
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
    assert len(rows) == 70 and {"question", "answer", "citations", "hits", "verdicts", "time_s", "signals",
                                "confidence"} <= set(rows[0])
    assert all(r["signals"]["best_dense"] is not None and r["signals"]["judge_min"] is None for r in rows)  # no judge
    assert all((r["confidence"] is None) == r["abstained"] for r in rows)
    for plot in ("recall_at_k.png", "latency.png", "accuracy_by_type.png", "risk_coverage.png", "reliability.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| retrieval.recall@5 |" in report and "| multi |" in report and "![reliability.png]" in report

    # --compare: deltas between two runs (here, the run and a copy with one metric changed)
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text(json.dumps({**summary, "answer.accuracy": summary["answer.accuracy"] + 0.1}))
    shown = subprocess.run([RAG, "eval", "--compare", str(out), str(other)], capture_output=True, text=True)
    assert shown.returncode == 0 and "+0.100" in shown.stdout and "answer.accuracy" in shown.stdout
    assert "type.multi.accuracy" in shown.stdout


def test_compare_of_a_missing_run_is_one_clear_line(tmp_path):
    done = subprocess.run([RAG, "eval", "--compare", str(tmp_path), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error:") and "Traceback" not in done.stderr
    rows = compare({"n": 10, "answer.accuracy": 0.5}, {"n": 10, "answer.accuracy": 0.75})
    assert ("answer.accuracy", 0.5, 0.75, 0.25) in rows


# ---------------------------------------------------------------- signals, per-type metrics, calibration


def _hit(rank: int, dense: float | None, bm25: float | None) -> Hit:
    return Hit(rank=rank, chunk_id=rank, doc_id="a.txt", title="A", text="text", start=0, end=4, score=0.1,
               dense_score=dense, bm25_score=bm25)


def _claim(supported: bool, support: float, judge: float | None, note: str = "") -> Claim:
    return Claim(text="A sentence.", citations=(1,), supported=supported, support=support, judge=judge, note=note)


def _answer(claims: tuple[Claim, ...], abstained: bool = False, reason: str = "") -> Answer:
    return Answer(question="q", standalone="q", text="t", claims=claims, citations=(), passages=(),
                  abstained=abstained, reason=reason)


def test_signals_record_retrieval_support_judge_and_quoted_evidence():
    hits = [_hit(1, 0.61, 3.5), _hit(2, None, 9.0), _hit(3, 0.72, None), _hit(4, 0.40, 1.0)]
    claims = (_claim(True, 0.8, 0.9), _claim(True, 0.6, None), _claim(False, 0.1, 0.2, "unsupported"),
              _claim(True, 1.0, 0.7, "quoted: the model chose it as evidence"))
    got = signals(_answer(claims), hits)
    assert got == {"best_dense": 0.72, "best_bm25": 9.0, "dense_margin": pytest.approx(0.11), "support_mean": 0.8,
                   "support_min": 0.6, "judge_min": 0.7, "n_supported": 3, "quoted": True, "reason": ""}
    # An abstention before any answer, over passages with one dense score and no judge: nothing made up.
    got = signals(_answer((), abstained=True, reason="weak-retrieval"), [_hit(1, 0.2, None)])
    assert got == {"best_dense": 0.2, "best_bm25": None, "dense_margin": None, "support_mean": None,
                   "support_min": None, "judge_min": None, "n_supported": 0, "quoted": False,
                   "reason": "weak-retrieval"}
    assert signals(_answer((_claim(False, 0.1, None, "quoted"),)), [])["quoted"] is True


def _row(n: int, kind: str, *, answerable: bool = True, abstained: bool = False, correct: bool = False,
         signals: dict | None = None) -> dict:
    verdicts = ({"first_relevant_rank": 1, "correct": correct and not abstained, "token_f1": 0.5,
                 "relevant_citations": 1, "cites_relevant": True} if answerable else {"abstained_right": abstained})
    return {"id": f"q{n}", "type": kind, "question": f"question {n}?", "answerable": answerable,
            "answer": "The documents don't say." if abstained else f"answer {n} [1].", "abstained": abstained,
            "reason": "model" if abstained else "", "citations": [], "hits": [], "verdicts": verdicts,
            "time_s": 1.0, "timings": {}, **({"signals": signals} if signals is not None else {})}


def test_the_summary_has_per_type_accuracy_and_the_unanswerable_abstention_rate():
    rows = [_row(1, "fact", correct=True), _row(2, "fact"), _row(3, "fact", abstained=True),
            _row(4, "number", correct=True),
            _row(5, "unanswerable", answerable=False, abstained=True), _row(6, "unanswerable", answerable=False)]
    summary = summarize(rows)
    assert summary["type.fact.accuracy"] == 0.3333 and summary["type.number.accuracy"] == 1.0
    assert summary["type.unanswerable.abstention"] == 0.5
    assert not {"type.unanswerable.accuracy", "type.fact.abstention"} & set(summary)
    assert summary["answer.accuracy"] == 0.5 and set(SUMMARY_KEYS) <= set(summary)


def test_compare_shows_per_type_changes_and_a_dash_for_runs_made_before_them(tmp_path):
    from click.testing import CliRunner
    from rag_eval.cli import eval_cmd

    old = {"n": 10, "answer.accuracy": 0.5}  # a run from before per-type metrics and calibration
    new = {"n": 10, "answer.accuracy": 0.75, "type.fact.accuracy": 0.5, "type.unanswerable.abstention": 0.6,
           "calibration.ece": 0.1}
    newer = {**new, "type.fact.accuracy": 0.75, "type.unanswerable.abstention": 0.4}
    rows = {key: (a, b, d) for key, a, b, d in compare(old, new)}
    assert rows["type.fact.accuracy"] == (None, 0.5, None) and rows["answer.accuracy"] == (0.5, 0.75, 0.25)
    assert rows["calibration.ece"] == (None, 0.1, None)
    rows = {key: (a, b, d) for key, a, b, d in compare(new, newer)}
    assert rows["type.fact.accuracy"] == (0.5, 0.75, 0.25) and rows["type.unanswerable.abstention"][2] == -0.2
    for name, summary in (("old", old), ("new", new), ("newer", newer)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    shown = CliRunner().invoke(eval_cmd, ["--compare", str(tmp_path / "old"), str(tmp_path / "new")])
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if x.startswith("type.fact.accuracy"))
    assert line.split() == ["type.fact.accuracy", "-", "0.500", "-"]
    assert next(x for x in shown.output.splitlines() if x.startswith("answer.accuracy")).split()[-1] == "+0.250"
    shown = CliRunner().invoke(eval_cmd, ["--compare", str(tmp_path / "new"), str(tmp_path / "newer")])
    line = next(x for x in shown.output.splitlines() if x.startswith("type.unanswerable.abstention"))
    assert line.split() == ["type.unanswerable.abstention", "0.600", "0.400", "-0.200"]


def test_risk_coverage_lowers_the_threshold_through_each_confidence():
    confidence = [0.9, 0.8, None, 0.4, 0.8, 0.1]
    right = [True, False, None, False, True, True]
    curve = calibration.risk_coverage(confidence, right)
    # the two answers at 0.8 join together; the abstention (None) is never answered
    assert curve == [(0.9, 0.1667, 0.0), (0.8, 0.5, 0.3333), (0.4, 0.6667, 0.5), (0.1, 0.8333, 0.4)]
    coverage = [c for _, c, _ in curve]
    assert coverage == sorted(coverage) and [t for t, _, _ in curve] == sorted((t for t, _, _ in curve), reverse=True)
    assert calibration.risk_coverage([None, None], [None, None]) == []
    points = {p["point"]: p for p in calibration.operating_points(curve)}
    assert points["as run (every answer kept)"] == {"point": "as run (every answer kept)", "threshold": 0.1,
                                                    "coverage": 0.8333, "risk": 0.4}
    assert points["risk ≤ 0.05"]["threshold"] == 0.9 and points["risk ≤ 0.20"]["threshold"] == 0.9
    assert points["confidence ≥ 0.5"]["coverage"] == 0.5


def test_expected_calibration_error_of_known_cases():
    # bin 0.2: accuracy 0.5, confidence 0.2 (half the answers); bin 0.8: accuracy 1.0, confidence 0.8
    assert calibration.expected_calibration_error([0.2, 0.2, 0.8, 0.8], [False, True, True, True]) == 0.25
    # weighted by the bins' sizes: 1/4 * |0 - 0.2| + 3/4 * |2/3 - 0.8|
    assert calibration.expected_calibration_error([0.2, 0.8, 0.8, 0.8], [False, True, True, False]) == 0.15
    assert calibration.expected_calibration_error([1.0, 1.0, 0.0, None], [True, True, False, None]) == 0.0
    assert calibration.expected_calibration_error([0.95, 0.95], [False, False]) == 0.95
    assert calibration.expected_calibration_error([None], [None]) is None
    table = calibration.reliability([0.2, 0.25, 0.8, 1.0], [False, True, True, True])
    assert [(b["low"], b["n"], b["accuracy"]) for b in table] == [(0.2, 2, 0.5), (0.8, 1, 1.0), (0.9, 1, 1.0)]


def _separable_rows(n: int = 40, seed: int = 3) -> list[dict]:
    """Answered questions whose best dense score tells right from wrong (with overlap), and a few abstentions."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        right = i % 3 != 0
        rows.append(_row(i, "fact", correct=right, signals={
            "best_dense": (0.7 if right else 0.45) + rng.gauss(0, 0.08), "best_bm25": None, "dense_margin": 0.05,
            "support_mean": 0.9, "support_min": 0.8, "judge_min": None, "n_supported": 1, "quoted": False,
            "reason": ""}))
    rows += [_row(n + i, "unanswerable", answerable=False, abstained=True, signals={"best_dense": 0.3})
             for i in range(4)]
    rows.append(_row(n + 4, "unanswerable", answerable=False, signals={"best_dense": 0.68, "support_min": 0.8}))
    return rows


def test_the_confidence_is_fitted_and_tested_on_different_folds():
    import numpy as np

    rows = _separable_rows()
    fit = calibration.fit_confidence(rows)
    assert fit.folds == 5 and "out-of-fold" in fit.method and "best_bm25" not in fit.features
    assert all((c is None) == r["abstained"] for c, r in zip(fit.confidence, rows, strict=True))
    assert fit == calibration.fit_confidence(rows)  # fixed seed: the same every time
    right = [c for c, r in zip(fit.confidence, rows, strict=True) if calibration.shown_right(r)]
    wrong = [c for c, r in zip(fit.confidence, rows, strict=True) if calibration.shown_right(r) is False]
    assert sum(right) / len(right) > 0.7 > 0.4 > sum(wrong) / len(wrong)
    # Each confidence is what a model fitted on the other folds says: refit fold by fold and compare.
    answered = [i for i, r in enumerate(rows) if not r["abstained"]]
    x = np.array([[np.nan if rows[i]["signals"].get(f) is None else float(rows[i]["signals"][f])
                   for f in fit.features] for i in answered])
    y = np.array([int(bool(calibration.shown_right(rows[i]))) for i in answered])
    for train, test in calibration.splitter(fit.folds).split(x, y):
        model = calibration.model().fit(x[train], y[train])
        expected = model.predict_proba(x[test])[:, 1]
        assert [fit.confidence[answered[t]] for t in test] == pytest.approx(expected, abs=1e-4)
    # ... and not a fit to all of them: a model fitted on every question would say something else somewhere.
    everything = calibration.model().fit(x, y).predict_proba(x)[:, 1]
    assert max(abs(fit.confidence[i] - p) for i, p in zip(answered, everything, strict=True)) > 1e-3


def test_too_few_answers_or_a_single_class_fall_back_to_one_signal():
    few = [_row(i, "fact", correct=i % 2 == 0, signals={"judge_min": 0.1 * i, "support_min": 0.5}) for i in range(6)]
    fit = calibration.fit_confidence(few)
    assert fit.folds == 0 and fit.features == ("judge_min",) and "no model fitted" in fit.method
    assert fit.confidence == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    all_right = [_row(i, "fact", correct=True, signals={"support_min": 0.9, "judge_min": None}) for i in range(20)]
    fit = calibration.fit_confidence(all_right)
    assert fit.folds == 0 and fit.features == ("support_min",) and fit.confidence == [0.9] * 20
    old = [_row(i, "fact", correct=True) for i in range(3)]  # a run from before signals were recorded
    assert calibration.fit_confidence(old).confidence == [None, None, None]


def test_a_run_folder_has_the_risk_coverage_and_reliability_plots_and_their_table(tmp_path):
    rows = _separable_rows()
    summary = summarize(rows)
    assert 0.0 <= summary["calibration.ece"] <= 1.0 and "out-of-fold" in summary["calibration.method"]
    write_run(tmp_path, summary, rows)
    for plot in ("recall_at_k.png", "latency.png", "accuracy_by_type.png", "risk_coverage.png", "reliability.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
    report = (tmp_path / "report.md").read_text()
    assert "![risk_coverage.png](risk_coverage.png)" in report and "![reliability.png](reliability.png)" in report
    assert "fitted and tested on different folds" in report.lower()
    assert "| as run (every answer kept) | ≥ " in report and "| risk ≤ 0.10 |" in report
    assert f"Expected calibration error (10 equal-width bins, 41 answers): {summary['calibration.ece']:.3f}" in report
    assert "| fact | " in report and "| unanswerable | 4 | 5 | 0.800 |" in report
    saved = [json.loads(line) for line in (tmp_path / "questions.jsonl").read_text().splitlines()]
    assert [r["confidence"] for r in saved] == [r["confidence"] for r in rows]
    # rows of a run from before signals: the report still renders and says there is no confidence
    old = [_row(i, "fact", correct=i % 2 == 0) for i in range(4)]
    write_run(tmp_path / "old", summarize(old), old)
    assert "No answered question has a confidence" in (tmp_path / "old" / "report.md").read_text()
    assert (tmp_path / "old" / "reliability.png").exists()


def test_evaluate_records_signals_with_the_extractive_generator(tmp_path):
    from rag.testing import tiny_workspace

    assistant = tiny_workspace(tmp_path / "ws").assistant
    questions = [
        {"id": "t1", "type": "fact", "question": "When does the ferry to Somes Island leave?", "answerable": True,
         "must_include": ["7:45"], "evidence": ["The ferry to Somes Island leaves at 7:45"], "sources": ["harbour.txt"],
         "reference": "At 7:45 every morning."},
        {"id": "t2", "type": "fact", "question": "Which country may join Pillar 2?", "answerable": True,
         "must_include": ["Japan"], "evidence": ["Japan may join Pillar 2"], "sources": ["pillar.txt"],
         "reference": "Japan."},
        {"id": "t3", "type": "unanswerable", "question": "What colour is the ferry's funnel?", "answerable": False,
         "must_include": [], "evidence": [], "sources": [], "reference": ""},
    ]
    summary, rows = evaluate(questions, assistant)
    assert summary["type.fact.accuracy"] == 1.0 and "type.unanswerable.abstention" in summary
    for row in rows:
        assert set(row["signals"]) == {"best_dense", "best_bm25", "dense_margin", "support_mean", "support_min",
                                       "judge_min", "n_supported", "quoted", "reason"}
        assert row["signals"]["best_dense"] is not None and row["signals"]["judge_min"] is None  # no judge
    first = rows[0]["signals"]
    assert first["n_supported"] >= 1 and first["support_min"] is not None and first["reason"] == ""
    assert rows[0]["confidence"] is not None and {h["dense_score"] is not None for h in rows[0]["hits"]} == {True}


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
