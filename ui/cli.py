"""``rag serve``: the web chat and the HTTP API in one process. Registered on ``rag`` through the
``rag.commands`` entry point (pyproject.toml); importing this module loads neither Gradio nor a model."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rag.cli_common import build_if_missing, resume_uploads, server_options, server_settings, url

if TYPE_CHECKING:
    from rag.workspace import Workspace


@click.command()
@server_options(default_port=7860)
@click.option("--corpus", type=click.Path(path_type=Path), default=Path("corpus"), show_default=True,
              help="Folder to index first when the index is missing.")
@click.option("--watch", is_flag=True, help="Keep the index in step with --corpus while serving: files added, "
              "changed, renamed or deleted there are indexed between answers, a log line per change.")
def serve(host: str, port: int, index_dir: Path | None, generator: str, llm: str, uploads: Path | None,
          max_upload_mb: float, max_waiting: int, wait_timeout_s: float, rate_limit: str,
          allow_hosts: tuple[str, ...], api_key_file: Path | None, corpus: Path, watch: bool) -> None:
    """Start the web chat and the HTTP API (/v1/..., spec at /openapi.json) in one process, building the
    index from --corpus when there is none, and print the address."""
    from rag.errors import ConfigError
    from rag.workspace import Workspace

    # Settings first: a public address without a key is refused before minutes of indexing and loading.
    settings = server_settings(host, port, index_dir, generator, llm, uploads, max_upload_mb, max_waiting,
                               wait_timeout_s, rate_limit, allow_hosts, api_key_file, corpus)
    if watch and not corpus.is_dir():
        raise ConfigError(f"--watch keeps the --corpus folder in step; {corpus} is not a folder")
    workspace = Workspace.from_settings(settings)
    build_if_missing(workspace.index, corpus)
    resume_uploads(workspace)
    click.echo("Loading the models...", err=True)
    # The models load while this thread imports Gradio and builds the page (issue 15: start-up was the sum
    # of the three). Nothing listens until both are done, so the page's first answer means a question can
    # be answered at once.
    loaded = _started(workspace.warm_up)
    try:
        from .server import create_app
        from .server import serve as serve_app

        app = create_app(workspace, settings.api_key, settings.served_hosts, settings.client_rate_limit)
    finally:  # after a Ctrl-C too: exiting while a model loads in native code can crash the exit (SIGSEGV)
        loaded()
    click.echo(f"Web chat: {url(host, port)}  (HTTP API under /v1, spec at /openapi.json; Ctrl-C to stop)"
               + ("; API key required" if settings.api_key else ""), err=True)
    stop = threading.Event()
    if watch:
        threading.Thread(target=_watch, args=(workspace, corpus, stop), name="rag-watch", daemon=True).start()
    try:
        serve_app(workspace, settings, app)
    finally:
        stop.set()


def _started(work: Callable[[], None]) -> Callable[[], None]:
    """Run ``work`` on a thread of its own; the function returned waits for it and raises what it raised."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the waiting thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="rag-serve-warm-up", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            raise failed[0]

    return wait


def _watch(workspace: Workspace, corpus: Path, stop: threading.Event) -> None:
    """Keep the workspace's index in step with ``corpus`` until ``stop``: each change is indexed between answers."""
    from rag.watch import Watcher, stamped

    def echo(line: str) -> None:
        click.echo(line, err=True)

    watcher = Watcher(workspace.index, [corpus], lambda: workspace.refresh([corpus]), stamped(echo))
    watcher.run(stop, ready=lambda: echo(f"Watching {corpus} for changes."))
