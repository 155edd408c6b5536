"""One write sent by the driver on the connection a session holds, inside the transaction
running on it: a served session's INSERT of an object's row (``_row_insert.insert_row``).

A ``Connection``'s execution costs more than the statement's round trip in a unit of work
that inserts row after row (on PostgreSQL about 80 µs of CPU per row of the ~140 µs the
``Connection`` takes on a two-core machine). In the middle of a transaction, what it adds to
the statement is visible only to the listeners of a statement, a log of statements, and
execution options; the transaction's own events (begin, commit, SAVEPOINTs) happen as
before, around it. Where none of those is there (:func:`why_held_watched`), and the
driver's connection is in the transaction already (a first statement would begin it: that
one goes through the ``Connection``), the driver sends the statement as ``direct.py`` sends
one on a connection of its own: the same SQL, parameters and defaults, the same result,
errors wrapped as the ``Connection`` wraps them, and the connection invalidated where it
would invalidate it (lost: the pool's older connections with it; interrupted: the
connection alone). ``tests/test_direct_held.py`` compares both on every driver. The
asyncpg adapter's lock around its cursor's statements is not taken: a session's connection
serves one task at a time, as SQLAlchemy asks of an ``AsyncSession``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.dml import UpdateBase

from .._own_listeners import begin_options, silencing_options
from .aiosqlite import sent_as_by_its_cursor
from .direct import _DRIVERS, DirectResult, direct_result, prepared_statement
from .direct_connection import send, wrapped_before
from .greenlets import call_sync_api
from .sqlalchemy_connection import event_listeners, invalidate_pool, logs_statements
from .sqlalchemy_engine import positional_parameters

__all__ = ["execute_held", "held_connection", "why_engine_watched", "why_held_watched"]

# What a Connection calls for each statement: the listeners that would see this one.
_STATEMENT_EVENTS = (
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
    "handle_error",
)
_DIALECT_EVENTS = ("do_execute", "do_execute_no_params", "do_setinputsizes", "handle_error")


def held_connection(
    session: Session, bind: Engine, *, innermost: bool = False
) -> Connection | None:
    """The ``Connection`` to ``bind`` that ``session``'s transaction holds, if it holds
    one; ``None`` otherwise. With ``innermost``, the one its newest SAVEPOINT holds: a
    SAVEPOINT begun in the session is sent when it first asks for the connection, so it
    holds none before. Reads the transaction's private ``_connections``: SQLAlchemy before
    2.1.7 has no public way to look without asking for one (which sends the SAVEPOINT).

    Example:
        >>> from sqlalchemy import create_engine, text
        >>> engine = create_engine("sqlite://")
        >>> session = Session(engine)
        >>> held_connection(session, engine) is None
        True
        >>> _ = session.execute(text("SELECT 1"))
        >>> held_connection(session, engine) is session.connection()
        True
        >>> savepoint = session.begin_nested()
        >>> held_connection(session, engine, innermost=True) is None  # its SAVEPOINT not sent
        True
    """
    transaction = session.get_transaction()
    if innermost:
        transaction = session.get_nested_transaction() or transaction
    if transaction is None:
        return None
    entry = transaction._connections.get(bind)
    return None if entry is None else entry[0]


def why_engine_watched(bind: AsyncEngine) -> str | None:
    """Why a statement on any connection of ``bind`` held by a session must go through
    the ``Connection``; ``None`` when, as far as the engine tells, the driver can send it
    and nobody could tell: the driver is one ``direct.py`` drives, nothing logs
    statements, no listener of a statement on the engine (or ``Engine``) or its dialect.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> why_engine_watched(create_async_engine("postgresql+psycopg://app@db/app"))
        'the psycopg driver: only aiomysql, aiosqlite, asyncmy and asyncpg are driven'
        >>> why_engine_watched(create_async_engine("sqlite+aiosqlite://")) is None
        True
    """
    dialect = bind.dialect
    if (dialect.name, dialect.driver) not in _DRIVERS:
        return (
            f"the {dialect.driver} driver: only aiomysql, aiosqlite, asyncmy and asyncpg are driven"
        )
    engine = bind.sync_engine
    if logs_statements(engine):
        return "the engine logs its statements"
    if engine._has_events:  # SQLAlchemy calls none of them without it
        for name in _STATEMENT_EVENTS:
            if event_listeners(engine, name):
                return f"a {name!r} listener on the engine"
    if dialect._has_events:
        for name in _DIALECT_EVENTS:
            if event_listeners(dialect, name):
                return f"a {name!r} listener on the dialect"
    return None


def why_held_watched(bind: AsyncEngine, connection: Connection) -> str | None:
    """Why a statement on the held ``connection`` (of ``bind``) must go through it: what
    :func:`why_engine_watched` finds, or the connection's own listener of a statement, or
    an execution option besides sqlrecord's own (read at BEGIN only); ``None`` when
    nobody could tell.

    Example:
        >>> from sqlalchemy import event
        >>> async def watched() -> tuple[str | None, str | None]:
        ...     async with db.engine.connect() as connection:
        ...         sync = connection.sync_connection
        ...         before = why_held_watched(db.engine, sync)
        ...         event.listen(sync, "before_execute", lambda *arguments: None)
        ...         return before, why_held_watched(db.engine, sync)
        >>> run(watched())
        (None, "a 'before_execute' listener on the connection")
    """
    reason = why_engine_watched(bind)
    if reason is not None:
        return reason
    if not set(connection.get_execution_options()) <= silencing_options() | begin_options():
        return "the connection has execution options"
    for name in _STATEMENT_EVENTS:  # the connection's own (with its engine's)
        if event_listeners(connection, name):
            return f"a {name!r} listener on the connection"
    return None


def _in_transaction(connection: PoolProxiedConnection, backend: str) -> bool:
    """Whether a statement the driver sends on the connection is part of the transaction
    SQLAlchemy began on it (asyncpg: the server said it is in one, which the adapter
    begins at its first statement; MySQL: autocommit off, each statement in the
    transaction; SQLite: the connection sends a deferred BEGIN or SAVEPOINT first, for
    its cursor as for the driver)."""
    driver: Any = connection.driver_connection
    if driver is None:
        return False
    if backend == "postgresql":
        return bool(driver.is_in_transaction())
    if backend == "sqlite":
        return sent_as_by_its_cursor(connection.dbapi_connection)
    return not driver.get_autocommit()


async def execute_held(
    bind: AsyncEngine, connection: Connection, statement: UpdateBase, parameters: dict[str, Any]
) -> DirectResult | None:
    """Send the write ``statement`` with ``parameters`` by the driver on ``connection``
    (of ``bind``), held by a session, in the transaction running on it; ``None``, with
    nothing sent, where this route cannot (:func:`why_held_watched`, no transaction on
    the driver's connection yet, a statement that needs more than its SQL and simple
    defaults).

    Example:
        >>> from sqlalchemy import inspect, insert, text
        >>> labels = inspect(Label).local_table
        >>> async def inserted() -> Any:
        ...     async with db.engine.connect() as connection:
        ...         await connection.execute(text("SELECT 1"))  # the transaction runs
        ...         sync = connection.sync_connection
        ...         result = await execute_held(db.engine, sync, insert(labels), {"name": "x"})
        ...         await connection.rollback()
        ...         return result
        >>> run(inserted()).rowcount
        1
    """
    if not connection.in_transaction() or connection.invalidated:
        return None
    if why_held_watched(bind, connection) is not None:
        return None
    prepared = prepared_statement(bind, statement, parameters)
    pooled = connection.connection
    if prepared is None or not _in_transaction(pooled, bind.dialect.name):
        return None
    brought, defaults = prepared
    compiled = brought.compiled
    sql = compiled.string
    try:
        filled, sent = positional_parameters(compiled, bind.dialect, parameters, defaults, brought)
    except Exception as error:
        raise wrapped_before(bind, sql, parameters, error) from error
    try:
        answer = await send(bind, pooled, sql, sent)
    except BaseException as error:
        await _after_failure(connection, pooled, error)
        raise
    return direct_result(bind, compiled, filled, answer)


async def _after_failure(
    connection: Connection, pooled: PoolProxiedConnection, error: BaseException
) -> None:
    """Leave ``connection`` as a ``Connection`` leaves itself after ``error`` in a
    transaction: invalidated with the pool's older connections when it was lost,
    invalidated alone when the statement was interrupted (it may still be busy); as it
    was otherwise (the transaction is the session's to end)."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        with contextlib.suppress(Exception):
            await asyncio.shield(call_sync_api(_invalidate_lost, connection, pooled, error.orig))
    elif not isinstance(error, Exception):
        with contextlib.suppress(Exception):
            await asyncio.shield(call_sync_api(connection.invalidate, error))


def _invalidate_lost(
    connection: Connection, pooled: PoolProxiedConnection, error: BaseException
) -> None:
    invalidate_pool(connection.engine.pool, pooled, error)
    connection.invalidate(error)
