"""Small client helpers: accounts, keys and signed requests, as an API client would do them.

The signing here is written from the documented scheme (docs/notification-api.md),
not imported from the server, so that a change on one side only shows as a refusal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json as jsonlib
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

SCHEME = "NAPI-HMAC-SHA256-V2"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def register(client: httpx.AsyncClient, email: str | None = None) -> dict[str, str]:
    """A new account; returns its Authorization header."""
    response = await client.post(
        "/api/auth/register/email", json={"email": email or unique_email(), "pw": "pw-123456"}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": response.json()["Authorization"]}


async def create_key(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/api/users/apikeys", json={"user_memo": "test"}, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 characters of A-Z a-z 0-9 - _


def canonical_query(pairs: Iterable[tuple[str, Any]]) -> str:
    """Sorted by name (stable), each part percent-encoded except A-Z a-z 0-9 - _ . ~."""
    ordered = sorted(((str(name), str(value)) for name, value in pairs), key=lambda p: p[0])
    return "&".join(f"{quote(n, safe='-_.~')}={quote(v, safe='-_.~')}" for n, v in ordered)


def v2_signature(secret_key: str, method: str, path: str, query: str, body: bytes) -> str:
    """The ``secret`` header of scheme V2 for a query already in canonical form."""
    canonical = "\n".join([SCHEME, method.upper(), path, query, hashlib.sha256(body).hexdigest()])
    digest = hmac.new(secret_key.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def legacy_signature(secret_key: str, query_string: str) -> str:
    """The original scheme's header: base64(HMAC-SHA256(secret, raw query string))."""
    digest = hmac.new(secret_key.encode(), query_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_query(
    access_key: str, *, timestamp: int | None = None, nonce: str | None = None, **extra: Any
) -> str:
    """``key``, ``timestamp``, a new ``nonce`` and ``extra``, in canonical form."""
    stamp = int(time.time()) if timestamp is None else timestamp
    pairs = {"key": access_key, "timestamp": stamp, "nonce": nonce or new_nonce(), **extra}
    return canonical_query(pairs.items())


@dataclass
class Prepared:
    """A signed request, ready to send (and to send again, for replay tests)."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes = b""
    query: str = ""

    async def send(self, client: httpx.AsyncClient, **changes: Any) -> httpx.Response:
        """Send it; ``changes`` replace ``method``, ``url`` or ``content`` as sent (not signed)."""
        method = changes.get("method", self.method)
        url = changes.get("url", self.url)
        content = changes.get("content", self.content)
        headers = {**self.headers, **changes.get("headers", {})}
        if content:
            headers.setdefault("content-type", "application/json")
        return await client.request(method, url, headers=headers, content=content)


def prepare(
    method: str,
    path: str,
    key: dict[str, Any],
    *,
    query: str | None = None,
    secret: str | None = None,
    json: Any = None,
    **extra: Any,
) -> Prepared:
    """A V2-signed request with ``key`` (``query``/``secret`` override the honest values)."""
    query_string = query if query is not None else signed_query(key["access_key"], **extra)
    body = b"" if json is None else jsonlib.dumps(json).encode()
    header = (
        secret
        if secret is not None
        else v2_signature(key["secret_key"], method, path, query_string, body)
    )
    return Prepared(
        method,
        f"{path}?{query_string}",
        {"X-Signature-Scheme": SCHEME, "secret": header},
        body,
        query_string,
    )


async def signed(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    key: dict[str, Any],
    *,
    query: str | None = None,
    secret: str | None = None,
    json: Any = None,
    **extra: Any,
) -> httpx.Response:
    """A request signed with ``key`` (``query``/``secret`` override the honest values)."""
    prepared = prepare(method, path, key, query=query, secret=secret, json=json, **extra)
    return await prepared.send(client)


async def legacy_signed(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    key: dict[str, Any],
    *,
    json: Any = None,
    **extra: Any,
) -> httpx.Response:
    """A request signed the original way: no scheme header, no nonce, the query only."""
    query = urlencode({"key": key["access_key"], "timestamp": int(time.time()), **extra})
    header = legacy_signature(key["secret_key"], query)
    return await client.request(method, f"{path}?{query}", headers={"secret": header}, json=json)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the service's error body with this status and code."""
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert set(body) == {"status", "msg", "detail", "code"}, body
    assert (body["status"], body["code"]) == (status, code), body
    return body
