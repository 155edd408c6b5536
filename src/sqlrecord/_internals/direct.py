"""One write statement sent by the driver itself, on a pooled connection, without
SQLAlchemy's ``Connection`` around it (MySQL/MariaDB's aiomysql and asyncmy; asyncpg).

A ``Connection`` costs a good part of a one-row write's time (its begin, execution
context, result and close: on MySQL more than the statement's round trip). Where the
statement alone is all a caller needs (an INSERT, UPDATE or DELETE on a connection of
the autocommit engine), sending it through the driver gives the same: the SQL and
parameters the ``Connection`` would send, compiled and processed by SQLAlchemy, with the
Python-side defaults filled in as it fills them; its row count, inserted key and
returned values; its errors, wrapped as the ``Connection`` wraps them, the connection
invalidated on a disconnect or an interruption.

What a ``Connection`` would also do, and this route would not, is visible only to
listeners, a log or options: :func:`why_not_direct` refuses an engine with any of them,
and :func:`execute_direct` a statement that needs more than its SQL, parameters and
simple defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from .. import _mysql_transactions
from .._alone import execute_alone
from .sqlalchemy_engine import (
    FilledDefault,
    adapted_driver_error,
    applies_engine_options,
    asyncpg_execute,
    call_sync_api,
    event_listeners,
    inserted_key,
    invalidate_pool,
    logs_statements,
    pool_listeners,
    positional_parameters,
    prefetched_defaults,
    returned_by_insert,
)

__all__ = [
    "AloneResult",
    "DirectResult",
    "ReturnedRow",
    "execute_direct",
    "why_not_direct",
    "write_alone",
]

# The drivers this module drives, by dialect: MySQL's two through their cursors
# (``execute(sql, parameters)``, ``rowcount``, ``lastrowid``), asyncpg through the
# adapter's cache of prepared statements.
_DRIVERS = {("mysql", "aiomysql"), ("mysql", "asyncmy"), ("postgresql", "asyncpg")}
# Everything a Connection tells listeners about a statement and its transaction.
_CONNECTION_EVENTS = (
    "engine_connect",
    "set_connection_execution_options",
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
    "begin",
    "commit",
    "rollback",
)
# A dialect's listeners that take over or watch the execution itself.
_DIALECT_EVENTS = ("do_execute", "do_execute_no_params", "do_setinputsizes", "handle_error")
# The compiled statements and their defaults, by statement, dialect and parameter names:
# the statements are sqlrecord's own (one per mapper and kind), so the cache stays small.
_PREPARED: dict[
    tuple[int, int, tuple[str, ...]],
    tuple[Executable, tuple[SQLCompiler, list[FilledDefault]]],
] = {}
_PREPARED_KEPT = 512


class ReturnedRow:
    """The values an INSERT returned, by column: what a ``CursorResult``'s
    ``returned_defaults`` row holds in its ``_mapping``.

    Example:
        >>> ReturnedRow({"at": 12})._mapping
        {'at': 12}
    """

    __slots__ = ("_mapping",)

    def __init__(self, values: dict[Any, Any]) -> None:
        self._mapping = values


@dataclass(frozen=True, slots=True)
class DirectResult:
    """What a ``CursorResult`` of the same statement tells (the parts ``_alone``'s callers
    read): the row count, the inserted key, the parameters sent, the values returned.

    Example:
        >>> result = DirectResult(rowcount=1, inserted_primary_key=(7,), parameters={"a": 1})
        >>> result.rowcount, result.inserted_primary_key, result.last_inserted_params()
        (1, (7,), {'a': 1})
    """

    rowcount: int
    inserted_primary_key: Any
    parameters: dict[str, Any]
    #: What an INSERT's RETURNING gave back (``None`` without one, as ``CursorResult``'s).
    returned_defaults: ReturnedRow | None = None

    def last_inserted_params(self) -> dict[str, Any]:
        """The INSERT's parameters, by column key, as ``CursorResult``'s method gives them."""
        return self.parameters


#: What one statement alone gives back: SQLAlchemy's result, or the driver's.
AloneResult = CursorResult[Any] | DirectResult


async def write_alone(
    bind: AsyncEngine, statement: UpdateBase, parameters: dict[str, Any]
) -> AloneResult:
    """Run the write ``statement`` with ``parameters`` on a connection of ``bind`` (an
    autocommit engine) of its own: sent by the driver where nobody could tell
    (:func:`execute_direct`), else through a ``Connection`` (``_alone.execute_alone``).

    Example:
        >>> from sqlalchemy import delete, inspect
        >>> labels = inspect(Label).local_table
        >>> run(write_alone(db._autocommit_engine, delete(labels), {})).rowcount >= 0
        True
    """
    direct = await execute_direct(bind, statement, parameters)
    if direct is not None:
        return direct
    return await execute_alone(bind, statement, parameters)


def why_not_direct(bind: AsyncEngine) -> str | None:
    """Why a statement on ``bind`` must go through a ``Connection``; ``None`` when the
    driver can send it alone and nobody could tell.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> why_not_direct(create_async_engine("sqlite+aiosqlite://"))
        'the aiosqlite driver: only aiomysql, asyncmy and asyncpg are driven'
    """
    engine = bind.sync_engine
    dialect = engine.dialect
    if (dialect.name, dialect.driver) not in _DRIVERS:
        return f"the {dialect.driver} driver: only aiomysql, asyncmy and asyncpg are driven"
    if _options(engine) is None:
        return "the engine has execution options: a Connection applies them"
    if logs_statements(engine):
        return "the engine logs its statements"
    for name in _CONNECTION_EVENTS:
        listeners = event_listeners(engine, name)
        if listeners and not all(map(_applied_here, listeners)):
            return f"a {name!r} listener on the engine"
    for name in _DIALECT_EVENTS:
        if event_listeners(dialect, name):
            return f"a {name!r} listener on the dialect"
    if pool_listeners(engine, "reset"):
        return "a 'reset' listener on the pool: a Connection's close resets differently"
    return None


# The one execution option this route applies itself, as a Connection applies it: the
# autocommit engine's on PostgreSQL (MySQL's has a pool of autocommit connections instead).
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _applied_here(listener: Any) -> bool:
    """Whether ``listener`` does nothing this route leaves undone: sqlrecord's bookkeeping
    of MySQL transactions (no transaction begins here), or the one by which SQLAlchemy
    applies the autocommit option, which this route applies itself."""
    return _mysql_transactions.is_own_listener(listener) or applies_engine_options(listener)


def _options(engine: Engine) -> bool | None:
    """Whether statements on ``engine`` switch their connection to autocommit (``True``) or
    run as the connection is (``False``); ``None``: other options, which only a
    ``Connection`` applies."""
    options = dict(engine.get_execution_options())
    if not options:
        return False
    return True if options == _AUTOCOMMIT else None


def _checkout(engine: Engine, autocommit: bool) -> PoolProxiedConnection:
    """A connection of ``engine``'s pool, switched to autocommit if ``autocommit``, as a
    ``Connection`` with that option switches it (and switches it back on its return)."""
    connection = engine.raw_connection()
    if autocommit:
        try:
            engine.dialect.set_isolation_level(connection.dbapi_connection, "AUTOCOMMIT")  # type: ignore[arg-type]
        except BaseException:
            connection.invalidate()
            raise
    return connection


def _checkin(engine: Engine, connection: PoolProxiedConnection, autocommit: bool) -> None:
    """Return ``connection`` to the pool, its isolation level reset first if
    :func:`_checkout` switched it."""
    try:
        if autocommit:
            engine.dialect.reset_isolation_level(connection.dbapi_connection)  # type: ignore[arg-type]
    finally:
        connection.close()


def _prepared(
    bind: AsyncEngine, statement: Executable, parameters: dict[str, Any]
) -> tuple[SQLCompiler, list[FilledDefault]] | None:
    """``statement`` compiled as a ``Connection`` compiles it for ``parameters``, and the
    Python-side defaults its execution fills in; ``None`` when it needs more than its
    SQL, parameters and simple defaults (RETURNING other than an INSERT's defaults, an
    INSERT's values the database computes and nothing returns, a default that takes the
    execution context, a parameter rendered at execution). An UPDATE's or DELETE's
    values the database computes are nobody's concern here: its callers read its row
    count alone."""
    dialect = bind.dialect
    names = tuple(sorted(parameters))
    cache_key = (id(statement), id(dialect), names)
    cached = _PREPARED.get(cache_key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    if not isinstance(statement, UpdateBase):
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    assert isinstance(compiled, SQLCompiler)
    defaults = prefetched_defaults(compiled)
    if (
        defaults is None
        or not compiled.positional
        or (compiled.effective_returning and not _returns_defaults(compiled))
        or (compiled.isinsert and compiled.postfetch)
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.schema_translate_map
    ):
        return None
    if len(_PREPARED) >= _PREPARED_KEPT:
        _PREPARED.clear()
    # The statement is kept with it, so that its id is not another statement's.
    _PREPARED[cache_key] = (statement, (compiled, defaults))
    return compiled, defaults


def _returns_defaults(compiled: SQLCompiler) -> bool:
    """Whether what ``compiled`` returns is an INSERT's ``return_defaults`` alone."""
    return bool(compiled.isinsert and compiled.implicit_returning) and list(
        compiled.effective_returning or ()
    ) == list(compiled.implicit_returning or ())


async def execute_direct(
    bind: AsyncEngine, statement: Executable, parameters: dict[str, Any]
) -> DirectResult | None:
    """Send ``statement`` with ``parameters`` through the driver, on a connection of
    ``bind``'s pool (in autocommit) returned at once; ``None``, with nothing sent, where
    this route cannot (:func:`why_not_direct`, or the statement needs a ``Connection``,
    or the connection is not in autocommit).

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> from sqlalchemy import delete, inspect
        >>> engine = create_async_engine("sqlite+aiosqlite://")
        >>> run(execute_direct(engine, delete(inspect(Label).local_table), {})) is None
        True
    """
    if why_not_direct(bind) is not None:
        return None
    prepared = _prepared(bind, statement, parameters)
    if prepared is None:
        return None
    compiled, defaults = prepared
    engine, switch = bind.sync_engine, bool(_options(bind.sync_engine))
    # As a Connection: the connection first, then the defaults, the parameters, the SQL.
    connection = await call_sync_api(_checkout, engine, switch)
    try:
        if not _in_autocommit(connection, bind.dialect.name):
            await call_sync_api(_checkin, engine, connection, switch)
            return None
        sql = compiled.string
        try:
            filled, sent = positional_parameters(compiled, bind.dialect, parameters, defaults)
        except Exception as error:
            raise _wrapped_before(bind, sql, parameters, error) from error
        sent_back = await _send(bind, connection, sql, sent)
    except BaseException as error:
        await _give_back(bind, connection, error, switch)
        raise
    await call_sync_api(_checkin, engine, connection, switch)
    rowcount, lastrowid, description, rows = sent_back
    if not compiled.isinsert:
        return DirectResult(rowcount, None, filled)
    if description is not None:
        values, key = returned_by_insert(compiled, bind.dialect, description, rows[0], filled)
        return DirectResult(rowcount, key, filled, ReturnedRow(values))
    from_cursor = lastrowid if compiled.postfetch_lastrowid else None
    return DirectResult(rowcount, inserted_key(compiled, from_cursor, filled), filled)


def _in_autocommit(connection: PoolProxiedConnection, backend: str) -> bool:
    """Whether ``connection`` is in autocommit: asyncpg's adapter keeps the mode; MySQL's
    drivers know it from the server's last answer."""
    adapter: Any = connection.dbapi_connection
    if backend == "postgresql":
        return adapter is not None and bool(adapter.autocommit)
    driver = connection.driver_connection
    return driver is not None and bool(driver.get_autocommit())


async def _send(
    bind: AsyncEngine, connection: PoolProxiedConnection, sql: str, sent: Any
) -> tuple[int, Any, Any, list[Any]]:
    """Execute ``sql`` with ``sent`` on ``connection``'s driver: its row count, last row
    id, description and rows. An error is raised as a ``Connection`` raises it, a MySQL
    cursor closed as a ``Connection`` closes it (not on a lost connection)."""
    cursor = None
    try:
        if bind.dialect.name == "postgresql":
            adapter, dialect = connection.dbapi_connection, bind.dialect
            rowcount, description, rows = await asyncpg_execute(adapter, dialect, sql, sent)
            return rowcount, None, description, rows
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


def _wrapped_before(
    bind: AsyncEngine, sql: str, parameters: dict[str, Any], error: Exception
) -> BaseException:
    """The error a ``Connection`` raises for ``error`` raised while it prepared the
    statement's parameters (a default, a type's bind processing): a ``StatementError``
    naming the statement and the parameters as given."""
    dialect = bind.dialect
    wrapped: BaseException = sa_exc.DBAPIError.instance(
        sql,
        [parameters],
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


async def _give_back(
    bind: AsyncEngine, connection: PoolProxiedConnection, error: BaseException, switched: bool
) -> None:
    """Return ``connection`` after ``error``: invalidated, as a ``Connection`` does, where
    it was lost (and the pool's older connections with it) or the call was interrupted
    mid-statement (it may still be busy); else to the pool (``switched``: its isolation
    level reset first)."""
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
            await call_sync_api(_checkin, bind.sync_engine, connection, switched)
