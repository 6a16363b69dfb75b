"""Other web pages may not use the server through the user's browser.

A server on 127.0.0.1 is reachable from every page its user opens. Two attacks follow, and both are
refused here, for the chat, the document view and the API alike:

- **Cross-site requests.** A page on another site sends a "simple" request (a form's multipart
  POST needs no CORS preflight) to plant a document or ask a question. Browsers name the page in
  ``Origin`` (and ``Sec-Fetch-Site``): a request whose origin is not the server's own is refused
  with 403, except a plain navigation (following a link to the chat). Programs (curl, SDKs) send no
  ``Origin`` and are not affected. No CORS headers are ever sent, so other origins cannot read
  answers either.
- **DNS rebinding.** A page makes its own host name resolve to 127.0.0.1 and then talks to the
  server as "same origin". Its requests carry that name in ``Host``, so only the configured host
  names are served (loopback names by default; ``rag serve --allow-host NAME`` adds more).

Every response also carries security headers (``Content-Security-Policy`` with ``frame-ancestors
'none'`` unless the route set a stricter one, ``X-Frame-Options``, ``X-Content-Type-Options``,
``Referrer-Policy``, ``Cross-Origin-Resource-Policy``).

    >>> host_name("127.0.0.1:7860"), host_name("[::1]:8000"), host_name("LocalHost")
    ('127.0.0.1', '::1', 'localhost')
    >>> same_origin("http://127.0.0.1:7860", "127.0.0.1:7860", "http")
    True
    >>> same_origin("http://evil.example", "127.0.0.1:7860", "http")
    False
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Scripts and styles stay as the chat needs them (Gradio inlines both); what a page may not do is be framed,
# post forms elsewhere, load plugins or change the base URL.
DEFAULT_CSP = "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def host_name(host: str) -> str:
    """The name part of a ``Host`` header (no port, no IPv6 brackets, lower case)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether the page that sent ``Origin`` is this server (same scheme, host and port)."""
    try:
        parts = urlsplit(origin)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    default = 443 if scheme == "https" else 80
    want_name = host_name(host)
    tail = host.rsplit("]", 1)[-1] if host.startswith("[") else host
    want_port = int(tail.rsplit(":", 1)[1]) if ":" in tail and tail.rsplit(":", 1)[1].isdigit() else default
    return parts.scheme == scheme and (parts.hostname or "") == want_name and port == want_port


class SameOrigin:
    """ASGI middleware: refuse cross-site requests and unknown ``Host`` names; add security headers.

    ``hosts``: the host names served (None: any, for a server behind a key on a public name).
    """

    def __init__(self, app: ASGIApp, hosts: Collection[str] | None = LOOPBACK_HOSTS) -> None:
        self.app = app
        self.hosts = None if hosts is None else frozenset(h.lower().strip("[]") for h in hosts)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.refusal(scope, headers)
        if refusal:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body = json.dumps({"error": refusal, "type": "CrossSiteRefused"}).encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS,
                                    (b"content-security-policy", DEFAULT_CSP.encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", DEFAULT_CSP.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)

    def refusal(self, scope: Scope, headers: dict[str, str]) -> str:
        """Why this request is refused, or "" when it may go on."""
        host = headers.get("host", "")
        if self.hosts is not None and host_name(host) not in self.hosts:
            return (f"this server does not answer to the host name {host_name(host)!r} (a DNS-rebinding page?); "
                    f"it serves {', '.join(sorted(self.hosts))}: start it with --allow-host NAME to add one")
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, host, scheme):
            return f"cross-site request refused: the page at {origin} is not this server"
        site = headers.get("sec-fetch-site", "")
        navigation = scope.get("method") in ("GET", "HEAD") and headers.get("sec-fetch-mode") == "navigate"
        if site in ("cross-site", "same-site") and not navigation:
            return f"cross-site request refused (Sec-Fetch-Site: {site})"
        return ""
