"""Serving the web chat: Gradio mounted on a FastAPI app that also serves the whole-document view."""

from __future__ import annotations

import html
import re
from collections.abc import Collection

import gradio as gr
from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.config import ServerSettings
from rag.crosssite import LOOPBACK_HOSTS
from rag.http_api import install
from rag.http_cli import KEEP_ALIVE_S
from rag.workspace import Workspace

from . import render
from .app import build_app

# On SIGTERM or Ctrl-C, requests still running after this long are cancelled, so a service manager
# can always stop the server (uvicorn's default waits for every connection, however long).
GRACE_S = 5
# When the chat's queue is full, the page is told to ask again after this many seconds (as /v1/ask's 429 says).
BUSY_RETRY_AFTER_S = 10
# The document view is static, escaped HTML with inline styles: it needs nothing else, so it may load nothing else.
DOCUMENT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
                "form-action 'none'")


def create_app(workspace: Workspace, key: str | None = None,
               hosts: Collection[str] | None = LOOPBACK_HOSTS, rate_limit: str | None = None) -> FastAPI:
    """The whole server as an ASGI app: the chat at ``/``, ``/document?doc=…&start=…&end=…`` and the
    HTTP API (``/v1/…``, ``/health``, ``/openapi.json``). With ``key``, all but ``/health`` need it."""
    api = FastAPI(title="Ask your documents", docs_url=None, redoc_url=None)

    @api.get("/document", response_class=HTMLResponse)
    def document(doc: str, start: int = Query(0, ge=0), end: int = Query(0, ge=0),
                 quote_start: int | None = None, quote_end: int | None = None) -> HTMLResponse:
        row = workspace.document(doc)
        if row is None:
            return HTMLResponse(f"<!doctype html><meta charset='utf-8'><p>No document {html.escape(doc)} "
                                "in the index (it may have been removed).</p>", status_code=404)
        quote = (quote_start, quote_end) if quote_start is not None and quote_end is not None else None
        location = workspace.index.locate(row.doc_id, start, end) if end > start else None
        return HTMLResponse(render.document_page(row.title, row.doc_id, row.text, start, end, quote, location),
                            headers={"Content-Security-Policy": DOCUMENT_CSP})

    install(api, workspace, key, hosts, rate_limit)  # before the chat claims every path under "/"
    # The chat's questions pass Gradio's queue into the workspace's answer queue (ui.app); Gradio's own queue
    # is bounded too (uploads and removals wait there): past it, BusyChat says the assistant is busy.
    blocks = build_app(workspace).queue(default_concurrency_limit=1, max_size=workspace.max_waiting)
    app = gr.mount_gradio_app(api, blocks, path="/", css=render.CSS, show_error=False, footer_links=[])
    chat = next(route.app for route in app.routes if isinstance(route, Mount) and route.path == "")
    # starlette types Mount.app as any ASGI app; the one gradio mounts is its App, a FastAPI
    chat.add_middleware(CancelRace)  # pyright: ignore[reportAttributeAccessIssue]
    chat.add_middleware(BusyChat)  # pyright: ignore[reportAttributeAccessIssue]
    return app


class BusyChat:
    """A full chat queue says the assistant is busy, as ``/v1/ask`` does: 429 with ``Retry-After`` and our words.

    Gradio refuses a question past the queue's ``max_size`` with 503, and for a 503 its page shows a fixed
    "This application is currently busy. Please try again." whatever the server says; for other statuses it
    shows the server's ``detail``. So the refusal becomes a 429 (a refusal, not a server failure) whose detail
    the page shows in its error toast."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/gradio_api/queue/join"):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def refused(message: Message) -> None:
            if not held and not (message["type"] == "http.response.start" and message["status"] == 503):
                await send(message)
                return
            held.append(message)  # a 503's body is one small JSON object: read it all, then decide
            if message["type"] != "http.response.body" or message.get("more_body"):
                return
            full = re.search(rb"Queue is full.*?size is (\d+)", b"".join(m.get("body", b"") for m in held[1:]))
            if full is None:  # another 503 (the queue is stopped): as it was
                for kept in held:
                    await send(kept)
                return
            waiting = int(full.group(1))
            said = f"{waiting} questions are" if waiting != 1 else "1 question is"
            await JSONResponse({"detail": f"The assistant is busy: {said} waiting; ask again in a moment.",
                                "type": "BusyError"},
                               status_code=429, headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})(scope, receive, send)

        await self.app(scope, receive, refused)


class CancelRace:
    """Gradio 6's ``/gradio_api/cancel`` looks the event up outside its lock and deletes it inside: a
    Stop that lands as the answer ends raises ``KeyError`` there, a 500 and a traceback in the log.
    The event is over either way, which is what the Stop asked for: answer so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/gradio_api/cancel"):
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except KeyError:
            await JSONResponse({"success": True})(scope, receive, send)


def serve(workspace: Workspace, settings: ServerSettings, app: FastAPI | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM. Binds to ``settings.host`` only; there is no public share link.
    ``app``: the one ``create_app`` built for these settings (built here when None)."""
    import uvicorn

    if app is None:
        app = create_app(workspace, settings.api_key, settings.served_hosts, settings.client_rate_limit)
    uvicorn.run(app, host=settings.host, port=settings.port,
                log_level="warning", timeout_graceful_shutdown=GRACE_S, timeout_keep_alive=KEEP_ALIVE_S)
