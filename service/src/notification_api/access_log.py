"""One JSON log line per request: method, path, status, time, client, user, masked e-mail."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLogMiddleware", "mask_email"]

logger = logging.getLogger("notification_api.access")


def mask_email(email: str | None) -> str | None:
    """Keep the first two characters of the local part and the domain.

    Example:
        >>> mask_email("kimjaekyung@example.com")
        'ki*********@example.com'
        >>> mask_email(None) is None
        True
    """
    if not email or "@" not in email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:2]}{'*' * max(len(local) - 2, 1)}@{domain}"


class AccessLogMiddleware:
    """Pure ASGI middleware (streaming-safe); the auth dependencies fill ``request.state``.

    An exception that escapes the app is logged as status 500 and re-raised
    for the outer error middleware to answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Request.state reads and writes this dict: the dependencies' notes land here.
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            client = scope.get("client")
            line = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None,
                "user_id": state.get("user_id"),
                "email": mask_email(state.get("email")),
            }
            logger.info(json.dumps(line))
