"""``rag mcp``: the MCP server over stdio, for desktop apps that start it as a subprocess. Registered on
``rag`` through the ``rag.commands`` entry point; the same tools are served over HTTP at ``/mcp`` by
``rag api`` and ``rag serve``."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from .cli_common import INDEX_OPTION
from .config import GENERATORS, AnswerSettings, default_index_dir


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Anything written to stdout (by Python or a C library loading a model) goes to stderr meanwhile:
    stdout is the protocol's channel."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@click.command()
@INDEX_OPTION
@click.option("--generator", type=click.Choice(GENERATORS), default=AnswerSettings.generator, show_default=True,
              help="Answer generator (extractive: no language model, instant).")
@click.option("--model", "llm", default="", metavar="PATH", help="GGUF file or Hugging Face folder for the generator.")
def mcp(index_dir: Path | None, generator: str, llm: str) -> None:
    """Serve the MCP server on stdin/stdout (for desktop apps): tools search and ask, and the indexed
    documents as resources rag://documents/DOC_ID. Messages go to stderr; stdout is the protocol's."""
    from .index import Index
    from .mcp_server import build_server
    from .workspace import Workspace

    workspace = Workspace(Index(index_dir or default_index_dir()), AnswerSettings(generator=generator, model=llm))
    workspace.index.snapshot()  # fail now, with the command to run, if there is no index
    click.echo("rag mcp: loading the models...", err=True)
    with _stdout_to_stderr():
        workspace.warm_up()
    click.echo(f"rag mcp: serving {workspace.index.location} on stdio (the client ends it by closing stdin)", err=True)
    build_server(workspace).run("stdio")
