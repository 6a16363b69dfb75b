"""`rag eval`: run a gold set through the retriever and the assistant; score retrieval, answers,
citations, abstention and latency; write the run to a folder.

``evaluate(questions, assistant)`` takes plain dicts and returns ``(summary, rows)``: ``summary`` is a
flat dict of named metrics (the keys of ``SUMMARY_KEYS``, plus ``config``), ``rows`` one dict per
question with everything needed to see why it scored as it did.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rag import Answer, Assistant, Hit

from .matching import matches_all, passage_is_relevant, strip_markers, token_f1
from .metrics import mean, percentile, retrieval_metrics

SUMMARY_KEYS = ("n", "n_answerable", "retrieval.recall@1", "retrieval.recall@5", "retrieval.mrr",
                "answer.accuracy", "answer.token_f1", "citation.precision", "citation.recall",
                "abstention.accuracy", "abstention.false_rate", "latency.p50_s", "latency.p95_s")
RETRIEVAL_DEPTH = 10  # recall@k is reported for k = 1..10; MRR counts a first relevant passage in the top 10


def evaluate(questions: list[dict[str, Any]], assistant: Assistant,
             progress: Callable[[Iterable], Iterable] = iter) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score ``assistant`` on ``questions`` (see ``eval.gold``); ``progress`` wraps the question loop."""
    rows = [_one(q, assistant) for q in progress(questions)]
    return summarize(rows, assistant), rows


def _one(q: dict[str, Any], assistant: Assistant) -> dict[str, Any]:
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
        "time_s": round(elapsed, 3), "timings": answer.timings,
    }


def _hit(hit: Hit, relevant: bool) -> dict[str, Any]:
    return {"rank": hit.rank, "doc_id": hit.doc_id, "start": hit.start, "end": hit.end,
            "score": hit.score, "relevant": relevant}


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
    nothing to count, e.g. abstention accuracy for a gold set without unanswerable questions)."""
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
    }
    summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()}
    if assistant is not None:
        summary["config"] = configuration(assistant)
    return summary


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
    """(metric, value in A, value in B, B - A) for every summary metric."""
    rows = []
    for key in SUMMARY_KEYS:
        va, vb = a.get(key), b.get(key)
        delta = round(vb - va, 4) if isinstance(va, int | float) and isinstance(vb, int | float) else None
        rows.append((key, va, vb, delta))
    return rows
