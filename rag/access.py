"""Who may use the server: open on this machine only, an API key everywhere else.

The rule, for ``rag api`` and ``rag serve`` alike:

- a key is configured (``$RAG_API_KEY`` or ``--api-key-file``) -> every route except ``/health``
  needs it, the chat included;
- no key, listening on a loopback address -> open (only this machine can connect);
- no key, listening on any other address -> the server refuses to start.

Programs send the key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Browsers get a
Basic-auth prompt (any user name, the key as password), which they then send with every request,
so the chat, its document view and its event streams all work behind the same key.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from . import env
from .errors import ConfigError

KEY_ENV = env.API_KEY
OPEN_PATHS = frozenset({"/health"})  # liveness probes need no key and learn nothing from it

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def load_key(key_file: Path | str | None = None) -> str | None:
    """The API key from ``key_file`` if given, else ``$RAG_API_KEY``; ``None`` when neither is set.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "key").write_text("a-long-random-string")
    ...     load_key(Path(folder) / "key")
    'a-long-random-string'
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the API key file {key_file}: {exc.strerror or exc}") from None
        if not key:
            raise ConfigError(f"the API key file {key_file} is empty; put the key on its first line")
        return key
    return env.api_key()


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, key: str | None) -> None:
    """Refuse to listen beyond this machine without a key (raises ``ConfigError`` saying how to set one)."""
    if key is None and not is_loopback(host):
        raise ConfigError(f"refusing to listen on {host} without an API key: set {KEY_ENV}=<key> or pass "
                          "--api-key-file FILE (or listen on 127.0.0.1)")


def presented_key(headers: dict[str, str]) -> str | None:
    """The key a request carries: ``X-API-Key``, ``Authorization: Bearer``, or Basic auth's password."""
    if "x-api-key" in headers:
        return headers["x-api-key"].strip()
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def key_matches(presented: str | None, key: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much of a guess was right."""
    return presented is not None and secrets.compare_digest(presented.encode(), key.encode())


class RequireKey:
    """ASGI middleware: with a key configured, answer 401 to any request (but ``/health``) without it.

    API routes (``/v1/...``) get a JSON error; everything else (the chat) also gets a Basic-auth
    challenge so a browser asks for the key once.
    """

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive, send) -> None:
        if self.key is None or scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if key_matches(presented_key(headers), self.key):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        wrong = "x-api-key" in headers or "authorization" in headers
        message = ("the API key is wrong" if wrong else "an API key is required") + \
            ": send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        body = json.dumps({"error": message, "type": "AuthError"}).encode()
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if not scope["path"].startswith("/v1/"):
            response_headers.append((b"www-authenticate", b'Basic realm="rag", charset="UTF-8"'))
        await send({"type": "http.response.start", "status": 401, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
