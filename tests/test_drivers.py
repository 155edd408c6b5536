"""What sqlrecord assumes of each server driver, counted on the wire.

The planner runs an own session's single statement in autocommit (``_begin.py``): on
PostgreSQL the connection switches for free, on MySQL/MariaDB switching costs round trips,
so the statement takes a pool of connections that stay in autocommit, and neither COMMIT
nor ROLLBACK is sent after it. These tests count the round trips through a loopback proxy
on every driver the suite runs (asyncpg and psycopg, aiomysql and asyncmy), so that a
driver for which the assumption fails shows here rather than in a benchmark.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event, insert, update
from sqlalchemy.orm import Session

from sqlrecord import Database

from .models import Note, User


class RoundTrips:
    """A TCP proxy in front of a server that counts round trips: each time the client
    speaks first or after the server has, one more."""

    def __init__(self, port: int) -> None:
        self.upstream_port = port
        self.count = 0
        self._last = ""

    async def serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(
            self._pump(client_in, server_out, "client"), self._pump(server_in, client_out, "server")
        )

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, side: str
    ) -> None:
        try:
            while data := await source.read(65536):
                if side == "client" and self._last != "client":
                    self.count += 1
                self._last = side
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()

    async def of(self, work: Awaitable[Any]) -> int:
        """The round trips ``work`` makes."""
        before = self.count
        await work
        await asyncio.sleep(0.05)  # the last answer has reached the client by now
        return self.count - before


@asynccontextmanager
async def through_proxy(
    db: Database, *, autocommit_pool: bool = True
) -> AsyncIterator[tuple[Database, RoundTrips]]:
    """A Database on ``db``'s server and driver through a counting proxy; one pooled
    connection, no idle ping (neither may add round trips of their own)."""
    default_port = 5432 if db.engine.dialect.name == "postgresql" else 3306
    trips = RoundTrips(db.url.port or default_port)
    server = await asyncio.start_server(trips.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxied = Database(
        db.url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False),
        default=False,
        pool_pre_ping=False,
        engine_options={"pool_size": 1, "max_overflow": 0},
        autocommit_pool=autocommit_pool,
    )
    try:
        yield proxied, trips
    finally:
        await proxied.dispose()
        server.close()
        await server.wait_closed()


async def test_an_own_single_statement_is_its_one_round_trip_on_every_driver(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with through_proxy(server_db) as (proxied, trips):
        async with proxied.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")  # opened and set up
            await connection.rollback()
            switched = await trips.of(connection.execution_options(isolation_level="AUTOCOMMIT"))
        monkeypatch.setattr(User, "__database__", proxied, raising=False)
        # Each statement once first: the pool and the drivers' statement caches warmed.
        # (Note: no values computed by the database, which MariaDB's UPDATE cannot return.)
        monkeypatch.setattr(Note, "__database__", proxied, raising=False)
        warm = await Note.create(text="first")
        await Note.get(warm.id)
        await warm.update(text="First")
        created = await trips.of(Note.create(text="second"))
        note = await Note.filter_by(text="second").one()
        read = await trips.of(Note.get(note.id))
        changed = await trips.of(note.update(text="Second"))
        assert proxied.checked_out() == 0
    # The write is its INSERT alone, the read its SELECT, the change its UPDATE.
    assert (created, read, changed) == (1, 1, 1)
    # Why MySQL/MariaDB keep a pool of their own: there, switching a pooled connection
    # costs a round trip (and as much again to switch it back).
    mysql = server_db.engine.dialect.name == "mysql"
    assert switched == (1 if mysql else 0)


async def test_without_its_autocommit_pool_mysql_ends_each_call_with_commit_or_rollback(
    mysql_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with through_proxy(mysql_db, autocommit_pool=False) as (proxied, trips):
        monkeypatch.setattr(Note, "__database__", proxied, raising=False)
        note = await Note.create(text="first")
        await Note.get(note.id)
        created = await trips.of(Note.create(text="second"))
        read = await trips.of(Note.get(note.id))
        # The one pooled connection has read: its snapshot must not outlive the call.
        async with mysql_db.engine.begin() as other:
            await other.execute(update(Note).where(Note.id == note.id).values(text="changed"))
        again = await Note.get(note.id)
        assert proxied.checked_out() == 0
    assert again is not None and again.text == "changed"
    # INSERT and COMMIT (the pool's ROLLBACK after it is not sent); SELECT and ROLLBACK.
    assert (created, read) == (2, 2)


async def test_a_transaction_ends_with_its_commit_alone(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with through_proxy(server_db) as (proxied, trips):
        monkeypatch.setattr(Note, "__database__", proxied, raising=False)

        async def two_notes(first: str, second: str) -> None:
            async with proxied.transaction(savepoints=False):
                await Note.create(text=first)
                await Note.create(text=second)

        await two_notes("a", "b")
        spent = await trips.of(two_notes("c", "d"))
        assert proxied.checked_out() == 0
        assert await Note.filter_by(text__in=["a", "b", "c", "d"]).count() == 4
    # Two INSERTs and the COMMIT: no ROLLBACK from the pool after it. (asyncpg and
    # psycopg send BEGIN too; the MySQL drivers begin with the first statement.)
    assert spent == (3 if server_db.engine.dialect.name == "mysql" else 4)


async def test_a_transaction_on_an_autocommit_connection_is_still_ended(
    mysql_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The autocommit pool skips COMMIT/ROLLBACK only when the server says no BEGIN is
    # open: a transaction begun on one of its connections is still rolled back.
    async with through_proxy(mysql_db) as (proxied, _trips):
        bind = proxied._autocommit_engine
        async with bind.connect() as connection:
            await connection.exec_driver_sql("BEGIN")
            await connection.execute(insert(User).values(email="begun@example.com"))
            await connection.rollback()
        monkeypatch.setattr(User, "__database__", proxied, raising=False)
        assert await User.filter_by(email="begun@example.com").count() == 0


async def test_the_engines_listeners_see_the_autocommit_pools_statements(
    mysql_db: Database,
) -> None:
    # A query log or a tracer listens on db.engine; the pool of autocommit connections
    # is another pool, but its statements go through that engine's listeners.
    seen: list[str] = []

    def log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split()[0])

    event.listen(mysql_db.engine.sync_engine, "before_cursor_execute", log)
    try:
        note = await Note.create(text="logged")
        await Note.get(note.id)
    finally:
        event.remove(mysql_db.engine.sync_engine, "before_cursor_execute", log)
    assert seen == ["INSERT", "SELECT"]
    assert mysql_db._autocommit_engine.pool is not mysql_db.engine.pool


async def test_a_connect_listener_on_the_engine_sets_up_the_autocommit_pools_connections(
    mysql_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Added after the Database was made, as an application would (a session setting).
    async with through_proxy(mysql_db) as (proxied, _trips):
        opened: list[object] = []
        event.listen(
            proxied.engine.sync_engine, "connect", lambda dbapi, _record: opened.append(dbapi)
        )
        monkeypatch.setattr(Note, "__database__", proxied, raising=False)
        await Note.count()  # one statement: the pool of autocommit connections
        main_pool_used = proxied.engine.pool.checkedin()  # type: ignore[attr-defined]
    assert len(opened) == 1 and main_pool_used == 0


async def test_a_query_write_by_key_is_its_one_round_trip_on_every_driver(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Query.update/delete in an own session: the statement alone, as a one-row write;
    # a session hook that may write keeps the transaction (BEGIN and COMMIT).
    def noop(*_args: Any) -> None:
        return None

    async with through_proxy(server_db) as (proxied, trips):
        monkeypatch.setattr(Note, "__database__", proxied, raising=False)
        kept_note = await Note.create(text="kept")
        await Note.create(text="gone")
        # Each statement once first: the pool and the drivers' statement caches warmed.
        await Note.filter_by(id=kept_note.id).update(text="kept")
        await Note.filter_by(text="nothing").delete()
        updated = await trips.of(Note.filter_by(id=kept_note.id).update(text="Kept"))
        deleted = await trips.of(Note.filter_by(text="gone").delete())
        event.listen(Session, "do_orm_execute", noop)
        try:
            kept = await trips.of(Note.filter_by(id=kept_note.id).update(text="KEPT"))
        finally:
            event.remove(Session, "do_orm_execute", noop)
        assert proxied.checked_out() == 0
        assert await Note.filter_by().values_list("text", flat=True) == ["KEPT"]
    assert (updated, deleted) == (1, 1)
    assert kept > updated


async def test_an_async_creator_opens_the_autocommit_pools_connections_too(
    mysql_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A creator of the caller's (a token fetched per connection, say) opens both pools'.
    url = mysql_db.url
    driver = importlib.import_module(url.get_driver_name())  # aiomysql or asyncmy
    database = {"db" if driver.__name__ == "aiomysql" else "database": url.database}
    opened: list[str] = []

    async def creator() -> Any:
        opened.append("opened")
        return await driver.connect(
            host=url.host, port=url.port or 3306, user=url.username, **database
        )

    made = Database(
        str(url.set(query={})), default=False, engine_options={"async_creator": creator}
    )
    try:
        monkeypatch.setattr(Note, "__database__", made, raising=False)
        note = await Note.create(text="through the creator")
        assert await Note.get(note.id) is not None
        assert made.checked_out() == 0
    finally:
        await made.dispose()
    assert opened == ["opened"]  # the one-statement calls' pool, through the creator
