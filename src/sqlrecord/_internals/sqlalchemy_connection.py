"""Private names of SQLAlchemy around one statement on a pooled connection: the asyncpg
adapter's execution, the driver's errors as the adapter passes them on, the pool's
invalidation, the listeners a ``Connection`` would call, and SQLAlchemy's way of running
its synchronous API from async code; for ``_internals.direct``."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import Pool, PoolProxiedConnection

__all__ = [
    "adapted_driver_error",
    "applies_engine_options",
    "asyncpg_execute",
    "event_listeners",
    "invalidate_pool",
    "logs_statements",
    "pool_listeners",
]

_T = TypeVar("_T")

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
