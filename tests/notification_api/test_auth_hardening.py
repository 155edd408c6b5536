"""Issue 16, finding 8 (part): rate limits, a strong ``JWT_SECRET``, no SQL parameters logged.

Rate limits are tested over real HTTP against the running service, with its
limiter swapped for one with small limits, in memory and in Redis (when
``NOTIFICATION_API_TEST_REDIS_URL`` is set: a database number and a key prefix
of the suite's own; only the prefix's keys are deleted afterwards). They do
not depend on the database, so they run on SQLite only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio
from cryptography.fernet import Fernet
from pydantic import ValidationError
from sqlalchemy import text

from notification_api import Settings
from notification_api.database import make_database
from notification_api.errors import TooManyRequestsError
from notification_api.ratelimit import RateLimits

from .api import assert_error, create_key, register, signed, unique_email
from .conftest import Service, reconfigured
from .servers import free_port

pytestmark = pytest.mark.e2e

REDIS_URL = os.environ.get("NOTIFICATION_API_TEST_REDIS_URL")
PASSWORD = "pw-123456"
LOGIN = "/api/auth/login/email"
REGISTER = "/api/auth/register/email"
NOTIFICATIONS = "/api/services/notifications"


def _storages() -> list[Any]:
    if REDIS_URL is None and os.environ.get("SQLRECORD_TEST_REQUIRE_ALL"):
        raise pytest.UsageError("SQLRECORD_TEST_REQUIRE_ALL is set but not REDIS_URL.")
    skip = pytest.mark.skip(reason="NOTIFICATION_API_TEST_REDIS_URL is not set")
    return ["memory", pytest.param("redis", marks=[skip] if REDIS_URL is None else [])]


def limit_settings(storage: str, prefix: str, **limits: str) -> Settings:
    return Settings(
        api_env="test",
        jwt_secret="s" * 32,
        redis_url=REDIS_URL if storage == "redis" else None,
        rate_limit_key_prefix=prefix,
        **limits,
    )


async def _forget(prefix: str) -> None:
    """Delete the suite's own Redis keys (never anything else)."""
    assert REDIS_URL is not None
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
    finally:
        await client.aclose()


class Swap:
    """Replace the running service's limiter with one made from ``limits``."""

    def __init__(self, service: Service, storage: str) -> None:
        self.service = service
        self.storage = storage
        self.prefix = f"napi-auth-test-{uuid.uuid4().hex[:10]}"
        self.installed: list[RateLimits] = []

    def __call__(self, **limits: str) -> RateLimits:
        rate_limits = RateLimits(limit_settings(self.storage, self.prefix, **limits))
        self.installed.append(rate_limits)
        self.service.app.state.rate_limits = rate_limits
        return rate_limits

    async def redis_keys(self) -> list[bytes]:
        assert REDIS_URL is not None
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            return [key async for key in client.scan_iter(match=f"{self.prefix}*")]
        finally:
            await client.aclose()


@pytest.fixture(params=_storages())
async def swap(request: pytest.FixtureRequest, service: Service) -> AsyncIterator[Swap]:
    original = service.app.state.rate_limits
    swapper = Swap(service, request.param)
    try:
        yield swapper
    finally:
        service.app.state.rate_limits = original
        for rate_limits in swapper.installed:
            await rate_limits.aclose()
        if request.param == "redis":
            await _forget(swapper.prefix)


def assert_limited(response: httpx.Response, *, at_most: int) -> int:
    """A 429 in the service's error format; returns its Retry-After."""
    assert_error(response, 429, "4290001")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= at_most, retry_after
    return retry_after


async def login(http: httpx.AsyncClient, email: str, pw: str = PASSWORD) -> httpx.Response:
    return await http.post(LOGIN, json={"email": email, "pw": pw})


# -- rate limits -----------------------------------------------------------------


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
async def test_login_and_register_are_limited_per_address(
    client: httpx.AsyncClient, service: Service, swap: Swap
) -> None:
    email = unique_email("limited")
    auth = await register(client, email)  # before the swap: not counted
    swap(rate_limit_login="3/minute", rate_limit_register="2/minute")

    # A password guesser: three tries, then 429 even with the right password.
    for guess in ("guess-1", "guess-2", "guess-3"):
        assert_error(await login(client, email, guess), 401, "4010014")
    assert_limited(await login(client, email), at_most=60)
    assert_limited(await login(client, email, "guess-4"), at_most=60)
    # Only log-in is limited: the token still works, registration counts apart.
    assert (await client.get("/api/users/me", headers=auth)).status_code == 200
    for _ in range(2):
        await register(client)
    flood = await client.post(REGISTER, json={"email": unique_email(), "pw": PASSWORD})
    assert_limited(flood, at_most=60)

    # Per address: another loopback address is not limited by the first one's count.
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=service.base_url, transport=other) as elsewhere:
        assert (await login(elsewhere, email)).status_code == 200
        assert (await register(elsewhere))["Authorization"]

    if swap.storage == "redis":  # the counts are in Redis, under the configured prefix
        assert await swap.redis_keys()


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
async def test_signed_calls_are_limited_per_access_key(
    client: httpx.AsyncClient, swap: Swap
) -> None:
    auth = await register(client)
    first, second = await create_key(client, auth), await create_key(client, auth)
    swap(rate_limit_signed="3/minute")

    for _ in range(3):
        assert (await signed(client, "GET", NOTIFICATIONS, first)).status_code == 200
    assert_limited(await signed(client, "GET", NOTIFICATIONS, first), at_most=60)
    note = {"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "x"}
    assert_limited(await signed(client, "POST", NOTIFICATIONS, first, json=note), at_most=60)
    # Another key of the same account has its own quota.
    assert (await signed(client, "GET", NOTIFICATIONS, second)).status_code == 200
    # Counted after the signature: a stranger with the access key only gets 401s
    # and spends nothing of the owner's quota.
    swap(rate_limit_signed="1/minute")
    for _ in range(3):
        forged = await signed(client, "GET", NOTIFICATIONS, second, secret="AAAA")
        assert_error(forged, 401, "4010008")
    assert (await signed(client, "GET", NOTIFICATIONS, second)).status_code == 200


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
async def test_behind_a_trusted_proxy_each_client_counts_apart(
    client: httpx.AsyncClient, service: Service, swap: Swap
) -> None:
    """With TRUSTED_PROXIES, the limit counts the forwarded client, not the proxy: one
    guesser behind the proxy does not lock every other client out; a forged header from an
    untrusted peer changes nothing."""
    email = unique_email("proxied")
    await register(client, email)
    swap(rate_limit_login="2/minute")

    async def login_as(forwarded: str) -> httpx.Response:
        headers = {"X-Forwarded-For": forwarded}
        return await client.post(LOGIN, json={"email": email, "pw": "wrong"}, headers=headers)

    loopback = [ipaddress.ip_network("127.0.0.0/8")]
    with reconfigured(service, trusted_proxies=loopback):
        for _ in range(2):
            assert_error(await login_as("198.51.100.1"), 401, "4010014")
        assert_limited(await login_as("198.51.100.1"), at_most=60)
        assert_error(await login_as("198.51.100.2"), 401, "4010014")  # another client
    # Not trusted (the default): the header is ignored, the peer has its own count.
    for _ in range(2):
        assert_error(await login_as("198.51.100.3"), 401, "4010014")
    assert_limited(await login_as("198.51.100.4"), at_most=60)


async def _until_limited(send: Any, attempts: int = 10) -> int:
    """Send until a 429 comes (bounded); its Retry-After."""
    for _ in range(attempts):
        response = await send()
        if response.status_code == 429:
            return assert_limited(response, at_most=3)
        assert response.status_code in (200, 401), response.text
    raise AssertionError(f"no 429 in {attempts} requests")


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
async def test_the_window_moves_on(client: httpx.AsyncClient, swap: Swap) -> None:
    email = unique_email("patient")
    await register(client, email)
    key = await create_key(client, await register(client))
    swap(rate_limit_login="2 per 3 seconds", rate_limit_signed="2 per 3 seconds")

    # Cheap requests (a log-in without password is refused before any hashing,
    # but counted), so that a busy machine still sends them within the window.
    waits = [
        await _until_limited(lambda: login(client, email, "wrong-pw")),
        await _until_limited(lambda: signed(client, "GET", NOTIFICATIONS, key)),
    ]
    await asyncio.sleep(max(waits) + 0.05)  # Retry-After is rounded up: then it is free
    assert (await login(client, email)).status_code == 200
    assert (await signed(client, "GET", NOTIFICATIONS, key)).status_code == 200


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
async def test_unreachable_redis_answers_503_not_500(
    client: httpx.AsyncClient, service: Service
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/1"  # nothing listens there
    original = service.app.state.rate_limits
    broken = RateLimits(Settings(api_env="test", jwt_secret="s" * 32, redis_url=closed))
    service.app.state.rate_limits = broken
    try:
        response = await login(client, unique_email())
    finally:
        service.app.state.rate_limits = original
        await broken.aclose()
    assert_error(response, 503, "5030003")
    assert response.headers["Retry-After"] == "1"


@pytest.mark.skipif(REDIS_URL is None, reason="NOTIFICATION_API_TEST_REDIS_URL is not set")
async def test_redis_counts_are_shared_between_processes() -> None:
    """Two limiters on one Redis prefix (two processes of the service) count together."""
    prefix = f"napi-auth-test-{uuid.uuid4().hex[:10]}"
    settings = limit_settings("redis", prefix, rate_limit_login="3/minute")
    first, second = RateLimits(settings), RateLimits(settings)
    try:
        await first.hit("login", "192.0.2.1")
        await second.hit("login", "192.0.2.1")
        await first.hit("login", "192.0.2.1")
        with pytest.raises(TooManyRequestsError):
            await second.hit("login", "192.0.2.1")
        await second.hit("login", "192.0.2.2")  # per address
    finally:
        await first.aclose()
        await second.aclose()
        await _forget(prefix)


def test_rate_limit_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="rate_limit_login"):
        Settings(api_env="test", jwt_secret="s" * 32, rate_limit_login="ten a minute")
    with pytest.raises(ValidationError, match="REDIS_URL must start with redis://"):
        Settings(api_env="test", jwt_secret="s" * 32, redis_url="http://127.0.0.1:6379")
    defaults = Settings(api_env="test", jwt_secret="s" * 32)
    assert (defaults.rate_limit_enabled, defaults.redis_url) == (True, None)


# -- JWT_SECRET ----------------------------------------------------------------


# Production also requires the key that encrypts API secrets at rest.
AT_REST = {"secret_keys_encryption_keys": Fernet.generate_key().decode()}


@pytest.mark.parametrize(("algorithm", "minimum"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_prod_requires_a_strong_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, algorithm: str, minimum: int
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    for weak in ("tiny!", "k" * (minimum - 1)):
        with pytest.raises(ValidationError, match="JWT_SECRET is too short") as refused:
            Settings(api_env="prod", jwt_secret=weak, jwt_algorithm=algorithm, **AT_REST)
        message = str(refused.value)
        assert f"at least {minimum}" in message and "secrets.token_urlsafe" in message
        assert weak not in message.replace("JWT_SECRET", "")  # the value is never echoed
    strong = Settings(api_env="prod", jwt_secret="k" * minimum, jwt_algorithm=algorithm, **AT_REST)
    assert len(strong.jwt_key) == minimum
    # Outside production a short secret is allowed (with a warning).
    assert Settings(api_env="test", jwt_secret="x", jwt_algorithm=algorithm).jwt_key == "x"


def test_weak_jwt_secret_stops_the_start_with_a_clear_message() -> None:
    secret = "hunter2-secret"
    env = {**os.environ, "API_ENV": "prod", "JWT_SECRET": secret, "DB_URL": "sqlite+aiosqlite://"}
    env["SECRET_KEYS_ENCRYPTION_KEYS"] = AT_REST["secret_keys_encryption_keys"]
    done = subprocess.run(
        [sys.executable, "-m", "notification_api", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "JWT_SECRET is too short" in done.stderr
    assert "secrets.token_urlsafe(32)" in done.stderr
    assert "Traceback" not in done.stderr and secret not in done.stderr + done.stdout


# -- DB_ECHO ---------------------------------------------------------------------


async def test_db_echo_logs_no_parameters(
    client: httpx.AsyncClient, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """With DB_ECHO on, register and create a key: no hash, no secret in any record.

    Captured at INFO, the level DB_ECHO logs at (aiosqlite's own DEBUG records
    show parameters whatever the engine does; no one runs it at DEBUG).
    """
    echoing = make_database(service.settings.model_copy(update={"db_echo": True}))
    try:
        assert echoing.engine.echo and echoing.engine.sync_engine.hide_parameters
    finally:
        await echoing.dispose()
    # The running service, echoing as DB_ECHO=true makes it.
    engine = service.database.engine
    email = unique_email("echo")
    engine.echo = True
    try:
        with caplog.at_level(logging.INFO):
            auth = await register(client, email)
            key = await create_key(client, auth)
            await client.get("/api/users/me", headers=auth)
    finally:
        engine.echo = False
    async with engine.connect() as connection:
        query = text("SELECT pw, token_key FROM users WHERE email = :e")
        stored_hash, token_key = (await connection.execute(query, {"e": email})).one()
    statements = [record for record in caplog.records if record.name.startswith("sqlalchemy")]
    assert any("INSERT INTO api_keys" in record.getMessage() for record in statements)
    for record in caplog.records:
        line = f"{record.getMessage()} {record.args!r}"
        for secret in (stored_hash, token_key, key["secret_key"], PASSWORD):
            assert secret not in line, (record.name, line[:300])
