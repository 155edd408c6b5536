"""A cap on request bodies: 413 before the body is read past ``MAX_BODY_BYTES``.

Pure ASGI middleware (no ``BaseHTTPMiddleware``, which would buffer), placed
outside the routes: a body the service will never accept is not read into
memory, not parsed, and costs no database connection.

- A ``Content-Length`` above the limit is answered at once, before a byte of
  the body is read (the client may still be sending it).
- A body without a length (``Transfer-Encoding: chunked``) is counted as it
  streams in; the moment it passes the limit the 413 goes out, the app is told
  the client left, and nothing more is read.

The 413 carries ``Connection: close``: the server then closes the connection
rather than reading the rest of the body only to discard it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BodyTooLargeError

__all__ = ["BodyLimitMiddleware", "BodyLimitStats"]


@dataclass
class BodyLimitStats:
    """What the middleware saw: refusals, and the most body bytes it let through.

    Tests read it to show that an oversized body was not read past the limit.

    Example:
        >>> BodyLimitStats()
        BodyLimitStats(refused=0, most_bytes_read=0)
    """

    refused: int = 0
    most_bytes_read: int = 0


def _declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` (``None`` if absent or unreadable)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses such requests; nothing to cap here
                return None
    return None


class BodyLimitMiddleware:
    """Answer 413 ``4130001`` to a request whose body exceeds ``max_bytes``.

    Example:
        >>> import asyncio
        >>> async def app(scope, receive, send):
        ...     raise AssertionError("not reached: the body is too large")
        >>> limited = BodyLimitMiddleware(app, max_bytes=10)
        >>> sent = []
        >>> async def send(message):
        ...     sent.append(message)
        >>> async def receive():
        ...     raise AssertionError("not read: Content-Length said enough")
        >>> scope = {"type": "http", "headers": [(b"content-length", b"11")]}
        >>> asyncio.run(limited(scope, receive, send))
        >>> sent[0]["status"], limited.stats.refused
        (413, 1)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, stats: BodyLimitStats | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.stats = stats if stats is not None else BodyLimitStats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return

        read = 0
        refused = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal read, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            read += len(message.get("body", b""))
            if read <= self.max_bytes:
                self.stats.most_bytes_read = max(self.stats.most_bytes_read, read)
                return message
            refused = True
            if not response_started:
                await self._refuse(send)
            # What the app sees: the client went away. It stops reading, and
            # whatever it answers is dropped below.
            return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if refused:  # the 413 went out: an error from the abandoned request has no one to reach
                return
            raise

    async def _refuse(self, send: Send) -> None:
        self.stats.refused += 1
        body = json.dumps(BodyTooLargeError(self.max_bytes).body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
