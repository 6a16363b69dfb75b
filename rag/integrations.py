"""The other tools' protocols on the API's app: OpenAI-compatible chat (``rag.openai_api``) and MCP over
streamable HTTP (``rag.mcp_http``). ``rag.http_api.install`` calls ``install_integrations`` after adding
its own middleware, so both inherit the API key, the body limits and the host checks."""

from __future__ import annotations

from fastapi import FastAPI

from .workspace import Workspace


def install_integrations(app: FastAPI, workspace: Workspace) -> None:
    """Add ``/v1/chat/completions``, ``/v1/models`` and ``/mcp`` to ``app`` (imports the MCP SDK)."""
    from .mcp_http import install_mcp
    from .openai_api import install_openai

    install_openai(app, workspace)
    install_mcp(app, workspace)
