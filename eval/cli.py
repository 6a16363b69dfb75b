"""`rag eval` and `rag bench squad`. Registered on the `rag` command group; heavy imports stay inside."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from rag.answer import AnswerSettings
from rag.config import GENERATORS, MODES, default_index_dir
from rag.errors import ConfigError


def _progress(items: Iterable, desc: str = "Evaluating") -> Iterable:
    from tqdm import tqdm

    items = list(items)
    return tqdm(items, desc=desc, unit=" q", file=sys.stderr, dynamic_ncols=True)


def _stamp(kind: str) -> Path:
    return Path("eval") / "runs" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


@click.command("eval")
@click.option("--gold", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Gold questions, JSON Lines (default: eval/gold/aukus.jsonl, the bundled corpus's set).")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Index to evaluate (default: $RAG_INDEX or ./index; built from --corpus if missing).")
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Documents the gold set is about. With --index, that index is synced to them; alone, a "
                   "fresh index is built in OUT/index.")
@click.option("--generator", type=click.Choice(GENERATORS), default=AnswerSettings.generator, show_default=True)
@click.option("--model", "llm", default="", metavar="PATH", help="GGUF file or Hugging Face folder for the generator.")
@click.option("-k", type=click.IntRange(1, 20), default=AnswerSettings.k, show_default=True,
              help="Passages given to the generator.")
@click.option("--mode", type=click.Choice(MODES), default=AnswerSettings.mode, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for summary.json, questions.jsonl, report.md and plots (default: eval/runs/eval-DATE).")
@click.option("--compare", nargs=2, type=click.Path(exists=True, path_type=Path), default=None,
              metavar="RUN_A RUN_B", help="Print the metric deltas (per question type too) between two runs instead "
                                           "of evaluating.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Any other answer setting, e.g. --set prompt=strict --set context_tokens=160 (see AnswerSettings).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or the comparison) as JSON on stdout.")
def eval_cmd(gold: Path | None, index_dir: Path | None, corpus: Path | None, generator: str, llm: str, k: int,
             mode: str, out: Path | None, compare: tuple[Path, Path] | None, overrides: tuple[str, ...],
             as_json: bool) -> None:
    """Score retrieval, answers, citations, abstention and latency on a gold question set.

    \b
    rag eval                                   # the bundled gold set, default index and model
    rag eval --generator extractive --out a    # no language model: fast
    rag eval --set context_tokens=160 --out b  # one setting changed
    rag eval --compare a b                     # what changed between two runs
    """
    from .harness import CALIBRATION_KEYS, SUMMARY_KEYS, evaluate, load_summary, write_run
    from .harness import compare as diff

    if compare:
        run_a, run_b = load_summary(compare[0]), load_summary(compare[1])
        rows = diff(run_a, run_b)
        if as_json:
            click.echo(json.dumps({key: {"a": a, "b": b, "delta": d} for key, a, b, d in rows}, indent=2))
            return
        # "-": the run has no such metric (made before it was recorded); "n/a": it had nothing to count.
        click.echo(f"{'metric':<28}{'A':>10}{'B':>10}{'B - A':>10}")
        for key, a, b, d in rows:
            shown_a = _fmt(a) if key in run_a else "-"
            shown_b = _fmt(b) if key in run_b else "-"
            click.echo(f"{key:<28}{shown_a:>10}{shown_b:>10}{'-' if d is None else f'{d:+.3f}':>10}")
        return

    from rag import Assistant, Index
    from rag.cli_common import build_if_missing

    from .gold import GOLD, load_gold

    questions = load_gold(gold or GOLD)
    out = out or _stamp("eval")
    if corpus and not corpus.is_dir():
        raise ConfigError(f"--corpus {corpus} is not a folder of documents")
    if corpus and index_dir is None:
        index = Index(out / "index")
        index.sync([corpus])
    elif corpus:
        index = Index(index_dir)
        index.sync([corpus])
    else:
        index = build_if_missing(Index(index_dir or default_index_dir()), Path("corpus"))
    indexed = {d["doc_id"] for d in index.documents()}
    missing = sorted({s for q in questions for s in q["sources"]} - indexed)
    if missing:
        click.echo(f"warning: {len(missing)} source document(s) of the gold set are not in {index.path} "
                   f"({', '.join(missing[:3])}...): is this the right index?", err=True)
    settings = {"generator": generator, "model": llm, "k": k, "mode": mode, **_parse_settings(overrides)}
    assistant = Assistant(index, AnswerSettings.from_dict(settings))
    click.echo("Loading the models...", err=True)
    assistant.warm_up()
    summary, rows = evaluate(questions, assistant, progress=_progress)
    summary["config"]["gold"] = str(gold or GOLD)
    write_run(out, summary, rows)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        for key in (*SUMMARY_KEYS, *(k for k in summary if k.startswith("type.")), *CALIBRATION_KEYS):
            click.echo(f"{key:<28}{_fmt(summary[key]):>10}")
    click.echo(f"Wrote {out}/: summary.json, questions.jsonl, report.md and plots.", err=True)


def _parse_settings(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; a value is read as JSON when it can be (numbers, true/false), else as text."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@click.group()
def bench() -> None:
    """External benchmarks."""


@bench.command()
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A SQuAD-format JSON file (default: $RAG_SQUAD or the copy `--fetch` keeps in "
                   "~/.cache/rag-assistant/squad/).")
@click.option("--fetch", is_flag=True, help="Download the SQuAD v1.1 dev set first (once, through PyPI's "
                                            "bigbench 1.0.0 source archive, 358 MB; only the 8 MB file is kept).")
@click.option("--sample", type=click.IntRange(0), default=200, show_default=True,
              help="Questions whose answers are scored (EM/F1); 0 scores retrieval only.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the answer sample.")
@click.option("--questions", "limit", type=click.IntRange(0), default=0,
              help="Score retrieval on the first N questions only (default: all).")
@click.option("--modes", default=",".join(MODES), show_default=True, help="Retrieval modes to score.")
@click.option("--generator", type=click.Choice(GENERATORS), default=AnswerSettings.generator, show_default=True)
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the paragraphs' index is kept between runs (default: beside the data in the cache).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for summary.json, report.md and answers.jsonl (default: eval/runs/squad-DATE).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def squad(data: Path | None, fetch: bool, sample: int, seed: int, limit: int, modes: str, generator: str,
          index_dir: Path | None, out: Path | None, as_json: bool) -> None:
    """SQuAD v1.1 dev: every paragraph a document; retrieval per mode over all questions, answers on a sample."""
    from rag import Assistant, Index

    from . import squad as sq

    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    if not chosen or set(chosen) - set(MODES):
        raise ConfigError(f"--modes takes a comma-separated subset of {', '.join(MODES)}, got {modes!r}")
    if fetch:
        data = sq.fetch(data, log=lambda line: click.echo(line, err=True))
    data = data or sq.default_data()
    paragraphs, questions = sq.load(data)
    out = out or _stamp("squad")
    index = Index(index_dir or sq.cache() / f"index-{data.stem}")
    corpus = sq.write_corpus(paragraphs, index.path.parent / f"corpus-{data.stem}")
    from rag.cli_common import tqdm_progress

    index.sync([corpus], progress=tqdm_progress(False))
    scored = questions[:limit] if limit else questions
    by_mode = sq.retrieval(index, scored, chosen, progress=_progress)
    main_mode = "hybrid" if "hybrid" in by_mode else chosen[0]
    summary: dict[str, Any] = {f"retrieval.{k}": v for k, v in by_mode[main_mode].items()}
    rows = []
    if sample:
        assistant = Assistant(index, AnswerSettings(generator=generator))
        assistant.warm_up()
        scores, rows = sq.answers(assistant, questions, sample, seed, progress=_progress)
        summary |= scores
    summary["modes"] = by_mode
    summary["config"] = {"data": str(data), "paragraphs": len(paragraphs), "questions": len(scored),
                         "retrieval_mode": main_mode, "generator": generator, "sample": sample, "seed": seed,
                         "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, "
                         f"{os.cpu_count()} cores"}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(sq.markdown(summary), encoding="utf-8")
    (out / "answers.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    click.echo(json.dumps(summary, indent=2) if as_json else sq.markdown(summary))
    click.echo(f"Wrote {out}/: summary.json, report.md, answers.jsonl.", err=True)
