"""A pooled connection for one statement the driver sends itself (``_internals.direct``):
checked out and back as a ``Connection`` would (switched to autocommit and back), the
statement sent by the driver, and every error raised as a ``Connection`` raises it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection

from .aiosqlite import alone_in_autocommit, one_hop_statement
from .greenlets import call_sync_api
from .sqlalchemy_connection import (
    adapted_driver_error,
    asyncpg_execute,
    invalidate_pool,
)

__all__ = ["checkin", "checkout", "give_back", "in_autocommit", "send", "wrapped_before"]


def checkout(engine: Engine, autocommit: bool) -> PoolProxiedConnection:
    """A connection of ``engine``'s pool, switched to autocommit if ``autocommit``, as a
    ``Connection`` with that option switches it (and switches it back on its return).

    Example:
        >>> from sqlalchemy import create_engine
        >>> from sqlalchemy.pool import QueuePool
        >>> engine = create_engine("sqlite://", poolclass=QueuePool)
        >>> connection = checkout(engine, False)
        >>> engine.pool.checkedout()
        1
        >>> checkin(engine, connection, False); engine.pool.checkedout()
        0
    """
    try:
        connection = engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:
        raise _connect_error(engine, error) from error
    if autocommit:
        try:
            engine.dialect.set_isolation_level(connection.dbapi_connection, "AUTOCOMMIT")  # type: ignore[arg-type]
        except BaseException:
            connection.invalidate()
            raise
    return connection


def _connect_error(engine: Engine, error: Exception) -> sa_exc.DBAPIError:
    """The error a ``Connection`` raises when the pool could not connect: the driver's
    ``error`` wrapped in SQLAlchemy's class for it (``Connection.__init__`` does it with
    its private ``_handle_dbapi_exception_noconnection``; the dialect's ``handle_error``
    listeners, which it would also call, keep statements off this route)."""
    dialect = engine.dialect
    wrapped = sa_exc.DBAPIError.instance(
        None,
        None,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=engine.hide_parameters,
        connection_invalidated=bool(dialect.is_disconnect(error, None, None)),  # type: ignore[arg-type]
        dialect=dialect,
    )
    assert isinstance(wrapped, sa_exc.DBAPIError)
    return wrapped


def checkin(engine: Engine, connection: PoolProxiedConnection, autocommit: bool) -> None:
    """Return ``connection`` to the pool, its isolation level reset first if
    :func:`checkout` switched it.

    Example:
        >>> from sqlalchemy import create_engine
        >>> from sqlalchemy.pool import QueuePool
        >>> engine = create_engine("sqlite://", poolclass=QueuePool)
        >>> checkin(engine, checkout(engine, True), True)  # SQLite's AUTOCOMMIT, and back
        >>> engine.pool.checkedout()
        0
    """
    try:
        if autocommit:
            engine.dialect.reset_isolation_level(connection.dbapi_connection)  # type: ignore[arg-type]
    finally:
        connection.close()


def in_autocommit(connection: PoolProxiedConnection, backend: str) -> bool:
    """Whether ``connection`` is in autocommit: asyncpg's adapter keeps the mode; MySQL's
    drivers know it from the server's last answer; SQLite's connection, from sqlite3.

    Example:
        >>> class Driver:  # as aiomysql's and asyncmy's connections
        ...     def get_autocommit(self): return True
        >>> class Pooled:
        ...     dbapi_connection, driver_connection = object(), Driver()
        >>> in_autocommit(Pooled(), "mysql")
        True
    """
    adapter: Any = connection.dbapi_connection
    if backend == "postgresql":
        return adapter is not None and bool(adapter.autocommit)
    if backend == "sqlite":
        return adapter is not None and alone_in_autocommit(adapter)
    driver = connection.driver_connection
    return driver is not None and bool(driver.get_autocommit())


async def send(
    bind: AsyncEngine, connection: PoolProxiedConnection, sql: str, sent: Any
) -> tuple[int, Any, Any, list[Any]]:
    """Execute ``sql`` with ``sent`` on ``connection``'s driver: its row count, last row
    id, description and rows. An error is raised as a ``Connection`` raises it, a MySQL
    cursor closed as a ``Connection`` closes it (not on a lost connection).
    ``tests/test_direct.py`` runs it on each driver against the ``Connection``."""
    cursor = None
    try:
        if bind.dialect.name == "postgresql":
            adapter, dialect = connection.dbapi_connection, bind.dialect
            rowcount, description, rows = await asyncpg_execute(adapter, dialect, sql, sent)
            return rowcount, None, description, rows
        if bind.dialect.name == "sqlite":
            outcome = await one_hop_statement(connection.dbapi_connection, sql, sent)
            description, rows, rowcount, lastrowid = outcome
            return rowcount, lastrowid, description, rows
        driver: Any = connection.driver_connection
        cursor = await driver.cursor().__aenter__()
        await cursor.execute(sql, sent)
        description = cursor.description
        rows = list(await cursor.fetchall()) if description is not None else []
        rowcount, lastrowid = cursor.rowcount, cursor.lastrowid
        await cursor.close()
    except Exception as raised:
        error = adapted_driver_error(connection.dbapi_connection, raised)
        wrapped = _wrapped(bind, connection, error, sql, sent)
        if cursor is not None and not (wrapped and wrapped.connection_invalidated):
            with contextlib.suppress(Exception):
                await cursor.close()
        if wrapped is None:
            raise error from error.__cause__  # as the driver raised it
        raise wrapped from error
    return rowcount, lastrowid, description, rows


def wrapped_before(
    bind: AsyncEngine, sql: str, parameters: dict[str, Any], error: Exception
) -> BaseException:
    """The error a ``Connection`` raises for ``error`` raised while it prepared the
    statement's parameters (a default, a type's bind processing): a ``StatementError``
    naming the statement and the parameters as given (none for an empty row, which a
    ``Connection`` takes as no parameters at all).

    Example:
        >>> print(wrapped_before(db._autocommit_engine, "INSERT ...", {"n": 1},
        ...                      ValueError("not a number")))  # doctest: +ELLIPSIS
        (builtins.ValueError) not a number
        [SQL: INSERT ...]
        [parameters: [{'n': 1}]]
        >>> print(wrapped_before(db._autocommit_engine, "INSERT ...", {},
        ...                      ValueError("no value")))  # doctest: +ELLIPSIS
        (builtins.ValueError) no value
        [SQL: INSERT ...]
    """
    dialect = bind.dialect
    wrapped: BaseException = sa_exc.DBAPIError.instance(
        sql,
        [parameters] if parameters else [],
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=bind.sync_engine.hide_parameters,
        dialect=dialect,
    )
    return wrapped


def _wrapped(
    bind: AsyncEngine,
    connection: PoolProxiedConnection,
    error: Exception,
    sql: str,
    sent: Any,
) -> sa_exc.DBAPIError | None:
    """The error a ``Connection`` raises for the DBAPI error ``error``: SQLAlchemy's class
    for it, naming the statement and its parameters, and whether the connection was
    lost; ``None`` for any other error, which a ``Connection`` passes on as it is."""
    dialect = bind.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    if not isinstance(error, dbapi_error):
        return None
    lost = bool(dialect.is_disconnect(error, connection.dbapi_connection, None))
    wrapped = sa_exc.DBAPIError.instance(
        sql,
        sent,
        error,
        dbapi_error,
        hide_parameters=bind.sync_engine.hide_parameters,
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=False,
    )
    assert isinstance(wrapped, sa_exc.DBAPIError)
    return wrapped


async def give_back(
    bind: AsyncEngine, connection: PoolProxiedConnection, error: BaseException, switched: bool
) -> None:
    """Return ``connection`` after ``error``: invalidated, as a ``Connection`` does, where
    it was lost (and the pool's older connections with it) or the call was interrupted
    mid-statement (it may still be busy); else to the pool (``switched``: its isolation
    level reset first). ``tests/test_direct.py`` loses and cancels connections on each
    driver."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        with contextlib.suppress(Exception):
            await asyncio.shield(
                call_sync_api(invalidate_pool, bind.sync_engine.pool, connection, error.orig)
            )
    elif not isinstance(error, Exception):
        with contextlib.suppress(Exception):
            await asyncio.shield(call_sync_api(connection.invalidate, error))
    else:
        with contextlib.suppress(Exception):
            await call_sync_api(checkin, bind.sync_engine, connection, switched)
