"""Where an answer's time goes, stage by stage, for several configurations side by side in one run.

    .venv/bin/python -m rag_eval.bench_latency [--gold eval/gold/aukus.jsonl] [--index index] [--limit N]
        [--variant NAME:key=value,key=value ...] [--out eval/reports/bench-latency.json]

Every variant is an ``AnswerSettings`` change from the defaults (``base`` = the defaults, always first).
All models load before timing starts; then each question is asked of every variant in turn, the order
rotating from question to question, so a busy moment of the machine falls on all of them alike. Each
answer is scored as ``rag eval`` scores it (``rag_eval.harness``), so a speed-up that costs accuracy shows in
the same table. Reports, per variant, p50/p95 of: time to first token, whole answer, and the stages
(retrieval, context, prefill = reading the prompt and writing the first token, writing, verification),
plus accuracy, citation precision and abstention; prompt-lookup acceptance where drafting is on.
Speed is measured here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.gold import load_gold  # pyright: ignore[reportMissingImports]
from rag_eval.harness import score_question, summarize  # pyright: ignore[reportMissingImports]
from rag_eval.metrics import percentile  # pyright: ignore[reportMissingImports]
from rag_eval.processes import cpu_name  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("first_token_s", "total_s", "retrieval_s", "context_s", "prefill_s", "writing_s", "verify_s")
QUALITY = ("answer.accuracy", "citation.precision", "abstention.accuracy", "abstention.false_rate")


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` as (name, settings changes); values are JSON, else strings.

    >>> parse_variant("fast:draft_tokens=8,trust_support=1.0")
    ('fast', {'draft_tokens': 8, 'trust_support': 1.0})
    """
    name, _, spec = text.partition(":")
    changes: dict[str, Any] = {}
    for pair in filter(None, spec.split(",")):
        key, eq, value = pair.partition("=")
        if not eq:
            raise SystemExit(f"error: --variant takes NAME:KEY=VALUE,..., got {text!r}")
        try:
            changes[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            changes[key.strip()] = value
    return name.strip(), changes


def spread(values: list[float]) -> dict[str, float | None]:
    """p50 and p95 of ``values`` (None for none)."""
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": round(percentile(values, 0.5), 3), "p95": round(percentile(values, 0.95), 3)}


def report(rows: list[dict[str, Any]], generator: Any) -> dict[str, Any]:
    """One variant's stage spreads, quality and drafting figures from its rows."""
    summary = summarize(rows)
    out: dict[str, Any] = {stage: spread([r["timings"][stage] for r in rows if stage in r["timings"]])
                           for stage in STAGES}
    out.update({key: summary.get(key) for key in QUALITY})
    out["answered_by_model"] = sum("prefill_s" in r["timings"] for r in rows)
    drafted = getattr(generator, "drafted", 0)
    out["draft_acceptance"] = round(generator.accepted / drafted, 3) if drafted else None
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--gold", default=str(ROOT / "eval" / "gold" / "aukus.jsonl"))
    parser.add_argument("--index", default=str(ROOT / "index"), help="an index of corpus/ (rag index corpus)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...")
    parser.add_argument("--out", default=str(ROOT / "eval" / "reports" / "bench-latency.json"))
    args = parser.parse_args(argv)

    import rag
    from rag.config import AnswerSettings
    from rag.errors import RagError

    try:
        variants = dict([("base", {}), *(parse_variant(v) for v in args.variant)])
        index = rag.Index(args.index)
        retriever = rag.Retriever(index)
        generators: dict[tuple, Any] = {}
        assistants: dict[str, rag.Assistant] = {}
        for name, changes in variants.items():
            settings = AnswerSettings.from_dict({**AnswerSettings().to_dict(), **changes})
            # (an older checkout, run with PYTHONPATH for a before/after, has no generator options)
            options = settings.generator_options() if hasattr(settings, "generator_options") else {}
            key = (settings.generator, settings.model, tuple(sorted(options.items())))
            if key not in generators:
                generators[key] = rag.make_generator(settings.generator, settings.model, **options)
            assistants[name] = rag.Assistant(index, settings, generators[key], retriever=retriever)
            assistants[name].warm_up()
    except RagError as error:
        sys.exit(f"error: {error}")
    questions = load_gold(args.gold)[: args.limit or None]
    names = list(assistants)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    started = time.strftime("%Y-%m-%d %H:%M")
    for i, q in enumerate(questions):
        for name in names[i % len(names):] + names[: i % len(names)]:
            rows[name].append(score_question(q, assistants[name]))
        print(f"{i + 1}/{len(questions)} " + "  ".join(
            f"{n} {rows[n][-1]['timings'].get('total_s', 0):.2f}s" for n in names), file=sys.stderr, flush=True)
    by_name = {name: report(rows[name], assistants[name].generator) for name in names}
    result = {"cpu": cpu_name(), "started": started, "gold": Path(args.gold).name, "n": len(questions),
              "variants": variants, "results": by_name,
              "rows": {name: [{"id": r["id"], "timings": r["timings"], "abstained": r["abstained"],
                               "correct": r["verdicts"].get("correct")} for r in rows[name]] for name in names}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{result['cpu']}, {len(questions)} questions from {result['gold']}; p50 / p95 in seconds")
    width = max(len(n) for n in names)
    print(" " * width + "  " + "  ".join(f"{s.removesuffix('_s'):>13}" for s in STAGES)
          + "   acc   cite  abst  false  draft")
    for name in names:
        r = by_name[name]
        cells = "  ".join(f"{_pair(r[s]):>13}" for s in STAGES)
        quality = "  ".join(f"{r[k]:.3f}" if r[k] is not None else "  -  " for k in QUALITY)
        print(f"{name:<{width}}  {cells}  {quality}  {r['draft_acceptance'] or '-'}")


def _pair(spread: dict[str, float | None]) -> str:
    return "-" if spread["p50"] is None else f"{spread['p50']:.2f}/{spread['p95']:.2f}"


if __name__ == "__main__":
    main()
