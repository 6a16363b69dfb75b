"""OpenAI's error object for the OpenAI-compatible routes: ``{"error": {"message", "type", "param", "code"}}``.

The app's own handlers and middleware (bad values, schema errors, the API key, body limits, host
checks, a full queue) answer ``{"error": "<one line>", "type": "<ErrorClass>"}``. On
``/v1/chat/completions`` and ``/v1/models`` this middleware rewrites that body into OpenAI's shape,
keeping the one-line message and the status, except that a body which does not match the schema is
400 there (OpenAI's status for it) rather than 422. ``code`` is the rag error class, so nothing is lost.

    >>> body = error_object("messages: Field required", 400, "ValidationError", "messages")["error"]
    >>> body["message"], body["type"], body["param"], body["code"]
    ('messages: Field required', 'invalid_request_error', 'messages', 'ValidationError')
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

PATHS = ("/v1/chat/completions", "/v1/models")
KINDS = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}


def error_object(message: str, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body: ``type`` from the status, ``code`` the error class (or OpenAI's code)."""
    kind = "server_error" if status >= 500 else KINDS.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def is_openai_path(path: str) -> bool:
    """Whether ``path`` is one of the OpenAI-compatible routes."""
    return path in PATHS or path.startswith("/v1/models/")


def _param(details: Any) -> str | None:
    """The field a schema error is about, e.g. ``messages.0.role`` (None when it is the body itself)."""
    if not isinstance(details, list) or not details or not isinstance(details[0], dict):
        return None
    loc = [str(part) for part in details[0].get("loc", [])]
    return ".".join(loc[1:] if loc[:1] == ["body"] else loc) or None


def rewrite(status: int, body: bytes) -> tuple[int, bytes] | None:
    """The OpenAI-shaped ``(status, body)`` for one of our JSON errors; None to leave the response alone."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("error"), str):
        return None  # already OpenAI's shape, or not ours
    code = str(data.get("type") or "Error")
    if code == "ValidationError" and status == 422:
        status = 400
    return status, json.dumps(error_object(data["error"], status, code, _param(data.get("details")))).encode()


class OpenAIErrors:
    """ASGI middleware: JSON error responses on the OpenAI-compatible routes in OpenAI's shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or not is_openai_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def reshape(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if message["status"] >= 400 and headers.get(b"content-type", b"").startswith(b"application/json"):
                    start = message  # an error: hold it until its body is complete
                    return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, body = rewrite(start["status"], b"".join(chunks)) or (start["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "status": status, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshape)
