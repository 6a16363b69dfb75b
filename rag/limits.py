"""Request body limits for the HTTP API: a request over its limit gets 413 before any handler runs.

JSON routes take small bodies (a question, a few ids); the upload route takes files. A body is read
up to its limit and no further, so a client cannot make the server hold more than that in memory.
"""

from __future__ import annotations

import json

JSON_LIMIT = 64_000  # bytes: a question with its conversation history fits many times over


class LimitBody:
    """ASGI middleware bounding the body of ``/v1/`` requests (``POST /v1/documents``: ``upload_limit``)."""

    def __init__(self, app, upload_limit: int, json_limit: int = JSON_LIMIT) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.json_limit = json_limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        is_upload = scope["method"] == "POST" and scope["path"] == "/v1/documents"
        limit = self.upload_limit if is_upload else self.json_limit
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit, is_upload)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit, is_upload)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client to disconnect, as usual

        await self.app(scope, replay, send)


async def _too_large(send, limit: int, is_upload: bool) -> None:
    what = f"uploads are limited to {limit / 1e6:g} MB per request" if is_upload else \
        f"this route accepts at most {limit // 1000} kB of JSON"
    body = json.dumps({"error": f"request body too large: {what}", "type": "PayloadTooLarge"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
