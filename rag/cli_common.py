"""What the ``rag`` commands share, wherever they are defined (the core, ``rag_ui``, ``rag_eval``):
options, progress bars, building a missing index, and server settings from options.

A package adds commands to ``rag`` by declaring an entry point in the ``rag.commands`` group (see
pyproject.toml); the core never imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .access import KEY_ENV, load_key
from .config import GENERATORS, MAX_WAITING, WAIT_TIMEOUT_S, AnswerSettings, ServerSettings, default_index_dir
from .errors import IndexNotFoundError, RagError
from .index import Index

if TYPE_CHECKING:  # the workspace imports the answer machinery; the CLI's --help must stay quick
    from .workspace import Workspace



class IndexLocation(click.ParamType):
    """An index folder (a ``Path``), or a PostgreSQL store's ``postgresql://`` URL (kept as text: a ``Path``
    would fold its ``//``)."""

    name = "FOLDER|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        from .pg import is_store_url

        if is_store_url(value):
            return value
        path = Path(value)
        if path.is_file():
            self.fail(f"{value} is a file; give an index folder or a postgresql:// URL", param, ctx)
        return path


INDEX_OPTION = click.option(
    "--index", "--store", "index_dir", type=IndexLocation(), default=None,
    help="Index folder, or a PostgreSQL store postgresql://USER@HOST[:PORT]/DB (default: $RAG_STORE if set, else "
         "$RAG_INDEX or ./index).",
)


def tqdm_progress(quiet: bool) -> Callable[[str, int], Callable[[int], None]]:
    """The index's progress callback as tqdm bars on stderr (a line per stage when not a terminal)."""
    from tqdm import tqdm

    def start(label: str, total: int) -> Callable[[int], None]:
        if not quiet and not sys.stderr.isatty():  # no bar in logs and pipes, but say what is happening
            click.echo(f"{label} {total} {'chunks' if label == 'Embedding' else 'files'}...", err=True)
        bar = tqdm(total=total, desc=f"{label:<9}", unit=" chunks" if label == "Embedding" else " files",
                   disable=quiet or None, file=sys.stderr, leave=True, dynamic_ncols=True)

        def advance(n: int) -> None:
            bar.update(n)
            if bar.n >= bar.total:
                bar.close()

        return advance

    return start


def build_if_missing(index: Index, corpus: Path) -> Index:
    """``index``, first built from ``corpus`` (with a progress bar) when there is none yet."""
    try:
        index.snapshot()
        return index
    except IndexNotFoundError:
        pass
    click.echo(f"No index in {index.location}: indexing {corpus} first.", err=True)
    report = index.sync([corpus], progress=tqdm_progress(False))
    for problem in report.problems:
        click.echo(f"skipped: {problem}", err=True)
    if report.documents == 0:
        raise RagError(f"nothing could be indexed from {corpus}; give a folder of documents with --corpus")
    return index


def resume_uploads(workspace: Workspace) -> None:
    """Before serving: index what an upload cut off by a killed server left unindexed, in one line."""
    report = workspace.resume_uploads(progress=tqdm_progress(False))
    if report is None:
        return
    names = report.added + report.updated
    if names:
        click.echo(f"Indexed {len(names)} uploaded file(s) an interrupted upload had left out: "
                   f"{', '.join(names)}", err=True)
    for problem in report.problems:
        click.echo(f"skipped: {problem}", err=True)


def server_options(default_port: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of ``rag serve`` and ``rag api``; ``server_settings(**options)`` turns them into settings."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("--host", default="127.0.0.1", show_default=True,
                         help="Address to listen on. The default is this machine only; any other address needs "
                         f"an API key (${KEY_ENV} or --api-key-file). No public share link is ever made."),
            click.option("--port", type=click.IntRange(1, 65535), default=default_port, show_default=True,
                         help="Port to listen on."),
            INDEX_OPTION,
            click.option("--generator", type=click.Choice(GENERATORS), default=AnswerSettings.generator,
                         show_default=True, help="Answer generator."),
            click.option("--model", "llm", default="", metavar="PATH",
                         help="GGUF file or Hugging Face folder for the generator."),
            click.option("--uploads", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="Where uploaded documents are stored (default: uploads/ beside the index folder)."),
            click.option("--max-upload-mb", type=click.FloatRange(0.001, 10_000), default=20, show_default=True,
                         help="Largest upload accepted."),
            click.option("--max-waiting", type=click.IntRange(1, 1000), default=MAX_WAITING, show_default=True,
                         help="Questions that may wait for the model; more are refused at once (HTTP 429 with "
                         "Retry-After, 'the assistant is busy' in the chat)."),
            click.option("--wait-timeout", "wait_timeout_s", type=click.FloatRange(1, 3600), default=WAIT_TIMEOUT_S,
                         show_default=True, help="Seconds a question may wait for the ones before it."),
            click.option("--rate-limit", default="", metavar="N/PERIOD",
                         help="Requests per client address to the API, e.g. 120/minute ('none': no limit). "
                         "Default: none on this machine only, 120/minute on any other address."),
            click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
                         help="Also answer to this Host name (repeatable). By default only loopback names are "
                         "served, which defeats DNS rebinding; a server on a public address behind a key answers "
                         "to any name unless some are given."),
            click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                         help=f"File holding the API key (default: ${KEY_ENV}). With a key, every request but "
                         "/health must carry it: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'; browsers are "
                         "asked for it as a password."),
        ]
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


def server_settings(host: str, port: int, index_dir: Path | None, generator: str, llm: str, uploads: Path | None,
                    max_upload_mb: float, max_waiting: int, wait_timeout_s: float, rate_limit: str,
                    allow_hosts: tuple[str, ...], api_key_file: Path | None,
                    corpus: Path | None = None) -> ServerSettings:
    """``ServerSettings`` from the options of ``server_options`` (refuses a public address without a key)."""
    return ServerSettings(host=host, port=port, index=index_dir or default_index_dir(), uploads=uploads,
                          max_upload_mb=max_upload_mb, api_key=load_key(api_key_file), corpus=corpus,
                          max_waiting=max_waiting, wait_timeout_s=wait_timeout_s, rate_limit=rate_limit,
                          allow_hosts=tuple(allow_hosts),
                          answer=AnswerSettings(generator=generator, model=llm))


def url(host: str, port: int) -> str:
    """``http://host:port`` (IPv6 hosts in brackets)."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"
