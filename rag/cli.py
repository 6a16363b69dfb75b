"""The ``rag`` command line. User mistakes print one ``error:`` line and exit non-zero, no traceback."""

from __future__ import annotations

import json
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_common import INDEX_OPTION, tqdm_progress
from .config import ANSWER_K, GENERATORS, MODES, SEARCH_K, VERIFY, AnswerSettings, Settings, default_index_dir
from .errors import RagError
from .index import Index
from .retriever import Retriever, search_json

if TYPE_CHECKING:  # the answer machinery loads only for the commands that answer: `rag search` stays quick
    from .answer import Answer
    from .workspace import Workspace

MODEL_OPTION = click.option(
    "--model", default="", metavar="DIR",
    help="Local sentence-transformers model folder (default: the bundled all-MiniLM-L6-v2).",
)


class _Group(click.Group):
    """``rag``'s commands: the core's, plus those other packages declare in the ``rag.commands`` entry-point
    group (``serve`` from rag_ui, ``eval`` and ``bench`` from rag_eval, ``api``), loaded only when used
    or listed. A user mistake anywhere becomes one ``error:`` line and exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugins()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in _plugins():
            command = _plugins()[name].load()
            self.add_command(command, name)
        return command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RagError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; the index is unchanged", err=True)
            sys.exit(130)


def _plugins() -> dict[str, metadata.EntryPoint]:
    """Commands declared by installed packages (cheap: reads package metadata, imports nothing)."""
    return {ep.name: ep for ep in metadata.entry_points(group="rag.commands")}


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rag-assistant")
def main() -> None:
    """Ask questions of a folder of documents, offline.

    \b
    Start with:  rag index corpus/      then:  rag ask "your question"
    """


@main.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@INDEX_OPTION
@MODEL_OPTION
@click.option("--chunk-size", type=int, default=Settings.chunk_size, show_default=True,
              help="Chunk size in the embedding model's word pieces.")
@click.option("--chunk-overlap", type=int, default=Settings.chunk_overlap, show_default=True,
              help="Overlap between consecutive chunks, in word pieces.")
@click.option("--rebuild", is_flag=True, help="Ignore the existing index and build a new one "
              "(needed after changing the model). Cached embeddings are still reused.")
@click.option("--prune", is_flag=True, help="Also drop every cached vector of a text no longer indexed (the cache "
              "prunes itself once it holds over twice the indexed chunks).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--watch", is_flag=True, help="Then keep the index in step with the folders as files are added, "
              "changed, renamed or deleted, a log line per change, until Ctrl-C.")
def index_cmd(paths: tuple[Path, ...], index_dir: Path | None, model: str, chunk_size: int,
              chunk_overlap: int, rebuild: bool, prune: bool, as_json: bool, quiet: bool, watch: bool) -> None:
    """Index PATHS (files or folders; default: corpus/) so the index mirrors them exactly.

    Only what changed is re-read and re-embedded; files no longer present are removed. Files that
    cannot be read are named and skipped, and everything else is indexed. The exit status is
    non-zero only when nothing could be indexed.
    """
    settings = Settings(model=model, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    index = Index(index_dir or default_index_dir(), settings)
    if watch:
        from .watch import watch_folders

        watch_folders(index, list(paths or [Path("corpus")]), rebuild=rebuild, prune=prune, as_json=as_json,
                      echo=lambda line: click.echo(line, err=True))
        return
    report = index.sync(paths or [Path("corpus")], progress=tqdm_progress(quiet or as_json), rebuild=rebuild,
                        prune=prune)
    for problem in report.problems:
        click.echo(f"skipped: {problem}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(
            f"{index.location}: {report.documents} documents, {report.chunks} chunks "
            f"(added {len(report.added)}, updated {len(report.updated)}, removed {len(report.removed)}, "
            f"unchanged {len(report.unchanged)}; embedded {report.embedded} chunks"
            + (f", pruned {report.pruned} cached vectors" if report.pruned else "") + f") in {report.seconds:.1f}s"
        )
    if report.documents == 0 or report.found == 0:
        click.echo("error: nothing could be indexed from the given paths"
                   + (f"; {index.location} still holds {report.documents} documents" if report.documents else ""),
                   err=True)
        sys.exit(1)


@main.command()
@click.argument("query")
@click.option("-k", type=click.IntRange(*SEARCH_K), default=5, show_default=True, help="Number of passages.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="hybrid = dense + BM25 fused by reciprocal rank.")
@click.option("--doc", "doc_ids", multiple=True, metavar="DOC_ID", help="Search only this document (repeatable).")
@INDEX_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def search(query: str, k: int, mode: str, doc_ids: tuple[str, ...], index_dir: Path | None,
           as_json: bool) -> None:
    """Find the passages that best match QUERY."""
    retriever = Retriever(Index(index_dir or default_index_dir()))  # what Workspace.search asks, without the answers
    hits = retriever.search(query, k=k, mode=mode, doc_ids=list(doc_ids) or None)
    if as_json:
        click.echo(json.dumps(search_json(query, mode, hits), ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("no passages found")
    for h in hits:
        where = f"{h.doc_id} [{h.start}:{h.end}]" + (f" {h.location}" if h.location else "")
        click.secho(f"{h.rank}. {h.title}", bold=True)
        click.echo(f"   {where}  score {h.score:.4f}" + (f"  also in: {', '.join(h.also_in)}" if h.also_in else ""))
        click.echo(textwrap.indent(textwrap.fill(" ".join(h.text.split()), 100), "   "))
        click.echo()


@main.command()
@INDEX_OPTION
@click.option("--documents", is_flag=True, help="List the indexed documents too.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def status(index_dir: Path | None, documents: bool, as_json: bool) -> None:
    """Show what is indexed: documents, chunks, model, index type and size (loads no model)."""
    index = Index(index_dir or default_index_dir())
    info = index.status()
    if documents or as_json:
        info["document_list"] = index.documents()
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    click.echo(f"index       {info['index']} ({info['generation']}, updated {info['updated']})")
    click.echo(f"documents   {info['documents']}")
    click.echo(f"chunks      {info['chunks']} (size {info['chunker']['chunk_size']}, "
               f"overlap {info['chunker']['chunk_overlap']} word pieces)")
    click.echo(f"model       {info['model']} ({info['dim']}-d)")
    click.echo(f"vectors     {info['index_type']} ({'exact' if info['index_type'] == 'flat' else 'approximate'})")
    click.echo(f"size        {info['bytes'] / 1e6:.2f} MB")
    for d in info.get("document_list", []):
        click.echo(f"  {d['doc_id']:<34} {d['chunks']:>4} chunks  {d['title'][:60]}")


def _answer_options(fn):
    """Options shared by ``ask`` and ``chat``."""
    options = [
        click.option("--generator", type=click.Choice(GENERATORS), default=AnswerSettings.generator,
                     show_default=True, help="llama = the bundled Qwen2.5-Coder-1.5B-Instruct; extractive = "
                     "no language model, quotes the best sentences (instant)."),
        click.option("--model", "llm", default="", metavar="PATH",
                     help="llama: a GGUF file; transformers: a local Hugging Face folder or .gguf file."),
        click.option("-k", type=click.IntRange(*ANSWER_K), default=AnswerSettings.k, show_default=True,
                     help="Passages given to the model."),
        click.option("--mode", type=click.Choice(MODES), default=AnswerSettings.mode, show_default=True,
                     help="Retrieval mode."),
        click.option("--verify", type=click.Choice(VERIFY), default=AnswerSettings.verify,
                     show_default=True, help="How answer sentences are checked against the passages they cite."),
        click.option("--context-tokens", type=click.IntRange(0, 4000), default=AnswerSettings.context_tokens,
                     show_default=True, help="Passage text the model reads, in tokens (0 = whole passages). "
                     "Time to first word grows with it: ~80 tokens/s on 2 CPU cores."),
        INDEX_OPTION,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _workspace(index_dir: Path | None, generator: str, llm: str, k: int, mode: str, verify: str,
               context_tokens: int) -> Workspace:
    from .workspace import Workspace

    settings = AnswerSettings(generator=generator, model=llm, k=k, mode=mode, verify=verify,
                              context_tokens=context_tokens)
    index = Index(index_dir or default_index_dir())
    index.snapshot()  # fail now, with the command to run, if there is no index
    workspace = Workspace(index, settings)
    if generator != "extractive" and sys.stderr.isatty():
        click.echo("Loading the answer model...", err=True)
    workspace.warm_up()
    return workspace


def _print_answer(answer: Answer, streamed: str, workspace: Workspace) -> None:
    """After the streamed text: what verification changed, then the cited sources with their quotes."""
    if answer.abstained:
        if streamed.strip() != answer.text:
            click.echo(f"\n{answer.text}")
        if answer.passages:
            click.secho("\nClosest passages found:", bold=True)
            for n, hit in enumerate(answer.passages[:3], 1):
                where = f" {hit.location}" if hit.location else ""
                click.echo(f"  {n}. {hit.title} ({hit.doc_id} [{hit.start}:{hit.end}]{where})")
                click.echo(textwrap.indent(textwrap.fill(" ".join(hit.text.split())[:300], 96), "     "))
        return
    removed = [c for c in answer.claims if not c.supported]
    if removed:
        click.secho("\nNot supported by the cited passages, removed:", fg="yellow", err=False)
        for claim in removed:
            click.echo(f"  - {claim.text} ({claim.note})")
        click.secho("Verified answer:", bold=True)
        click.echo(answer.text)
    click.secho("\nSources:", bold=True)
    for c in answer.citations:
        location = workspace.index.locate(c.doc_id, c.start, c.end)
        where = f"{c.doc_id} [{c.start}:{c.end}]" + (f" {location}" if location else "")
        click.echo(f"  [{c.n}] {c.title} ({where})")
        click.echo(textwrap.indent(textwrap.fill("\u201c" + " ".join(c.quote.split()) + "\u201d", 96), "      "))


def _stream_answer(workspace: Workspace, question: str, history: list[tuple[str, str]]) -> Answer:
    stream = workspace.stream(question, history)
    pieces = []
    for piece in stream:
        pieces.append(piece)
        click.echo(piece, nl=False)
    click.echo()
    answer = stream.result()
    _print_answer(answer, "".join(pieces), workspace)
    return answer


@main.command()
@click.argument("question")
@_answer_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout (no streaming).")
def ask(question: str, generator: str, llm: str, k: int, mode: str, verify: str, context_tokens: int,
        index_dir: Path | None, as_json: bool) -> None:
    """Answer QUESTION from the indexed documents, citing the passages used.

    The answer streams as it is written; every sentence is then checked against the passages it
    cites, unsupported sentences are removed, and the sources are listed with the supporting text.
    When the documents don't hold the answer, it says so and shows the closest passages.
    """
    workspace = _workspace(index_dir, generator, llm, k, mode, verify, context_tokens)
    if as_json:
        click.echo(json.dumps(workspace.answer_json(workspace.ask(question)), ensure_ascii=False, indent=2))
        return
    _stream_answer(workspace, question, [])


@main.command()
@_answer_options
def chat(generator: str, llm: str, k: int, mode: str, verify: str, context_tokens: int,
         index_dir: Path | None) -> None:
    """Talk with your documents in the terminal; follow-up questions ("and Canada?") work.

    Type a question and press Enter. /clear starts a new conversation; /quit, an empty line or
    Ctrl-D ends it.
    """
    workspace = _workspace(index_dir, generator, llm, k, mode, verify, context_tokens)
    history: list[tuple[str, str]] = []
    click.echo("Ask a question about your documents (/clear for a new conversation, /quit to end).")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            click.echo()
            return
        if question in ("", "/quit", "/exit"):
            return
        if question == "/clear":
            history.clear()
            click.echo("(new conversation)")
            continue
        try:
            answer = _stream_answer(workspace, question, history)
        except RagError as exc:  # a bad question should not end the conversation
            click.echo(f"error: {exc}", err=True)
            continue
        history.append((question, answer.text))


@main.command()
@INDEX_OPTION
@click.option("--model", "llm", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="GGUF",
              help="Answer model to check (default: the bundled Qwen2.5-Coder-1.5B-Instruct).")
@click.option("--json", "as_json", is_flag=True, help='Print {"ok": ..., "checks": [...]} on stdout.')
@click.option("--skip-decode", is_flag=True, help="Do not try the answer model (saves about 10-30 s).")
@click.option("--decode-only", is_flag=True, help="Only try the answer model's first decode (what `make install` "
              "ends with).")
def doctor(index_dir: Path | None, llm: Path | None, as_json: bool, skip_decode: bool, decode_only: bool) -> None:
    """Find what is wrong: one line per check, each ✗ with its fix; exit status 1 if any check fails.

    \b
    Checks Python and package versions, the CPU's instruction sets and what llama.cpp was built
    with, the answer model file (sha256 verified), a real decode of a few tokens in a child process
    with llama.cpp's extra buffer types off and on (a crash there is reported, not suffered; which
    one is used follows $RAG_LLAMA_EXTRA_BUFTS=auto|on|off), the embedding model, the index (opens
    and answers a search), and free memory and disk. "-" marks a check that cannot apply yet.
    """
    from .doctor import check_decode, run_checks

    if decode_only and skip_decode:
        raise RagError("--decode-only and --skip-decode contradict each other: give one")
    if not as_json:
        click.echo("Checking (the answer model's test decodes take a while)..." if not skip_decode else
                   "Checking...", err=True)
    checks = [check_decode(llm)] if decode_only else run_checks(index_dir, llm, decode=not skip_decode)
    ok = all(c.ok is not False for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [c.to_dict() for c in checks]}, indent=2, ensure_ascii=False))
    else:
        for check in checks:
            click.echo(check.line())
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
