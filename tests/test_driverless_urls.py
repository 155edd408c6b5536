"""A URL that names no driver (``postgresql://``, ``mysql://``, as a hosting platform's
``DATABASE_URL`` gives it) gets the asyncio driver docs/drivers.md recommends."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import String
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqlrecord import CRUDMixin, Database
from sqlrecord import _urls as urls
from sqlrecord.exceptions import ConfigurationError

from .conftest import BACKENDS, SERVER_URL_ENVS


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///app.db", "sqlite+aiosqlite:///app.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://app:pw@db:5432/app", "postgresql+asyncpg://app:pw@db:5432/app"),
        ("postgres://app:pw@db/app?ssl=require", "postgresql+asyncpg://app:pw@db/app?ssl=require"),
        ("mysql://app@db/app", "mysql+asyncmy://app@db/app?charset=utf8mb4"),
        ("mariadb://app@db/app", "mariadb+asyncmy://app@db/app?charset=utf8mb4"),
        # A URL that names its driver keeps it.
        ("mysql+aiomysql://app@db/app", "mysql+aiomysql://app@db/app?charset=utf8mb4"),
        ("postgresql+psycopg://app@db/app", "postgresql+psycopg://app@db/app"),
    ],
)
async def test_a_url_without_a_driver_gets_the_recommended_one(given: str, expected: str) -> None:
    database = Database(given, default=False)
    try:
        assert database.url.render_as_string(hide_password=False) == expected
    finally:
        await database.dispose()


def test_the_next_installed_driver_is_taken_when_the_first_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed = urls.find_spec
    monkeypatch.setattr(
        urls, "find_spec", lambda name: None if name in ("asyncmy", "asyncpg") else installed(name)
    )
    assert urls.with_async_driver("mysql://app@db/app").drivername == "mysql+aiomysql"
    assert urls.with_async_driver("postgres://app@db/app").drivername == "postgresql+psycopg"


def test_no_installed_driver_is_a_configuration_error_naming_the_extras(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(urls, "find_spec", lambda name: None)
    with pytest.raises(ConfigurationError) as raised:
        Database("mysql://app:secret@db/app", default=False)
    message = str(raised.value)
    assert "sqlrecord[asyncmy] or sqlrecord[mysql]" in message
    assert "mysql+asyncmy://" in message and "mysql+aiomysql://" in message
    assert "secret" not in message  # the password is not repeated


async def test_a_replica_url_without_a_driver_takes_its_primarys() -> None:
    database = Database(
        "postgresql+psycopg://app@primary/app",
        default=False,
        replicas=["postgresql://app@replica/app", "postgres://app@replica2/app"],
    )
    try:
        replica_set = database._replica_set
        assert replica_set is not None
        drivers = {replica.engine.url.drivername for replica in replica_set.replicas}
        assert drivers == {"postgresql+psycopg"}
    finally:
        await database.dispose()


#: Each server whose suite runs, through the driver its extra installs (the URL the
#: suite's asyncpg or aiomysql backend uses, with the driver taken out).
SERVERS = [backend for backend in ("postgresql", "mysql") if backend in BACKENDS]
EXPECTED_DRIVER = {"postgresql": "asyncpg", "mysql": "asyncmy"}


@pytest.fixture(params=SERVERS)
async def driverless(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Database, str]]:
    url = make_url(os.environ[SERVER_URL_ENVS[request.param]])
    database = Database(
        url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False),
        default=False,
    )
    try:
        yield database, request.param
    finally:
        await database.dispose()


async def test_a_driverless_url_reaches_the_server_through_the_recommended_driver(
    driverless: tuple[Database, str],
) -> None:
    database, backend = driverless

    class Base(DeclarativeBase):
        pass

    class Visit(CRUDMixin, Base):
        __tablename__ = "driverless_visit"
        __database__ = database
        id: Mapped[int] = mapped_column(primary_key=True)
        page: Mapped[str] = mapped_column(String(50))

    assert database.engine.dialect.driver == EXPECTED_DRIVER[backend]
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    try:
        created = await Visit.create(page="/home")
        found = await Visit.get(created.id)
        assert found is not None and found.page == "/home"
        assert await Visit.filter_by(page="/home").count() == 1
    finally:
        async with database.engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
    assert database.checked_out() == 0
