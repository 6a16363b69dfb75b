"""``rag api``: the HTTP API alone. Registered on ``rag`` through the ``rag.commands`` entry point."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import resume_uploads, server_options, server_settings, url

GRACE_S = 5  # on SIGTERM or Ctrl-C, requests still running after this long are cancelled
# An idle keep-alive connection is closed after this long. Longer than clients keep one idle (browsers and
# proxies ~60 s): with uvicorn's 5 s, a client sending on a connection just as the server closed it got no
# response at all (once in 6,824 requests of the load benchmark, eval/RELIABILITY.md).
KEEP_ALIVE_S = 75


@click.command()
@server_options(default_port=8000)
def api(host: str, port: int, index_dir: Path | None, generator: str, llm: str, uploads: Path | None,
        max_upload_mb: float, max_waiting: int, wait_timeout_s: float, rate_limit: str,
        allow_hosts: tuple[str, ...], api_key_file: Path | None) -> None:
    """Serve the HTTP API alone, without the chat: POST /v1/search, POST /v1/ask, GET/POST /v1/documents,
    DELETE /v1/documents/DOC_ID, GET /health (spec at /openapi.json), plus the OpenAI-compatible
    POST /v1/chat/completions and GET /v1/models, and MCP over streamable HTTP at /mcp."""
    import uvicorn

    from .http_api import create_api
    from .workspace import Workspace

    settings = server_settings(host, port, index_dir, generator, llm, uploads, max_upload_mb, max_waiting,
                               wait_timeout_s, rate_limit, allow_hosts, api_key_file)
    workspace = Workspace.from_settings(settings)
    workspace.index.snapshot()  # fail now, with the command to run, if there is no index
    resume_uploads(workspace)
    click.echo("Loading the models...", err=True)
    workspace.warm_up()
    click.echo(f"HTTP API: {url(host, port)}  (spec at /openapi.json; Ctrl-C to stop)"
               + ("; API key required" if settings.api_key else ""), err=True)
    # SIGTERM always stops it within GRACE_S, whatever its clients do (uvicorn's default waits for all of them).
    app = create_api(workspace, settings.api_key, settings.served_hosts, settings.client_rate_limit)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=GRACE_S,
                timeout_keep_alive=KEEP_ALIVE_S)
