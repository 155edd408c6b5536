"""End to end: signed requests cannot be replayed or carried to another method, path, query or body.

Issue 16, finding 6. The original signature covered ``key=...&timestamp=...``
only: within the window the same header sent the notification again, with
another body, or turned a GET into a POST. Scheme ``NAPI-HMAC-SHA256-V2``
signs the method, the path, the canonical query (timestamp and nonce in it)
and the body's SHA-256, and spends each nonce once: in the database
(``request_nonces``) by default, in Redis when ``REDIS_URL`` is set. Both
stores run here, on every database. The legacy scheme answers 401
``4010020`` unless ``LEGACY_SIGNATURES`` is on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from notification_api.nonces import RedisNonceStore, make_nonce_store
from notification_api.settings import Settings

from .api import (
    SCHEME,
    assert_error,
    create_key,
    legacy_signed,
    prepare,
    register,
    signed,
    v2_signature,
)
from .conftest import Service, reconfigured

pytestmark = pytest.mark.e2e

NOTE = {"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "Hello"}
PATH = "/api/services/notifications"
REDIS_URL = "redis://127.0.0.1:6379/4"  # db 4 and a prefix of this suite's own
CONCURRENT_REPLAYS = 12


@pytest.fixture(params=["database", "redis"])
async def store(request: pytest.FixtureRequest, service: Service) -> AsyncIterator[str]:
    """Which nonce store the running service uses for the test (swapped in, then back)."""
    if request.param == "database":
        yield "database"
        return
    prefix = f"napi-signing-test:{uuid.uuid4().hex[:8]}:"
    redis_store = RedisNonceStore(REDIS_URL, prefix=prefix)
    original = service.app.state.nonce_store
    service.app.state.nonce_store = redis_store
    try:
        yield "redis"
    finally:
        service.app.state.nonce_store = original
        await redis_store.aclose()
        async with Redis.from_url(REDIS_URL) as redis:
            async for name in redis.scan_iter(match=f"{prefix}*"):
                await redis.delete(name)


@pytest.fixture
async def key(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_key(client, await register(client))


async def _notifications_of(service: Service, key: dict[str, Any]) -> int:
    async with service.database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT COUNT(*) FROM notifications WHERE api_key_id = :id"), {"id": key["id"]}
        )
        return int(found.scalar_one())


async def test_a_replayed_request_is_refused(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any], store: str
) -> None:
    captured = prepare("POST", PATH, key, json=NOTE)
    assert (await captured.send(client)).status_code == 202
    replay = await captured.send(client)
    assert_error(replay, 401, "4010021")
    assert await _notifications_of(service, key) == 1  # the replay queued nothing
    # A GET is spent the same way.
    listing = prepare("GET", PATH, key, status="queued")
    assert (await listing.send(client)).status_code == 200
    assert_error(await listing.send(client), 401, "4010021")
    # Another key may use the same nonce: nonces are per key.
    other = await create_key(client, await register(client))
    nonce = captured.query.split("nonce=")[1].split("&")[0]
    assert (await signed(client, "POST", PATH, other, json=NOTE, nonce=nonce)).status_code == 202


async def test_concurrent_replays_queue_one_notification(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any], store: str
) -> None:
    captured = prepare("POST", PATH, key, json=NOTE)
    answers = await asyncio.gather(*(captured.send(client) for _ in range(CONCURRENT_REPLAYS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] + [401] * (CONCURRENT_REPLAYS - 1), statuses
    for answer in answers:
        if answer.status_code == 401:
            assert_error(answer, 401, "4010021")
    assert await _notifications_of(service, key) == 1


async def test_more_signed_requests_than_pooled_connections_are_all_answered(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any], store: str
) -> None:
    """Each request spends its nonce on the one connection it holds. A nonce transaction
    on a second connection stalled the service on SQLite: requests held the whole
    pool (5 + 10 overflow), each waiting for a second connection, until the pool's
    timeout answered them all 500/503."""
    pool = service.database.engine.pool
    many = 4 * (pool.size() + pool._max_overflow)  # type: ignore[attr-defined]
    requests = [prepare("POST", PATH, key, json=NOTE) for _ in range(many // 2)]
    requests += [prepare("GET", PATH, key) for _ in range(many - many // 2)]
    answers = await asyncio.gather(*(request.send(client) for request in requests))
    assert sorted({answer.status_code for answer in answers}) == [200, 202], [
        answer.text for answer in answers if answer.status_code >= 300
    ][:3]
    assert await _notifications_of(service, key) == many // 2


async def test_a_signature_does_not_fit_another_body(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any]
) -> None:
    captured = prepare("POST", PATH, key, json=NOTE)
    for body in (
        b'{"channel": "email", "recipient": "eve@example.com", "subject": "Hi", "body": "x"}',
        captured.content + b" ",  # the same JSON, one byte more
        b"",
    ):
        assert_error(await captured.send(client, content=body), 401, "4010008")
    assert await _notifications_of(service, key) == 0
    # Refused requests spent no nonce: the genuine one still goes through, once.
    assert (await captured.send(client)).status_code == 202


async def test_a_get_signature_does_not_make_a_post(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any]
) -> None:
    captured = prepare("GET", PATH, key)  # a signed listing, seen on the wire
    forged = await captured.send(client, method="POST", content=captured.content)
    assert_error(forged, 401, "4010008")
    with_body = await captured.send(
        client, method="POST", content=prepare("POST", PATH, key, json=NOTE).content
    )
    assert_error(with_body, 401, "4010008")
    assert await _notifications_of(service, key) == 0


async def test_a_changed_query_or_path_is_refused(
    client: httpx.AsyncClient, key: dict[str, Any]
) -> None:
    captured = prepare("GET", PATH, key, status="sent")
    query = captured.query
    for url in (
        f"{PATH}?{query.replace('status=sent', 'status=failed')}",
        f"{PATH}?{query}&channel=email",  # a parameter added
        f"{PATH}?{query}&status=failed",  # repeated: the server would read the last one
        f"{PATH}?{query.replace('&status=sent', '')}",  # a parameter removed
        f"{PATH}/1?{query}",  # another route
    ):
        assert_error(await captured.send(client, url=url), 401, "4010008")
    # The same parameters in another order and spelling mean the same: accepted.
    reordered = "&".join(reversed(query.split("&")))
    assert (await captured.send(client, url=f"{PATH}?{reordered}")).status_code == 200


async def test_nonce_must_be_present_and_well_formed(
    client: httpx.AsyncClient, key: dict[str, Any]
) -> None:
    now = int(time.time())
    access = key["access_key"]
    for query in (
        f"key={access}&timestamp={now}",  # none
        f"key={access}&nonce=short&timestamp={now}",  # under 16 characters
        f"key={access}&nonce={'n' * 65}&timestamp={now}",  # over 64
        f"key={access}&nonce=abcdefgh%2Fijklmnop&timestamp={now}",  # a '/'
        f"key={access}&nonce=abcdefghijklmnop&nonce=qrstuvwxyzabcdef&timestamp={now}",
    ):
        secret = v2_signature(key["secret_key"], "GET", PATH, query, b"")
        response = await client.get(
            f"{PATH}?{query}", headers={"X-Signature-Scheme": SCHEME, "secret": secret}
        )
        assert_error(response, 401, "4010007")


async def test_legacy_scheme_only_with_the_setting(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any]
) -> None:
    refused = await legacy_signed(client, "POST", PATH, key, json=NOTE)
    assert "X-Signature-Scheme" in assert_error(refused, 401, "4010020")["detail"]
    unknown = prepare("POST", PATH, key, json=NOTE)
    unknown.headers["X-Signature-Scheme"] = "NAPI-HMAC-SHA256-V1"
    assert_error(await unknown.send(client), 401, "4010020")
    assert await _notifications_of(service, key) == 0
    with reconfigured(service, legacy_signatures=True):
        assert (await legacy_signed(client, "POST", PATH, key, json=NOTE)).status_code == 202
        listed = await legacy_signed(client, "GET", PATH, key, per_page=5)
        assert listed.status_code == 200 and listed.json()["total"] == 1
        # V2 works beside it, replays of V2 requests still refused.
        captured = prepare("POST", PATH, key, json=NOTE)
        assert (await captured.send(client)).status_code == 202
        assert_error(await captured.send(client), 401, "4010021")
    assert_error(await legacy_signed(client, "GET", PATH, key), 401, "4010020")


async def test_expired_nonces_are_forgotten(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any]
) -> None:
    nonce = "expired-nonce-0123456789"
    past = int(time.time()) - 3600
    async with service.database.engine.begin() as connection:
        for spent, expires_at in ((nonce, past), ("another-expired-nonce-01", past)):
            await connection.execute(
                text(
                    "INSERT INTO request_nonces (api_key_id, nonce, expires_at)"
                    " VALUES (:key, :nonce, :expires)"
                ),
                {"key": key["id"], "nonce": spent, "expires": expires_at},
            )
    # The nonce was spent an hour ago: a new request with it is no replay.
    assert (await signed(client, "GET", PATH, key, nonce=nonce)).status_code == 200
    service.app.state.nonce_store._last_prune = 0.0  # the next request prunes every table row
    assert (await signed(client, "GET", PATH, key)).status_code == 200
    async with service.database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT nonce, expires_at FROM request_nonces WHERE api_key_id = :key"),
            {"key": key["id"]},
        )
        left = rows.all()
    assert len(left) == 2 and all(expires_at > past for _, expires_at in left), left


async def test_redis_nonces_expire_with_the_window(service: Service) -> None:
    prefix = f"napi-signing-test:{uuid.uuid4().hex[:8]}:"
    redis_store = RedisNonceStore(REDIS_URL, prefix=prefix)
    try:
        expires_at = int(time.time()) + service.settings.timestamp_window_seconds + 1
        assert await redis_store.remember(7, "n" * 20, expires_at)
        assert not await redis_store.remember(7, "n" * 20, expires_at)
        assert await redis_store.remember(8, "n" * 20, expires_at)
        async with Redis.from_url(REDIS_URL) as redis:
            ttl = await redis.ttl(redis_store.key(7, "n" * 20))
            assert 0 < ttl <= service.settings.timestamp_window_seconds + 1
            for name in (redis_store.key(7, "n" * 20), redis_store.key(8, "n" * 20)):
                await redis.delete(name)
    finally:
        await redis_store.aclose()


def test_redis_url_selects_the_redis_store() -> None:
    settings = Settings(api_env="test", jwt_secret="s" * 32, redis_url=REDIS_URL)
    assert isinstance(make_nonce_store(settings), RedisNonceStore)
