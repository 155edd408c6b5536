"""A thin common face over aiosqlite, asyncpg and aiomysql for the raw-driver contestant.

SQL is written once with ``?`` placeholders and double-quoted identifiers; each driver
rewrites that to its own paramstyle and quoting. Connections run in autocommit; a
transaction is an explicit BEGIN … COMMIT.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ..targets import POOL_SIZE, Target

__all__ = ["Driver", "open_driver"]


class Driver:
    """One pool of connections; subclasses implement the five primitives."""

    name = ""

    def sql(self, statement: str) -> str:
        """The statement in this driver's paramstyle and quoting."""
        return statement

    def acquire(self) -> Any:
        """An async context manager giving one connection."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the pool."""
        raise NotImplementedError

    async def execute(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> None:
        """Run one statement."""
        raise NotImplementedError

    async def executemany(self, connection: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""
        raise NotImplementedError

    async def fetch(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query, as the driver's own tuples or records."""
        raise NotImplementedError

    def stream(self, connection: Any, sql: str, args: Sequence[Any], batch: int) -> Any:
        """An async iterator over a query's rows, ``batch`` at a time from the server."""
        raise NotImplementedError

    def value(self, value: Any) -> Any:
        """A Python value as this driver binds it."""
        return value


class _Sqlite(Driver):
    name = "aiosqlite"

    async def open(self, target: Target) -> None:
        import aiosqlite

        self.connections: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(POOL_SIZE):
            connection = await aiosqlite.connect(target.sqlite_path, isolation_level=None)
            await self.connections.put(connection)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        connection = await self.connections.get()
        try:
            yield connection
        finally:
            self.connections.put_nowait(connection)

    async def close(self) -> None:
        while not self.connections.empty():
            await self.connections.get_nowait().close()

    def value(self, value: Any) -> Any:
        # The sqlite3 module's datetime adapter is deprecated: bind text, as SQLAlchemy does.
        return value.isoformat(" ") if isinstance(value, dt.datetime) else value

    async def execute(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> None:
        await (await connection.execute(sql, args)).close()

    async def executemany(self, connection: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        await connection.executemany(sql, rows)

    async def fetch(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        async with connection.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    async def stream(
        self, connection: Any, sql: str, args: Sequence[Any], batch: int
    ) -> AsyncIterator[Any]:
        async with connection.execute(sql, args) as cursor:
            while rows := await cursor.fetchmany(batch):
                for row in rows:
                    yield row


class _Postgres(Driver):
    name = "asyncpg"

    async def open(self, target: Target) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(
            host=target.host,
            port=target.port,
            user=target.user,
            database=target.database,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
        )

    def sql(self, statement: str) -> str:
        counter = iter(range(1, 10_000_000))
        return re.sub(r"\?", lambda _match: f"${next(counter)}", statement)

    def acquire(self) -> Any:
        return self.pool.acquire()

    async def close(self) -> None:
        await self.pool.close()

    async def execute(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> None:
        await connection.execute(sql, *args)

    async def executemany(self, connection: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        await connection.executemany(sql, rows)

    async def fetch(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return list(await connection.fetch(sql, *args))

    async def stream(
        self, connection: Any, sql: str, args: Sequence[Any], batch: int
    ) -> AsyncIterator[Any]:
        async with connection.transaction():  # asyncpg cursors live in a transaction
            async for row in connection.cursor(sql, *args, prefetch=batch):
                yield row


class _Mysql(Driver):
    name = "aiomysql"

    async def open(self, target: Target) -> None:
        import aiomysql

        self.module = aiomysql
        self.pool = await aiomysql.create_pool(
            host=target.host,
            port=target.port,
            user=target.user,
            db=target.database,
            minsize=POOL_SIZE,
            maxsize=POOL_SIZE,
            autocommit=True,
            charset="utf8mb4",
        )

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s").replace('"', "`")

    def acquire(self) -> Any:
        return self.pool.acquire()

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()

    async def execute(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> None:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, args)

    async def executemany(self, connection: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        async with connection.cursor() as cursor:
            await cursor.executemany(sql, rows)

    async def fetch(self, connection: Any, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, args)
            return list(await cursor.fetchall())

    async def stream(
        self, connection: Any, sql: str, args: Sequence[Any], batch: int
    ) -> AsyncIterator[Any]:
        async with connection.cursor(self.module.SSCursor) as cursor:
            await cursor.execute(sql, args)
            while rows := await cursor.fetchmany(batch):
                for row in rows:
                    yield row


async def open_driver(target: Target) -> Driver:
    """A pool of ``POOL_SIZE`` connections for ``target``."""
    driver: Any = {"sqlite": _Sqlite, "postgres": _Postgres, "mysql": _Mysql}[target.name]()
    await driver.open(target)
    return driver
