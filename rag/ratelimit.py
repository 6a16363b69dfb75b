"""Per-client rate limits for a server exposed beyond this machine (the ``limits`` library, moving window).

On loopback only the user's own programs connect, so there is no limit by default; on any other
address ``rag serve``/``rag api`` allow ``--rate-limit`` requests per client address (default
120 per minute) to the API (``/v1/…``, ``/mcp``). Past it: 429 with ``Retry-After``.

    >>> limiter = RateLimit(app=None, limit="2/minute")
    >>> [limiter.allowed("10.0.0.7")[0] for _ in range(3)]
    [True, True, False]
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from limits import parse, storage, strategies

from .errors import ConfigError

DEFAULT_LIMIT = "120/minute"
LIMITED_PREFIXES = ("/v1/", "/mcp")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def check_limit(limit: str) -> str:
    """``limit`` if the ``limits`` library can read it (``"120/minute"``, ``"10 per second"``), else ConfigError."""
    try:
        parse(limit)
    except ValueError:
        raise ConfigError(f"rate limit must look like 120/minute or 10/second, got {limit!r}") from None
    return limit


class RateLimit:
    """ASGI middleware: at most ``limit`` requests per client address to the API's routes."""

    def __init__(self, app: Any, limit: str = DEFAULT_LIMIT) -> None:
        self.app = app
        self.item = parse(check_limit(limit))
        self.limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def allowed(self, client: str) -> tuple[bool, int]:
        """Whether ``client`` may make one more request now, and the seconds until it may when not."""
        if self.limiter.hit(self.item, client):
            return True, 0
        reset = self.limiter.get_window_stats(self.item, client).reset_time
        return False, max(1, math.ceil(reset - time.time()))

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        ok, wait = self.allowed(client)
        if ok:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": f"too many requests from {client}: the limit is {self.item}; "
                                    f"try again in {wait} s", "type": "RateLimited"}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(wait).encode())]})
        await send({"type": "http.response.body", "body": body})
