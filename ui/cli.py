"""``rag serve``: the web chat and the HTTP API in one process. Registered on ``rag`` through the
``rag.commands`` entry point (pyproject.toml); importing this module loads neither Gradio nor a model."""

from __future__ import annotations

from pathlib import Path

import click

from rag.cli_common import build_if_missing, resume_uploads, server_options, server_settings, url


@click.command()
@server_options(default_port=7860)
@click.option("--corpus", type=click.Path(path_type=Path), default=Path("corpus"), show_default=True,
              help="Folder to index first when the index is missing.")
def serve(host: str, port: int, index_dir: Path | None, generator: str, llm: str, uploads: Path | None,
          max_upload_mb: float, max_waiting: int, wait_timeout_s: float, rate_limit: str,
          allow_hosts: tuple[str, ...], api_key_file: Path | None, corpus: Path) -> None:
    """Start the web chat and the HTTP API (/v1/..., spec at /openapi.json) in one process, building the
    index from --corpus when there is none, and print the address."""
    from rag.workspace import Workspace

    from .server import serve as serve_app

    # Settings first: a public address without a key is refused before minutes of indexing and loading.
    settings = server_settings(host, port, index_dir, generator, llm, uploads, max_upload_mb, max_waiting,
                               wait_timeout_s, rate_limit, allow_hosts, api_key_file, corpus)
    workspace = Workspace.from_settings(settings)
    build_if_missing(workspace.index, corpus)
    resume_uploads(workspace)
    click.echo("Loading the models...", err=True)
    workspace.warm_up()
    click.echo(f"Web chat: {url(host, port)}  (HTTP API under /v1, spec at /openapi.json; Ctrl-C to stop)"
               + ("; API key required" if settings.api_key else ""), err=True)
    serve_app(workspace, settings)
