"""Private names of SQLAlchemy's execution layer: what a ``Connection`` does around one
statement (its parameters, its inserted key, its error), for ``_direct``, which sends a
statement on a pooled driver connection without a ``Connection`` around it."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import Pool, PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

__all__ = [
    "FilledDefault",
    "adapted_driver_error",
    "applies_engine_options",
    "asyncpg_execute",
    "call_sync_api",
    "event_listeners",
    "inserted_key",
    "invalidate_pool",
    "logs_statements",
    "pool_listeners",
    "positional_parameters",
    "prefetched_defaults",
    "returned_by_insert",
]

_T = TypeVar("_T")


#: A Python-side default an INSERT's execution fills in: the parameter's name, and what
#: gives its value.
FilledDefault = tuple[str, Callable[[], Any]]


def prefetched_defaults(compiled: SQLCompiler) -> list[FilledDefault] | None:
    """The Python-side column defaults (of an INSERT) or ``onupdate`` values (of an
    UPDATE) the execution of ``compiled`` fills in (``SQLCompiler.insert_prefetch``,
    ``update_prefetch``), as ``DefaultExecutionContext`` fills them: a scalar, or a
    function called without arguments; ``None`` when one needs the execution context (a
    function that takes it, a sequence, a SQL expression run first). Read through the
    column's private description tuples and the compiler's parameter key getter.

    Example:
        >>> from sqlalchemy import Column, Integer, MetaData, String, Table
        >>> from sqlalchemy.dialects import mysql
        >>> table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
        ...               Column("unit", String(5), default="mm", onupdate="cm"),
        ...               Column("code", String(5), default=lambda: "x"),
        ...               Column("ctx", String(5), default=lambda context: "y"))
        >>> dialect = mysql.dialect()
        >>> filled = prefetched_defaults(table.insert().compile(dialect=dialect,
        ...                                                     column_keys=["ctx"]))
        >>> [(name, value()) for name, value in filled]
        [('unit', 'mm'), ('code', 'x')]
        >>> prefetched_defaults(table.insert().compile(dialect=dialect, column_keys=[])) is None
        True
        >>> filled = prefetched_defaults(table.update().compile(dialect=dialect,
        ...                                                     column_keys=["code"]))
        >>> [(name, value()) for name, value in filled]
        [('unit', 'cm')]
    """
    key_of: Any = compiled._within_exec_param_key_getter
    if compiled.insert_prefetch:
        described = [(c, c._default_description_tuple, c.default) for c in compiled.insert_prefetch]
    else:
        described = [
            (c, c._onupdate_description_tuple, c.onupdate) for c in compiled.update_prefetch
        ]
    filled: list[FilledDefault] = []
    for column, (value, is_scalar, is_callable, is_sentinel), default in described:
        if is_sentinel:
            return None
        if is_scalar:
            filled.append((key_of(column), functools.partial(_same, value)))
        elif is_callable:
            plain = _without_context(value)
            if plain is None:
                return None
            filled.append((key_of(column), plain))
        elif default is not None:
            return None
    return filled


def _same(value: Any) -> Any:
    return value


def _without_context(default: Any) -> Callable[[], Any] | None:
    """The function a callable column default wraps when it takes no argument (SQLAlchemy
    wraps it in one that takes the context and drops it); ``None`` for one that takes the
    context itself."""
    wrapped = getattr(default, "__wrapped__", None)
    if wrapped is None or not callable(wrapped):
        return None
    try:
        inspect.signature(wrapped).bind()
    except (TypeError, ValueError):
        return None
    plain: Callable[[], Any] = wrapped
    return plain


def positional_parameters(
    compiled: SQLCompiler,
    dialect: Dialect,
    parameters: dict[str, Any],
    defaults: Sequence[FilledDefault] = (),
) -> tuple[dict[str, Any], Sequence[Any]]:
    """The compiled parameters of ``parameters`` with ``defaults`` filled in (by bind name,
    before processing), and the sequence the driver receives (each value through its
    type's bind processor, in the order of the statement's placeholders), as
    ``DefaultExecutionContext._init_compiled`` builds them for a positional statement;
    ``SQLCompiler._bind_processors`` is private.

    Example:
        >>> from sqlalchemy import column, select
        >>> from sqlalchemy.dialects import mysql
        >>> dialect = mysql.dialect(paramstyle="format")
        >>> compiled = select(column("a")).where(column("a") == 5).compile(dialect=dialect)
        >>> positional_parameters(compiled, dialect, {})
        ({'a_1': 5}, (5,))
    """
    compiled_parameters: Any = compiled.construct_params(parameters, escape_names=False)
    for name, value in defaults:
        compiled_parameters[name] = value()
    processors: Any = compiled._bind_processors
    assert compiled.positiontup is not None
    sent = [
        processors[key](compiled_parameters[key]) if key in processors else compiled_parameters[key]
        for key in compiled.positiontup
    ]
    return compiled_parameters, dialect.execute_sequence_format(sent)


def inserted_key(
    compiled: SQLCompiler, lastrowid: Any, compiled_parameters: dict[str, Any]
) -> Sequence[Any]:
    """The primary key of the row an INSERT wrote, from the cursor's ``lastrowid`` and the
    compiled parameters, as ``CursorResult.inserted_primary_key`` gives it
    (``SQLCompiler._inserted_primary_key_from_lastrowid_getter`` is private).

    Example:
        >>> from sqlalchemy import Column, Integer, MetaData, Table
        >>> from sqlalchemy.dialects import mysql
        >>> table = Table("t", MetaData(), Column("id", Integer, primary_key=True))
        >>> compiled = table.insert().compile(dialect=mysql.dialect(), column_keys=[])
        >>> tuple(inserted_key(compiled, 7, {}))
        (7,)
    """
    getter: Any = compiled._inserted_primary_key_from_lastrowid_getter
    row: Sequence[Any] = getter(lastrowid, compiled_parameters)
    return row


def returned_by_insert(
    compiled: SQLCompiler,
    dialect: Dialect,
    description: Sequence[Any],
    row: Sequence[Any],
    compiled_parameters: dict[str, Any],
) -> tuple[dict[Any, Any], Sequence[Any]]:
    """What an INSERT … RETURNING of sqlrecord's (``return_defaults``) gives back, from the
    driver's ``row`` and cursor ``description``: the returned values by column (each
    through its type's result processor, as ``CursorResult.returned_defaults`` holds
    them), and the inserted primary key (``CursorResult.inserted_primary_key``). The
    type's processor cache and the compiler's key getter are private.

    Example:
        >>> from sqlalchemy import Column, DateTime, Integer, MetaData, Table, func
        >>> from sqlalchemy.dialects import mysql
        >>> table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
        ...               Column("at", DateTime, server_default=func.now()))
        >>> dialect = mysql.dialect()
        >>> dialect.insert_returning = True  # as MariaDB 10.5 and later
        >>> compiled = table.insert().return_defaults(table.c.at).compile(
        ...     dialect=dialect, column_keys=[])
        >>> print(compiled)
        INSERT INTO t () VALUES () RETURNING t.id, t.at
        >>> values, key = returned_by_insert(compiled, dialect, [("id", 3), ("at", 12)],
        ...                                  (7, None), {})
        >>> values[table.c.id], tuple(key)
        (7, (7,))
    """
    returning: Any = compiled.implicit_returning
    values = {}
    for column, described, value in zip(returning, description, row, strict=True):
        processor = column.type._cached_result_processor(dialect, described[1])
        values[column] = processor(value) if processor is not None else value
    processed = tuple(values.values())
    getter: Any = compiled._inserted_primary_key_from_returning_getter
    key: Sequence[Any] = getter(processed, compiled_parameters)
    return values, key


_STATUS = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


async def asyncpg_execute(
    dbapi_connection: Any, dialect: Dialect, sql: str, parameters: Sequence[Any]
) -> tuple[int, list[Any] | None, list[Any]]:
    """Run ``sql`` on the asyncpg connection under SQLAlchemy's adapter
    ``dbapi_connection`` as the adapter's cursor runs it: prepared through the adapter's
    statement cache (and its check of the dialect's schema-change time), fetched, the row
    count read from the status message. Returns the row count, the cursor description
    (``None`` when nothing is returned) and the rows; the driver's errors are raised as
    they are. The adapter's ``_prepare`` and the dialect's schema time are private.

    Example:
        >>> class Prepared:  # as asyncpg's: rows, and the status message
        ...     async def fetch(self, *parameters): return [(7,)]
        ...     def get_statusmsg(self): return "INSERT 0 1"
        ...     def get_attributes(self): return ()
        >>> class Adapter:  # as SQLAlchemy's adapter: its statement cache
        ...     async def _prepare(self, sql, asof): return Prepared(), ()
        >>> from sqlalchemy.dialects.postgresql import asyncpg
        >>> run(asyncpg_execute(Adapter(), asyncpg.dialect(), "INSERT ...", ()))
        (1, None, [(7,)])
    """
    asof = getattr(dialect, "_invalidate_schema_cache_asof", 0)
    prepared, attributes = await dbapi_connection._prepare(sql, asof)
    description = (
        [
            (attribute.name, attribute.type.oid, None, None, None, None, None)
            for attribute in attributes
        ]
        if attributes
        else None
    )
    rows = list(await prepared.fetch(*parameters))
    counted = _STATUS.match(prepared.get_statusmsg() or "")
    return (int(counted.group(1)) if counted else -1), description, rows


def applies_engine_options(listener: Any) -> bool:
    """Whether ``listener`` is the ``engine_connect`` listener SQLAlchemy gives an engine
    of ``execution_options(isolation_level=...)``, which sets each of its connections'
    isolation level (``DefaultDialect.set_engine_execution_options``'s inner function:
    no public name tells it).

    Example:
        >>> from sqlalchemy import create_engine
        >>> engine = create_engine("sqlite://").execution_options(isolation_level="AUTOCOMMIT")
        >>> [applies_engine_options(listener)
        ...  for listener in event_listeners(engine, "engine_connect")]
        [True]
    """
    name = getattr(listener, "__qualname__", "")
    return bool(
        name.endswith("set_engine_execution_options.<locals>.set_connection_characteristics")
    )


def logs_statements(engine: Engine) -> bool:
    """Whether ``engine`` logs its statements (``echo``, or the ``sqlalchemy.engine``
    logger at INFO), as a ``Connection`` decides it (``Engine._should_log_info`` is
    private).

    Example:
        >>> from sqlalchemy import create_engine
        >>> logs_statements(create_engine("sqlite://")), logs_statements(
        ...     create_engine("sqlite://", echo=True))
        (False, True)
    """
    return bool(engine._should_log_info())


def adapted_driver_error(dbapi_connection: Any, error: Exception) -> Exception:
    """``error``, raised by the driver under SQLAlchemy's asyncio adapter
    ``dbapi_connection``, as the adapter passes it on to SQLAlchemy (asyncmy's broken
    connection, an ``AttributeError``, becomes the DBAPI's ``InternalError``): the
    adapter's ``_handle_exception`` is private.

    Example:
        >>> class Adapter:  # as SQLAlchemy's adapters do: raise what to pass on
        ...     def _handle_exception(self, error):
        ...         raise RuntimeError("adapted") from error
        >>> adapted_driver_error(Adapter(), ValueError("x"))
        RuntimeError('adapted')
    """
    try:
        dbapi_connection._handle_exception(error)
    except Exception as adapted:
        return adapted
    return error  # pragma: no cover - the adapter always raises


def invalidate_pool(pool: Pool, connection: PoolProxiedConnection, error: BaseException) -> None:
    """After a disconnect on ``connection``, mark every connection ``pool`` opened before
    it as stale, as a ``Connection`` does (``Pool._invalidate`` is private).

    Example:
        >>> from sqlalchemy import create_engine
        >>> engine = create_engine("sqlite://")
        >>> connection = engine.raw_connection()
        >>> invalidate_pool(engine.pool, connection, Exception("gone"))
        >>> connection.is_valid
        False
    """
    pool._invalidate(connection, error)


async def call_sync_api(function: Callable[..., _T], *arguments: Any) -> _T:
    """Run the synchronous ``function`` where SQLAlchemy's asyncio adapters can wait on
    the event loop (a pool's checkout may open a connection), as ``AsyncEngine`` does
    (``greenlet_spawn`` is not in SQLAlchemy's documented API).

    Example:
        >>> run(call_sync_api(len, "abc"))
        3
    """
    result: Awaitable[_T] = greenlet_spawn(function, *arguments)
    return await result


def event_listeners(target: Any, event_name: str) -> Collection[Any]:
    """The listeners of ``target``'s event ``event_name``: for an engine, those a
    ``Connection`` of it would call (``before_execute``, ``begin`` …: the engine's, its
    parent engine's for one of ``execution_options()``, and ``Engine``'s own); for a
    dialect, its own (``do_execute``, ``handle_error`` …). Read from ``dispatch``, which
    has no documented listing; empty, and cheap to test, in the usual case.

    Example:
        >>> from sqlalchemy import create_engine, event
        >>> engine = create_engine("sqlite://")
        >>> bool(event_listeners(engine, "before_execute"))
        False
        >>> event.listen(engine, "before_execute", print)
        >>> len(event_listeners(engine, "before_execute"))
        1
        >>> bool(event_listeners(engine.dialect, "do_execute"))
        False
    """
    listeners: Collection[Any] = getattr(target.dispatch, event_name, ())
    return listeners


def pool_listeners(engine: Engine, event_name: str) -> Collection[Any]:
    """The listeners a pool event ``event_name`` of ``engine``'s pool reaches: for an
    engine of ``execution_options()`` (``engine_on_pool_of``'s too, whose own pool
    forwards its events), those of the engine it copies; else its pool's.
    ``OptionEngine._proxied`` and ``Pool.dispatch`` are private.

    Example:
        >>> from sqlalchemy import create_engine, event
        >>> engine = create_engine("sqlite://")
        >>> bool(pool_listeners(engine, "reset"))
        False
        >>> event.listen(engine, "reset", print)
        >>> len(pool_listeners(engine.execution_options(), "reset"))
        1
    """
    listened = getattr(engine, "_proxied", engine)
    listeners: Collection[Any] = getattr(listened.pool.dispatch, event_name, ())
    return listeners
