"""`rag eval`: run a gold set through the retriever and the assistant; score retrieval, answers,
citations, abstention and latency; write the run to a folder.

``evaluate(questions, assistant)`` takes plain dicts and returns ``(summary, rows)``: ``summary`` is a
flat dict of named metrics (the keys of ``SUMMARY_KEYS``, the per-type ``type.<type>.accuracy`` (for
unanswerable types ``type.<type>.abstention``, the share abstained on), ``calibration.*``, plus ``config``),
``rows`` one dict per question with everything needed to see why it scored as it did: among them the
``signals`` an answer's trustworthiness can be judged by, and the out-of-fold ``confidence`` fitted on them
(``eval.calibration``; reporting only, the assistant abstains as it always does).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rag import Answer, Assistant, Hit

from .calibration import expected_calibration_error, fit_confidence, shown_right
from .matching import matches_all, passage_is_relevant, strip_markers, token_f1
from .metrics import mean, percentile, retrieval_metrics

SUMMARY_KEYS = ("n", "n_answerable", "retrieval.recall@1", "retrieval.recall@5", "retrieval.mrr",
                "answer.accuracy", "answer.token_f1", "citation.precision", "citation.recall",
                "abstention.accuracy", "abstention.false_rate", "latency.p50_s", "latency.p95_s")
CALIBRATION_KEYS = ("calibration.ece",)  # numeric, so --compare shows them; "calibration.method" says how
RETRIEVAL_DEPTH = 10  # recall@k is reported for k = 1..10; MRR counts a first relevant passage in the top 10


def evaluate(questions: list[dict[str, Any]], assistant: Assistant,
             progress: Callable[[Iterable], Iterable] = iter) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score ``assistant`` on ``questions`` (see ``eval.gold``); ``progress`` wraps the question loop."""
    rows = [score_question(q, assistant) for q in progress(questions)]
    return summarize(rows, assistant), rows


def score_question(q: dict[str, Any], assistant: Assistant) -> dict[str, Any]:
    """Ask ``assistant`` one gold question ``q`` and score what it answered: one row of a run."""
    s = assistant.settings
    hits = assistant.retriever.search(q["question"], k=RETRIEVAL_DEPTH, mode=s.mode)
    relevant = [passage_is_relevant(h.text, q["evidence"]) for h in hits]  # no evidence: never relevant
    t = time.perf_counter()
    answer = assistant.ask(q["question"])
    elapsed = time.perf_counter() - t
    cited = [passage_is_relevant(c.text, q["evidence"]) for c in answer.citations]  # all False if unanswerable
    return {
        "id": q["id"], "type": q["type"], "question": q["question"], "answerable": q["answerable"],
        "answer": answer.text, "abstained": answer.abstained, "reason": answer.reason,
        "citations": [{"n": c.n, "doc_id": c.doc_id, "start": c.start, "end": c.end, "relevant": r}
                      for c, r in zip(answer.citations, cited, strict=True)],
        "hits": [_hit(h, r) for h, r in zip(hits, relevant, strict=True)],
        "verdicts": _verdicts(q, answer, relevant, cited),
        "signals": signals(answer, hits),
        "time_s": round(elapsed, 3), "timings": answer.timings,
    }


def signals(answer: Answer, hits: Sequence[Hit]) -> dict[str, Any]:
    """What could tell a right answer from a wrong one, known before anyone checks it: the best dense and BM25
    scores of ``hits`` and the dense margin (best minus second), the mean and lowest lexical support and the
    lowest judge P(yes) of the supported sentences (None where nothing was measured), how many sentences were
    supported, whether any was quoted as evidence the model chose (a claim note starting "quoted"), and the
    abstention reason ("" when it answered)."""
    dense = sorted((h.dense_score for h in hits if h.dense_score is not None), reverse=True)
    bm25 = [h.bm25_score for h in hits if h.bm25_score is not None]
    claims = list(answer.claims or ())
    supported = [c for c in claims if c.supported]
    support = [float(c.support) for c in supported if c.support is not None]
    judged = [float(c.judge) for c in supported if c.judge is not None]
    return {
        "best_dense": dense[0] if dense else None,
        "best_bm25": max(bm25) if bm25 else None,
        "dense_margin": round(dense[0] - dense[1], 6) if len(dense) > 1 else None,
        "support_mean": round(sum(support) / len(support), 4) if support else None,
        "support_min": min(support) if support else None,
        "judge_min": min(judged) if judged else None,
        "n_supported": len(supported),
        "quoted": any((c.note or "").startswith("quoted") for c in claims),
        "reason": answer.reason or "",
    }


def _hit(hit: Hit, relevant: bool) -> dict[str, Any]:
    return {"rank": hit.rank, "doc_id": hit.doc_id, "start": hit.start, "end": hit.end,
            "score": hit.score, "dense_score": hit.dense_score, "bm25_score": hit.bm25_score, "relevant": relevant}


def _verdicts(q: dict[str, Any], answer: Answer, relevant: list[bool], cited: list[bool]) -> dict[str, Any]:
    if not q["answerable"]:
        return {"abstained_right": answer.abstained}
    first = next((i + 1 for i, r in enumerate(relevant) if r), None)
    return {
        "first_relevant_rank": first,
        "correct": not answer.abstained and matches_all(strip_markers(answer.text), q["must_include"]),
        "token_f1": 0.0 if answer.abstained else round(token_f1(answer.text, [q["reference"]]), 4),
        "relevant_citations": sum(cited), "cites_relevant": any(cited),
    }


def summarize(rows: list[dict[str, Any]], assistant: Assistant | None = None) -> dict[str, Any]:
    """The summary metrics of a run's rows (every key of ``SUMMARY_KEYS``; None where a metric has
    nothing to count, e.g. abstention accuracy for a gold set without unanswerable questions), the per-type
    ones (``type_metrics``) and the calibration's. Sets each row's ``confidence`` (``eval.calibration``: out
    of fold; None where it abstained) from its ``signals``."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    ranking = retrieval_metrics([r["verdicts"]["first_relevant_rank"] for r in answerable], ks=(1, 5))
    citations = [c["relevant"] for r in answerable for c in r["citations"]]
    times = [r["time_s"] for r in rows]
    summary: dict[str, Any] = {
        "n": len(rows), "n_answerable": len(answerable),
        "retrieval.recall@1": ranking.get("recall@1"), "retrieval.recall@5": ranking.get("recall@5"),
        "retrieval.mrr": ranking.get("mrr"),
        "answer.accuracy": mean([r["verdicts"]["correct"] for r in answerable]),
        "answer.token_f1": mean([r["verdicts"]["token_f1"] for r in answerable]),
        "citation.precision": mean(citations),
        "citation.recall": mean([r["verdicts"]["cites_relevant"] for r in answerable]),
        "abstention.accuracy": mean([r["abstained"] for r in unanswerable]),
        "abstention.false_rate": mean([r["abstained"] for r in answerable]),
        "latency.p50_s": percentile(times, 0.5), "latency.p95_s": percentile(times, 0.95),
        **type_metrics(rows),
    }
    fit = fit_confidence(rows)
    for row, confidence in zip(rows, fit.confidence, strict=True):
        row["confidence"] = confidence
    summary["calibration.ece"] = expected_calibration_error(fit.confidence, [shown_right(r) for r in rows])
    summary["calibration.method"] = fit.method
    summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()}
    if assistant is not None:
        summary["config"] = configuration(assistant)
    return summary


def type_metrics(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per question type: ``type.<type>.accuracy`` over its answerable questions and, for a type of unanswerable
    questions, ``type.<type>.abstention``, the share it abstained on."""
    out: dict[str, float | None] = {}
    for kind in sorted({r["type"] for r in rows}):
        answerable = [r["verdicts"]["correct"] for r in rows if r["type"] == kind and r["answerable"]]
        unanswerable = [r["abstained"] for r in rows if r["type"] == kind and not r["answerable"]]
        if answerable:
            out[f"type.{kind}.accuracy"] = mean(answerable)
        if unanswerable:
            out[f"type.{kind}.abstention"] = mean(unanswerable)
    return out


def configuration(assistant: Assistant) -> dict[str, Any]:
    """What a run used: answer settings, the index and its embedding model, the machine, the date."""
    status = assistant.index.status()
    return {**assistant.settings.to_dict(), "index": status["index"], "documents": status["documents"],
            "chunks": status["chunks"], "embedding_model": status["model"], "retrieval_depth": RETRIEVAL_DEPTH,
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores"}


def write_run(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """``summary.json``, ``questions.jsonl``, the plots and ``report.md`` in ``out``."""
    from .report import write_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "questions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    write_report(out, summary, rows)


def load_summary(run: Path) -> dict[str, Any]:
    """A run's summary, from its folder or its ``summary.json``."""
    path = run / "summary.json" if run.is_dir() else run
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        from rag.errors import ConfigError

        raise ConfigError(f"{path} is not an evaluation run's summary.json ({exc}); run `rag eval` first") from None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any, float | None]]:
    """(metric, value in A, value in B, B - A) for every summary metric, the per-type ones of either run
    included (None where a run lacks it, e.g. one made before they were recorded)."""
    rows = []
    types = sorted({k for k in (*a, *b) if k.startswith("type.")})
    for key in (*SUMMARY_KEYS, *types, *CALIBRATION_KEYS):
        va, vb = a.get(key), b.get(key)
        delta = round(vb - va, 4) if isinstance(va, int | float) and isinstance(vb, int | float) else None
        rows.append((key, va, vb, delta))
    return rows
