"""Answer benchmark: speed and quality of `rag ask` over a gold question set, model loaded once.

    .venv/bin/python eval/bench_answers.py [--gold eval/gold/aukus.jsonl] [--generator llama]
        [--prompt strict] [--context-tokens 240] [--limit N] [--out results.jsonl]

Prints one JSON summary: time to first token and whole-answer time (p50, p95, seconds), and quality:
accuracy (answerable questions answered, not abstained, with every `must_include` element),
citation precision (citations whose passage holds an evidence quote, or half of one), citation
document precision (citations of a source document), abstention right (unanswerable questions
abstained on) and wrong (answerable questions abstained on). Speed is measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.matching import matches_all, passage_is_relevant  # noqa: E402
from rag import AnswerSettings, Assistant, Index  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gold", type=Path, default=ROOT / "eval/gold/aukus.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--index", type=Path, default=Path("/tmp/rag-bench-index"))
    parser.add_argument("--generator", default="llama")
    parser.add_argument("--prompt", default=AnswerSettings.prompt)
    parser.add_argument("--context-tokens", type=int, default=AnswerSettings.context_tokens)
    parser.add_argument("-k", type=int, default=AnswerSettings.k)
    parser.add_argument("--verify", default=AnswerSettings.verify)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    questions = [json.loads(line) for line in args.gold.read_text().splitlines() if line.strip()]
    if args.limit:
        questions = questions[: args.limit]
    index = Index(args.index)
    index.sync([args.corpus])
    settings = AnswerSettings(generator=args.generator, prompt=args.prompt, context_tokens=args.context_tokens,
                              k=args.k, verify=args.verify)
    assistant = Assistant(index, settings)
    t = time.perf_counter()
    assistant.warm_up()
    load_s = time.perf_counter() - t
    assistant.ask("Which countries could join Pillar 2?")  # caches the system prompt, as a server would

    rows = []
    for q in questions:
        answer = assistant.ask(q["question"])
        cited = answer.citations
        relevant = [passage_is_relevant(c.text, q["evidence"]) for c in cited]
        rows.append({
            "id": q["id"], "type": q.get("type", ""), "answerable": q["answerable"], "question": q["question"],
            "answer": answer.text, "raw": answer.raw, "abstained": answer.abstained, "reason": answer.reason,
            "correct": q["answerable"] and not answer.abstained and matches_all(answer.text, q["must_include"]),
            "citations": len(cited), "relevant_citations": sum(relevant),
            "source_citations": sum(c.doc_id in q["sources"] for c in cited),
            "claims": [[c.text, c.supported, c.support, c.judge] for c in answer.claims],
            "timings": answer.timings,
        })
        print(f"{q['id']} {'OK ' if rows[-1]['correct'] else '   '}{answer.text[:150]!r}", file=sys.stderr)

    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    n_cites = sum(r["citations"] for r in answerable)
    generated = [r for r in rows if "first_token_s" in r["timings"]]
    summary = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{__import__('os').cpu_count()} cores".strip(),
        "config": settings.to_dict(), "n": len(rows), "n_answerable": len(answerable), "load_s": round(load_s, 2),
        "ttft_p50_s": round(percentile([r["timings"]["first_token_s"] for r in generated], 0.5), 2),
        "ttft_p95_s": round(percentile([r["timings"]["first_token_s"] for r in generated], 0.95), 2),
        "total_p50_s": round(percentile([r["timings"]["total_s"] for r in rows], 0.5), 2),
        "total_p95_s": round(percentile([r["timings"]["total_s"] for r in rows], 0.95), 2),
        "accuracy": round(statistics.mean(r["correct"] for r in answerable), 3) if answerable else None,
        "citation_precision": round(sum(r["relevant_citations"] for r in answerable) / n_cites, 3) if n_cites else None,
        "citation_doc_precision": round(sum(r["source_citations"] for r in answerable) / n_cites, 3)
        if n_cites else None,
        "abstention_right": round(statistics.mean(r["abstained"] for r in unanswerable), 3) if unanswerable else None,
        "abstention_wrong": round(statistics.mean(r["abstained"] for r in answerable), 3) if answerable else None,
    }
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
