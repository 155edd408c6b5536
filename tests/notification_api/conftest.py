"""Fixtures of the Notification API suite: one running service per database.

SQLite always; PostgreSQL and MariaDB when ``NOTIFICATION_API_TEST_POSTGRES_URL``
and ``NOTIFICATION_API_TEST_MYSQL_URL`` are set (``.ci/run`` sets them, and
with ``SQLRECORD_TEST_REQUIRE_ALL`` a missing or unreachable server fails the
run). Each database gets a clean schema from the Alembic migrations (down to
base, up to head), a real uvicorn server on a free loopback port, and shares
one SMTP server and one webhook receiver.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from notification_api import Settings, create_app
from notification_api.database import make_database
from notification_api.migrate import downgrade_to_base, upgrade_to_head
from sqlrecord import Database
from sqlrecord.fastapi import database_of

from . import faults
from .servers import Mailbox, Receiver, serve, start_smtp

URL_VARIABLES = {
    "postgresql": "NOTIFICATION_API_TEST_POSTGRES_URL",
    "mysql": "NOTIFICATION_API_TEST_MYSQL_URL",
}


def _backends() -> list[str]:
    wanted = {name: os.environ.get(variable) for name, variable in URL_VARIABLES.items()}
    if os.environ.get("SQLRECORD_TEST_REQUIRE_ALL"):
        missing = [URL_VARIABLES[name] for name, url in wanted.items() if not url]
        if missing:
            raise pytest.UsageError(f"SQLRECORD_TEST_REQUIRE_ALL is set but {missing} are not.")
    return ["sqlite", *(name for name, url in wanted.items() if url)]


BACKENDS = _backends()


#: Rate limits no test trips by accident (the defaults would: see settings.py).
TEST_RATE_LIMITS = {
    "rate_limit_login": "100000/minute",
    "rate_limit_register": "100000/minute",
    "rate_limit_signed": "100000/minute",
}


@dataclass
class Service:
    """A running Notification API and what the tests need to reach into it."""

    base_url: str
    app: FastAPI
    settings: Settings
    database: Database
    backend: str


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = start_smtp(box)
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    app = Receiver()
    async with serve(app, lifespan=False) as base_url:
        yield app, base_url


async def _reachable(backend: str, url: str) -> None:
    probe = Database(url, default=False)
    try:
        async with probe.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # an unreachable server fails the run, never skips
        pytest.fail(f"{backend} at {probe.url!r} is unreachable: {error}", pytrace=False)
    finally:
        await probe.dispose()


async def own_database(url: str, *, suffix: str) -> str:
    """``url`` with ``suffix`` added to its database name; that database is made afresh.

    For tests that need a database no other test writes to (the schema fuzz's
    rows, processes whose workers would take the suite's notifications).
    """
    server = make_url(url)
    name = f"{server.database}{suffix}"
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            if server.get_backend_name() == "postgresql":
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                await connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    finally:
        await engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


async def _clean_schema(settings: Settings) -> None:
    database = make_database(settings)
    try:
        async with database.engine.begin() as connection:
            # A run that died half-way may have left tables without a version row.
            await connection.run_sync(lambda sync: _drop_leftovers(sync))
        await upgrade_to_head(database)
        await downgrade_to_base(database)  # the downgrade is tested too
    finally:
        await database.dispose()


def _drop_leftovers(connection: Any) -> None:
    from notification_api.models import ServiceBase

    ServiceBase.metadata.drop_all(connection)
    connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


@pytest.fixture(scope="session", params=BACKENDS)
async def service(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mailbox: Mailbox,
) -> AsyncIterator[Service]:
    """The API on one database, migrated from scratch, served by uvicorn on loopback."""
    backend: str = request.param
    if backend == "sqlite":
        path = Path(tmp_path_factory.mktemp("napi")) / "notification_api.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = os.environ[URL_VARIABLES[backend]]
        await _reachable(backend, url)
    settings = Settings(
        api_env="test",
        db_url=url,
        jwt_secret=secrets.token_urlsafe(32),
        smtp_port=mailbox.port,
        worker_poll_seconds=0.2,
        retry_backoff_seconds=0.05,
        max_attempts=3,
        webhook_timeout_seconds=2,
        # The suite's webhook receiver listens on 127.0.0.1; nothing else on
        # loopback (127.0.0.2 is what the SSRF tests must never reach).
        webhook_allowed_networks=["127.0.0.1/32"],
        worker_concurrency=8,
        worker_tenant_concurrency=3,
        # The whole suite signs up and logs in from 127.0.0.1, hundreds of times a
        # minute: the limits' defaults would answer 429. test_auth_hardening swaps
        # in small limits where it tests them.
        **TEST_RATE_LIMITS,
    )
    await _clean_schema(settings)
    app = create_app(settings)  # its lifespan applies the migrations again (up to head)
    app.include_router(faults.router)
    async with serve(app) as base_url:
        yield Service(base_url, app, settings, database_of(app), backend)


@pytest.fixture
async def paused_worker(service: Service) -> AsyncIterator[None]:
    """The service's own delivery worker (and so its retention sweep) is stopped during
    the test: the test's workers, if any, are the only ones."""
    await service.app.state.worker.stop()
    try:
        yield
    finally:
        service.app.state.worker.start()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running service; afterwards, no connection may stay checked out."""
    # The test's own model calls (reading what the service wrote) use its database.
    with service.database.as_default():
        async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
            yield http
    await _assert_pool_settles(service.database)


async def _assert_pool_settles(database: Database) -> None:
    # The worker borrows a connection for a few milliseconds at a time; a
    # leaked session would hold one for good.
    for _ in range(100):
        if database.checked_out() == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{database.checked_out()} connection(s) left checked out")


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 15.0, interval: float = 0.1
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s (last: {result!r})")
        await asyncio.sleep(interval)


@contextmanager
def reconfigured(service: Service, **changes: Any) -> Iterator[Settings]:
    """The running service with ``changes`` to its settings (read per request) for a block.

    ``model_copy`` does not validate: pass values in their parsed form (networks, SecretStr).
    """
    original = service.app.state.settings
    service.app.state.settings = original.model_copy(update=changes)
    try:
        yield service.app.state.settings
    finally:
        service.app.state.settings = original
