"""HTTP methods per path: ``HEAD`` and ``OPTIONS`` answered, a 405 that lists what the path takes.

Starlette answers a method a path does not take with the ``Allow`` header of
the first route that matched the path only, and every method of this API is
a route of its own: ``PUT /api/users/me`` answered ``Allow: GET`` although
``PATCH`` and ``DELETE`` work there too. This middleware looks at every route
that matches the path and:

- answers ``OPTIONS`` with 204 and ``Allow`` (no CORS: the API has no browser
  clients on other origins);
- runs ``HEAD`` as ``GET`` without the body (RFC 9110 §9.3.2), where the path
  takes ``GET``;
- answers any other method the path does not take with 405, ``Allow`` and the
  service's error body.

Paths that no route knows (404) and mounted apps (the docs' files) pass
through untouched.

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> @app.get("/things")
    ... async def things() -> list[str]:
    ...     return []
    >>> allowed_methods(app.router, {"type": "http", "path": "/things", "method": "PUT"})
    ['GET', 'HEAD', 'OPTIONS']
"""

from __future__ import annotations

import json

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

__all__ = ["MethodsMiddleware", "allowed_methods"]


#: The methods a path is probed for (RFC 9110's, PATCH, and the QUERY draft's).
_PROBED = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "QUERY")


def _routed(router: Router, scope: Scope, method: str) -> bool:
    probe = {**scope, "method": method}
    return any(route.matches(probe)[0] is Match.FULL for route in router.routes)


def allowed_methods(router: Router, scope: Scope) -> list[str] | None:
    """The methods ``scope``'s path takes, with ``HEAD`` and ``OPTIONS``; ``None`` if not ours.

    Each method is tried against the routes as the router would (so routers
    included in any way count); ``None`` when no route takes the path (a 404
    is the router's to answer) or when one takes every method (a mount, whose
    app decides).

    Example:
        >>> allowed_methods(Router(), {"type": "http", "path": "/", "method": "GET"}) is None
        True
    """
    methods = {method for method in _PROBED if _routed(router, scope, method)}
    if not methods or len(methods) == len(_PROBED):
        return None
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")
    return sorted(methods)


class MethodsMiddleware:
    """Pure ASGI middleware (see the module's docstring); ``router`` is the app's router."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        # The usual case costs one pass over the routes: a route takes this request.
        if method not in ("HEAD", "OPTIONS") and _routed(self.router, scope, method):
            await self.app(scope, receive, send)
            return
        allowed = allowed_methods(self.router, scope)
        if allowed is None or (method == "HEAD" and _routed(self.router, scope, "HEAD")):
            await self.app(scope, receive, send)
            return
        allow = ", ".join(allowed)
        if method == "OPTIONS":
            await _answer(send, 204, allow, b"")
            return
        if method == "HEAD" and "GET" in allowed:
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        body = error_body(
            405, "4050000", "METHOD_NOT_ALLOWED", f"{method} is not allowed here; use {allow}."
        )
        await _answer(
            send, 405, allow, json.dumps(body, separators=(",", ":")).encode(), "application/json"
        )


async def _answer(
    send: Send, status: int, allow: str, body: bytes, content_type: str | None = None
) -> None:
    headers = [(b"allow", allow.encode())]
    if content_type:
        headers += [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _without_body(send: Send) -> Send:
    # The headers (Content-Length included) stay those of the GET, as HEAD asks.
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only
