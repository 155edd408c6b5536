"""What sqlrecord assumes of each server driver, counted on the wire.

The planner runs an own session's single statement in autocommit where switching a
connection to autocommit is free (``_begin.autocommit_is_free``: on PostgreSQL, not
on MySQL/MariaDB), deciding by the database, not the driver. These tests count the
round trips through a loopback proxy on every driver the suite runs (asyncpg and
psycopg, aiomysql and asyncmy), so that a driver for which the assumption fails shows
here rather than in a benchmark.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sqlrecord import Database
from sqlrecord._begin import autocommit_is_free

from .models import User


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
async def through_proxy(db: Database) -> AsyncIterator[tuple[Database, RoundTrips]]:
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
    )
    try:
        yield proxied, trips
    finally:
        await proxied.dispose()
        server.close()
        await server.wait_closed()


async def test_autocommit_is_free_exactly_where_the_planner_takes_it(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with through_proxy(server_db) as (proxied, trips):
        async with proxied.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")  # opened and set up
            await connection.rollback()
            switched = await trips.of(connection.execution_options(isolation_level="AUTOCOMMIT"))
        monkeypatch.setattr(User, "__database__", proxied, raising=False)
        await User.create(email="first@example.com")  # the driver's statement cache warmed
        created = await trips.of(User.create(email="second@example.com"))
    if autocommit_is_free(server_db.engine):
        # asyncpg and psycopg keep the mode on the client: the write is its INSERT alone.
        assert (switched, created) == (0, 1)
    else:
        # aiomysql and asyncmy tell the server, and again to switch back: dearer than the
        # COMMIT the planner keeps instead (NO_FREE_AUTOCOMMIT).
        assert switched == 1
