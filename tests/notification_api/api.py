"""Small client helpers: accounts, keys and signed requests, as an API client would do them."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from notification_api.signing import sign


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


def signed_query(access_key: str, *, timestamp: int | None = None, **extra: Any) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    return urlencode({"key": access_key, "timestamp": stamp, **extra})


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
    query_string = query if query is not None else signed_query(key["access_key"], **extra)
    header = secret if secret is not None else sign(key["secret_key"], query_string)
    return await client.request(
        method, f"{path}?{query_string}", headers={"secret": header}, json=json
    )


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the service's error body with this status and code."""
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert set(body) == {"status", "msg", "detail", "code"}, body
    assert (body["status"], body["code"]) == (status, code), body
    return body
