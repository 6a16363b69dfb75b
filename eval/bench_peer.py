"""This project's assistant beside the usual LangChain RAG recipe: same documents, model and questions, one run.

    .venv/bin/pip install -e ".[peer]"       # once: LangChain's FAISS store, LlamaCpp wrapper and stuff chain
    .venv/bin/python -m rag_eval.bench_peer [--gold eval/gold/aukus-test.jsonl] [--limit N] [--corpus corpus]
                                            [--out eval/reports/bench-peer.json] [--peer-first]

The peer is the recipe as tutorials write it: each ``.txt``/``.md`` file of the corpus read whole by LangChain's
``TextLoader`` (UTF-8; no cleaning: captions, bylines and repeated lines stay), split by
``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``, embedded with the bundled all-MiniLM-L6-v2
(the same local folder; a minimal ``Embeddings`` adapter that does what ``HuggingFaceEmbeddings`` does, because
langchain-huggingface would downgrade huggingface_hub here), stored in LangChain's ``FAISS``; the 4 nearest chunks
go through LangChain's "stuff" chain (``create_stuff_documents_chain``) with the classic RetrievalQA prompt to the
same GGUF through LangChain's ``LlamaCpp`` wrapper, streamed, greedy (temperature 0, repeat penalty 1.0 as ours),
at most 160 new tokens, the same threads and batch, n_ctx 4096. The wrapper cannot set llama.cpp's
``use_extra_bufts``, so it is given a ``llama_cpp.Llama`` built by ``rag.generation.load_llama`` with the value
this project chose (``rag.probe``) as its ``client``.

Ours: ``rag.Assistant`` with default settings over an index of the same corpus, built in a temporary folder.

Both run in this process one after the other (ours first unless ``--peer-first``), the questions in the same
order, every model loaded (and one short decode made) before any timing. Both are scored by the harness's judging
(``eval.matching``): an answer is right when it did not abstain and holds every ``must_include``; a cited passage is
relevant when it holds gold evidence. The peer abstains when its reply is empty or its first sentence says it does
not know (``rag.verify.ABSTAIN_LIKE`` or "I don't know"-like words); its citations are the 4 chunks the recipe
returns as sources, counted, like ours, only when it answered. Writes a JSON report and prints a table; ratios are
ours / peer. About 25 minutes for the 47 test questions on 2 cores (ours ~10 s a question, the peer ~15-20 s).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.verify import ABSTAIN_LIKE

from .matching import matches_all, passage_is_relevant, strip_markers
from .metrics import mean, percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = ROOT / "eval" / "gold" / "aukus-test.jsonl"
DEFAULT_OUT = ROOT / "eval" / "reports" / "bench-peer.json"
INSTALL = '.venv/bin/pip install -e ".[peer]"'
PEER_PACKAGES = ("langchain_community", "langchain_classic", "langchain_core", "langchain_text_splitters")

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200
PEER_K = 4
MAX_TOKENS = 160          # ours: AnswerSettings.max_tokens
PEER_N_CTX = 4096         # 4 chunks of <= 1000 characters (~250 tokens each) + the prompt + 160 new tokens fit easily
PEER_SUFFIXES = (".txt", ".md")  # what the recipe's TextLoader reads; other files are named in the report
PEER_PROMPT = (  # langchain_classic.chains.retrieval_qa.prompt.prompt_template, checked against it at run time
    "Use the following pieces of context to answer the question at the end. If you don't know the answer, "
    "just say that you don't know, don't try to make up an answer.\n\n{context}\n\nQuestion: {question}\n"
    "Helpful Answer:")

# What, beside our own abstention phrases, says "I don't know" in a reply to the classic prompt.
DONT_KNOW = re.compile(
    r"\b(?:i|we)\s+(?:do\s*n['\u2019]?t|do\s+not|don['\u2019]?t)\s+know\b|\bi(?:\s+am|['\u2019]m)\s+not\s+sure\b|"
    r"\b(?:can\s*not|can['\u2019]?t|unable\s+to)\s+(?:answer|determine|find|tell|say)\b|"
    r"\b(?:context|text|passages?|documents?|pieces)\s+(?:does|do)\s*(?:n['\u2019]?t|\s+not)\s+"
    r"(?:say|mention|specify|contain|provide|state|include|give)\b|"
    r"\bno\s+(?:information|mention|details?)\b|\bnot\s+(?:mentioned|provided|specified|stated|given)\b",
    re.IGNORECASE)
_FIRST_SENTENCE = re.compile(r"^.*?(?:[.!?](?=\s|$)|\n|$)", re.DOTALL)


# ---------------------------------------------------------------- scoring (pure)

def first_sentence(reply: str) -> str:
    """The reply's first sentence (up to ., ! or ? before a space, or a line break)."""
    match = _FIRST_SENTENCE.match(reply.strip())
    return match.group(0).strip() if match else ""


def peer_abstained(reply: str) -> bool:
    """The peer abstained: it wrote nothing, or its first sentence says it does not know (what a reader sees
    first decides; an answer that ends in a hedge still answered)."""
    head = first_sentence(reply)
    return not re.search(r"\w", head) or bool(ABSTAIN_LIKE.search(head) or DONT_KNOW.search(head))


def score(question: dict[str, Any], text: str, abstained: bool, sources: Sequence[str],
          passages: Sequence[str] = ()) -> dict[str, Any]:
    """The harness's verdicts for one answer, the same for either system: ``sources`` are the texts it cites
    (ours: its citations; the peer: its 4 source chunks) and count only when it answered; ``passages`` are all it
    was shown (retrieval: does any hold gold evidence?)."""
    cited = [passage_is_relevant(s, question["evidence"]) for s in sources] if not abstained else []
    if not question["answerable"]:
        return {"abstained_right": abstained, "relevant_citations": cited}
    return {
        "correct": not abstained and matches_all(strip_markers(text), question["must_include"]),
        "relevant_citations": cited,
        "cites_relevant": any(cited),
        "shown_relevant": any(passage_is_relevant(p, question["evidence"]) for p in passages),
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One system's summary from its rows (each: ``answerable``, ``abstained``, ``verdicts`` from ``score``,
    ``search_s``, ``first_token_s``, ``total_s``). Citation precision, as the harness computes it: the share of
    cited passages on answerable questions that hold gold evidence."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    cited = [c for r in answerable for c in r["verdicts"]["relevant_citations"]]
    first = [r["first_token_s"] for r in rows if r["first_token_s"] is not None]
    total = [r["total_s"] for r in rows]
    summary = {
        "n": len(rows), "n_answerable": len(answerable),
        "answer.accuracy": mean([r["verdicts"]["correct"] for r in answerable]),
        "abstention.right": mean([r["abstained"] for r in unanswerable]),
        "abstention.wrong": mean([not r["abstained"] for r in unanswerable]),
        "abstention.false_rate": mean([r["abstained"] for r in answerable]),
        "citation.precision": mean(cited),
        "citation.recall": mean([r["verdicts"]["cites_relevant"] for r in answerable]),
        "retrieval.shown_relevant": mean([r["verdicts"]["shown_relevant"] for r in answerable]),
        "search.p50_s": percentile([r["search_s"] for r in rows], 0.5) if rows else None,
        "first_token.p50_s": percentile(first, 0.5) if first else None,
        "first_token.p95_s": percentile(first, 0.95) if first else None,
        "total.p50_s": percentile(total, 0.5) if total else None,
        "total.p95_s": percentile(total, 0.95) if total else None,
    }
    for key in ("prompt_tokens", "reply_tokens"):
        counted = [r[key] for r in rows if key in r]
        if counted:
            summary[f"{key}.mean"] = mean(counted)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}


def ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """ours / peer for every numeric metric both have (None where the peer's is 0 or either is missing)."""
    out: dict[str, float | None] = {}
    for key, a in ours.items():
        b = peer.get(key)
        if key in ("n", "n_answerable") or not isinstance(a, int | float) or not isinstance(b, int | float):
            continue
        out[key] = round(a / b, 3) if b else None
    return out


TABLE = (("index time (s)", "index_s", "{:.1f}"), ("chunks", "chunks", "{}"),
         ("search p50 (ms)", "search.p50_s", "ms"),
         ("first token p50 (s)", "first_token.p50_s", "{:.2f}"), ("first token p95 (s)", "first_token.p95_s", "{:.2f}"),
         ("answer p50 (s)", "total.p50_s", "{:.2f}"), ("answer p95 (s)", "total.p95_s", "{:.2f}"),
         ("accuracy (answerable)", "answer.accuracy", "{:.3f}"),
         ("false abstention (answerable)", "abstention.false_rate", "{:.3f}"),
         ("abstained right (unanswerable)", "abstention.right", "{:.3f}"),
         ("answered unanswerable (wrong)", "abstention.wrong", "{:.3f}"),
         ("citation precision", "citation.precision", "{:.3f}"), ("citation recall", "citation.recall", "{:.3f}"),
         ("gold evidence shown to the model", "retrieval.shown_relevant", "{:.3f}"),
         ("prompt tokens, mean", "prompt_tokens.mean", "{:.0f}"), ("reply tokens, mean", "reply_tokens.mean", "{:.0f}"))


def table(report: dict[str, Any]) -> str:
    """The summary as a plain-text table: ours, the peer, ours / peer."""
    def cell(value: Any, fmt: str) -> str:
        if value is None:
            return "n/a"
        return f"{value * 1000:.0f}" if fmt == "ms" else fmt.format(value)

    ours, peer, ratio = report["ours"], report["peer"], report["ratio"]
    lines = [f"{'':<34}{'rag':>10}{'LangChain':>11}{'rag/LC':>9}"]
    for label, key, fmt in TABLE:
        r = ratio.get(key)
        lines.append(f"{label:<34}{cell(ours.get(key), fmt):>10}{cell(peer.get(key), fmt):>11}"
                     f"{'n/a' if r is None else f'{r:.2f}':>9}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the two systems

def missing_peer_packages() -> list[str]:
    """The peer's modules that are not installed."""
    return [m for m in PEER_PACKAGES if importlib.util.find_spec(m) is None]


def _timed(pieces: Any, t0: float) -> tuple[str, float | None, float]:
    """Drain a stream of text pieces: (text, seconds to the first non-empty piece, seconds to the end)."""
    out: list[str] = []
    first = None
    for piece in pieces:
        if piece and first is None:
            first = time.perf_counter() - t0
        out.append(piece)
    return "".join(out), first, time.perf_counter() - t0


def run_ours(assistant: Any, questions: Sequence[dict[str, Any]], progress: Callable[[str], None]) -> list[dict]:
    """Our assistant on each question, streamed: first piece and end timed from the call."""
    rows = []
    for q in questions:
        t0 = time.perf_counter()
        stream = assistant.stream(q["question"])
        _, first, total = _timed(stream, t0)
        answer = stream.answer
        verdicts = score(q, answer.text, answer.abstained, [c.text for c in answer.citations],
                         [h.text for h in answer.passages])
        rows.append({"id": q["id"], "answerable": q["answerable"], "answer": answer.text,
                     "abstained": answer.abstained, "reason": answer.reason,
                     "sources": [{"doc_id": c.doc_id, "start": c.start, "end": c.end} for c in answer.citations],
                     "search_s": answer.timings.get("retrieval_s", 0.0), "first_token_s": _r(first),
                     "total_s": _r(total), "verdicts": verdicts})
        progress(f"rag {q['id']}: {total:.1f} s, {'abstained' if answer.abstained else 'answered'}")
    return rows


def run_peer(retriever: Any, chain: Any, questions: Sequence[dict[str, Any]], progress: Callable[[str], None],
             count_tokens: Callable[[str], int] | None = None) -> list[dict]:
    """The recipe on each question: retrieve 4 chunks, stream the stuff chain's answer. With ``count_tokens``
    (the model's tokenizer), each row also says, counted after the timing, how many tokens the prompt and the
    reply took (what first-token and total times grow with)."""
    rows = []
    for q in questions:
        t0 = time.perf_counter()
        docs = retriever.invoke(q["question"])
        search = time.perf_counter() - t0
        reply, first, total = _timed(chain.stream({"context": docs, "question": q["question"]}), t0)
        abstained = peer_abstained(reply)
        texts = [d.page_content for d in docs]
        rows.append({"id": q["id"], "answerable": q["answerable"], "answer": reply.strip(), "abstained": abstained,
                     "sources": [{"doc_id": Path(d.metadata.get("source", "")).name, "chars": len(d.page_content)}
                                 for d in docs],
                     "search_s": _r(search), "first_token_s": _r(first), "total_s": _r(total),
                     "verdicts": score(q, reply, abstained, texts, texts)})
        if count_tokens is not None:
            prompt = PEER_PROMPT.format(context="\n\n".join(texts), question=q["question"])
            rows[-1] |= {"prompt_tokens": count_tokens(prompt), "reply_tokens": count_tokens(reply)}
        progress(f"peer {q['id']}: {total:.1f} s, {'abstained' if abstained else 'answered'}")
    return rows


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def build_ours(corpus: Path, folder: Path) -> tuple[Any, dict[str, Any]]:
    """Our index of ``corpus`` in ``folder`` (timed after the embedding model is loaded) and an Assistant with
    default settings, its models loaded and primed."""
    from rag import Assistant, Index
    from rag.embedding import get_embedder

    embedder = get_embedder()
    embedder.warm_up()
    embedder.embed(["warm-up"])  # documents may be embedded by another backend than queries: load that one too
    index = Index(folder / "index")
    t0 = time.perf_counter()
    report = index.sync([corpus])
    index_s = time.perf_counter() - t0
    if report.problems:
        print(f"rag skipped: {report.problems}", file=sys.stderr)
    assistant = Assistant(index)
    assistant.warm_up()
    status = index.status()
    return assistant, {"index_s": round(index_s, 3), "documents": status["documents"], "chunks": status["chunks"],
                       "query_embedding": getattr(embedder, "query_backend", "torch")}


def peer_embeddings() -> Any:
    """A LangChain ``Embeddings`` over the bundled all-MiniLM-L6-v2 folder, doing what ``HuggingFaceEmbeddings``
    does by default (newlines to spaces, ``encode`` with no extra arguments), loaded now."""
    from langchain_core.embeddings import Embeddings
    from sentence_transformers import SentenceTransformer

    from rag import env
    from rag.embedding import bundled_model_path

    env.offline()

    class MiniLMEmbeddings(Embeddings):
        def __init__(self) -> None:
            self.client = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            texts = [t.replace("\n", " ") for t in texts]
            return self.client.encode(texts, show_progress_bar=False).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return MiniLMEmbeddings()


def load_peer_documents(corpus: Path) -> tuple[list[Any], list[str]]:
    """The corpus as the recipe reads it: each .txt/.md file whole, by ``TextLoader``; the other files' names."""
    from langchain_community.document_loaders import TextLoader  # pyright: ignore[reportMissingImports]

    files = sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))
    docs = [d for p in files if p.suffix.lower() in PEER_SUFFIXES for d in TextLoader(str(p), encoding="utf-8").load()]
    return docs, [str(p.relative_to(corpus)) for p in files if p.suffix.lower() not in PEER_SUFFIXES]


def build_peer(corpus: Path, model: Path, extra_bufts: bool,
               threads: int) -> tuple[Any, Any, Callable[[str], int], dict[str, Any]]:
    """The recipe: (retriever, stuff chain, the model's token counter, facts). The embedding and answer models
    load before the index is timed; one short decode is made so the first question pays no first-use cost (as
    our warm_up)."""
    from langchain_classic.chains.combine_documents import create_stuff_documents_chain  # pyright: ignore[reportMissingImports]
    from langchain_classic.chains.retrieval_qa.prompt import PROMPT  # pyright: ignore[reportMissingImports]
    from langchain_community.llms import LlamaCpp  # pyright: ignore[reportMissingImports]
    from langchain_community.vectorstores import FAISS  # pyright: ignore[reportMissingImports]
    from langchain_core.utils import pre_init
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.generation import load_llama

    if PROMPT.template != PEER_PROMPT:
        raise SystemExit("error: langchain_classic's RetrievalQA prompt is not the classic one any more")

    class PrebuiltLlamaCpp(LlamaCpp):
        """``LlamaCpp`` around a ``llama_cpp.Llama`` built elsewhere (``client``), which it would otherwise
        build itself, without llama.cpp's ``use_extra_bufts``."""

        @pre_init
        def validate_environment(cls, values: dict) -> dict:
            if values.get("client") is None:
                raise ValueError("PrebuiltLlamaCpp needs client=llama_cpp.Llama(...)")
            return values

    embeddings = peer_embeddings()
    client = load_llama(model, extra_bufts, n_ctx=PEER_N_CTX, n_threads=threads, n_threads_batch=threads,
                        n_batch=512, seed=0, verbose=False)
    llm = PrebuiltLlamaCpp(model_path=str(model), client=client, n_ctx=PEER_N_CTX, n_threads=threads, n_batch=512,
                           temperature=0.0, repeat_penalty=1.0, max_tokens=MAX_TOKENS, streaming=True, verbose=False)
    llm.invoke("Hello", max_tokens=1)
    embeddings.embed_query("warm-up")
    t0 = time.perf_counter()
    docs, skipped = load_peer_documents(corpus)
    chunks = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP).split_documents(docs)
    store = FAISS.from_documents(chunks, embeddings)
    index_s = time.perf_counter() - t0
    retriever = store.as_retriever(search_kwargs={"k": PEER_K})
    chain = create_stuff_documents_chain(llm, PROMPT)
    return retriever, chain, llm.get_num_tokens, {"index_s": round(index_s, 3), "documents": len(docs),
                                                  "chunks": len(chunks), "skipped": skipped}


# ---------------------------------------------------------------- command

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="questions (default: the frozen test split)")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="documents both systems index")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report")
    parser.add_argument("--peer-first", action="store_true", help="run the peer's questions before ours (to see "
                        "whether the order matters on a busy machine)")
    args = parser.parse_args(argv)
    missing = missing_peer_packages()
    if missing:
        print(f"error: the LangChain peer needs {', '.join(missing)}: run `{INSTALL}`", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", message=".*langchain-community.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="langchain.*")

    from rag import env
    from rag.generation import LlamaGenerator

    from .gold import load_gold
    from .processes import cpu_name

    env.offline()
    questions = load_gold(args.gold)
    questions = questions[: args.limit] if args.limit > 0 else questions

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        say("Building our index and loading our models...")
        assistant, ours_facts = build_ours(args.corpus, Path(tmp))
        generator = assistant.generator
        if not isinstance(generator, LlamaGenerator) or generator.extra_bufts is None:
            raise SystemExit("error: the default generator is not the llama one; nothing to compare")
        model = generator.model_path
        if model is None:
            from rag.models import bundled_gguf

            model = bundled_gguf()
        say("Building the LangChain index and loading its models...")
        retriever, chain, count, peer_facts = build_peer(args.corpus, model, generator.extra_bufts, generator.threads)
        if args.peer_first:
            peer_rows = run_peer(retriever, chain, questions, say, count)
            ours_rows = run_ours(assistant, questions, say)
        else:
            ours_rows = run_ours(assistant, questions, say)
            peer_rows = run_peer(retriever, chain, questions, say, count)
    ours = {**ours_facts, **summarize(ours_rows)}
    peer = {**peer_facts, **summarize(peer_rows)}
    report = {
        "cpu": cpu_name(), "date": time.strftime("%Y-%m-%d %H:%M"), "gold": str(args.gold), "n": len(questions),
        "settings": {
            "model": str(model), "threads": generator.threads, "extra_bufts": generator.extra_bufts,
            "max_tokens": MAX_TOKENS,
            "order": f"{'the peer' if args.peer_first else 'rag'} first, then the other; questions in the same order",
            "rag": assistant.settings.to_dict(),
            "peer": {"loader": "TextLoader(encoding='utf-8') per .txt/.md file", "chunk_size": CHUNK_SIZE,
                     "chunk_overlap": CHUNK_OVERLAP, "k": PEER_K, "vector_store": "langchain_community FAISS "
                     "(L2 over MiniLM's unit vectors)", "chain": "create_stuff_documents_chain + RetrievalQA PROMPT",
                     "llm": "langchain_community LlamaCpp, client = rag.generation.load_llama(...)",
                     "n_ctx": PEER_N_CTX, "temperature": 0.0, "repeat_penalty": 1.0, "prompt": PEER_PROMPT},
        },
        "ours": ours, "peer": peer, "ratio": ratios(ours, peer),
        "rows": [{"id": q["id"], "type": q["type"], "question": q["question"], "answerable": q["answerable"],
                  "rag": a, "peer": b} for q, a, b in zip(questions, ours_rows, peer_rows, strict=True)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{report['cpu']}, {generator.threads} threads, {len(questions)} questions of {args.gold.name}")
    print(table(report))
    say(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
