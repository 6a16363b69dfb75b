"""The MCP server over streamable HTTP at ``/mcp``, inside the API's own app (``rag api``, ``rag serve``).

It sits behind the app's middleware like every other route, so the API key, the ``Host``/``Origin``
rules and the queue of answers apply as they do to ``/v1``; its bodies are bounded by the API's JSON
limit (``rag.limits.JSON_LIMIT``, enforced by the SDK's transport). The transport is stateless with
JSON responses: every request stands alone, so the server keeps no sessions to bound or expire.

The SDK's session manager runs inside the app's lifespan (uvicorn runs it; ``TestClient`` does only
when used as a context manager): a fresh manager each time the app starts, since one cannot be
restarted. Before that, ``/mcp`` answers 503.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from .limits import JSON_LIMIT
from .mcp_server import RagMCPServer, build_server
from .workspace import Workspace

PATH = "/mcp"
# Host and Origin are the app's to check (rag.crosssite, for every route alike); the SDK's own check
# would refuse names the server was told to answer to (--allow-host).
NO_SDK_HOST_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)


class MCPEndpoint:
    """The ASGI endpoint at ``/mcp``: hands each request to the running session manager."""

    def __init__(self, server: RagMCPServer) -> None:
        self.server = server
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self, app: Any = None) -> AsyncIterator[None]:
        """Run a new session manager while the app runs (its lifespan)."""
        self.server.streamable_http_app(stateless_http=True, json_response=True, max_request_body_size=JSON_LIMIT,
                                        transport_security=NO_SDK_HOST_CHECK)
        manager = self.server.session_manager  # the one streamable_http_app() just made
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.manager is None:
            body = json.dumps({"error": "the MCP endpoint is not running (the app's lifespan has not started)",
                               "type": "ServiceUnavailable"}).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.manager.handle_request(scope, receive, send)


def install_mcp(app: FastAPI, workspace: Workspace) -> MCPEndpoint:
    """Serve ``workspace``'s MCP server at ``/mcp`` on ``app``, started and stopped with the app."""
    endpoint = MCPEndpoint(build_server(workspace))
    # Any ASGI app is an endpoint to starlette's Route; FastAPI types add_route's for request handlers only.
    app.add_route(PATH, endpoint, include_in_schema=False)  # pyright: ignore[reportArgumentType]
    app.include_router(APIRouter(lifespan=endpoint.running))  # FastAPI merges a router's lifespan into the app's
    return endpoint
