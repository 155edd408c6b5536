"""One statement sent by the driver itself, on a pooled connection, without
SQLAlchemy's ``Connection`` around it (MySQL/MariaDB's aiomysql and asyncmy; asyncpg;
aiosqlite).

A ``Connection`` costs a good part of a one-row write's time (its begin, execution
context, result and close: on MySQL more than the statement's round trip). Where the
statement alone is all a caller needs (an INSERT, UPDATE or DELETE on a connection of
the autocommit engine), sending it through the driver gives the same: the SQL and
parameters the ``Connection`` would send, compiled and processed by SQLAlchemy, with the
Python-side defaults filled in as it fills them; its row count, inserted key,
returned values and rows (each value through its type); its errors, wrapped as the
``Connection`` wraps them, the connection invalidated on a disconnect or an interruption.
A SELECT of objects' rows (``_reads_alone.py``) goes the same way.

What a ``Connection`` would also do, and this route would not, is visible only to
listeners, a log or options: :func:`why_not_direct` refuses an engine with any of them,
and :func:`execute_direct` a statement that needs more than its SQL, parameters and
simple defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from .._alone import execute_alone
from .._own_listeners import is_own_listener, silencing_options
from .direct_connection import checkin, checkout, give_back, in_autocommit, send, wrapped_before
from .greenlets import call_sync_api
from .sqlalchemy_connection import (
    applies_engine_options,
    event_listeners,
    logs_statements,
    pool_listeners,
)
from .sqlalchemy_engine import (
    Compiled,
    FilledDefault,
    compile_cached,
    inserted_key,
    positional_parameters,
    prefetched_defaults,
    processed_rows,
    result_keys,
    returned_by_insert,
    rows_by_position,
)

__all__ = [
    "AloneResult",
    "DirectResult",
    "ReturnedRow",
    "execute_direct",
    "read_alone",
    "why_not_direct",
    "why_statements_watched",
    "write_alone",
]

# The drivers this module drives, by dialect: MySQL's two through their cursors
# (``execute(sql, parameters)``, ``rowcount``, ``lastrowid``), asyncpg through the
# adapter's cache of prepared statements, aiosqlite in one hand-off to its thread.
_DRIVERS = {
    ("mysql", "aiomysql"),
    ("mysql", "asyncmy"),
    ("postgresql", "asyncpg"),
    ("sqlite", "aiosqlite"),
}
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
# What each compiled form (of the engine's cache) needs filled in, or None where this route
# cannot run it, by the compiled form's id: few shapes, so the cache stays small.
_DEFAULTS: dict[int, tuple[SQLCompiler, list[FilledDefault] | None]] = {}
_DEFAULTS_KEPT = 512


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
        >>> why_not_direct(create_async_engine("postgresql+psycopg://app@db/app"))
        'the psycopg driver: only aiomysql, aiosqlite, asyncmy and asyncpg are driven'
    """
    dialect = bind.sync_engine.dialect
    if (dialect.name, dialect.driver) not in _DRIVERS:
        return (
            f"the {dialect.driver} driver: only aiomysql, aiosqlite, asyncmy and asyncpg are driven"
        )
    return why_statements_watched(bind)


def why_statements_watched(bind: AsyncEngine) -> str | None:
    """Why something could see which statement a ``Connection`` of ``bind`` runs, or
    whether one runs it at all: execution options, a log of statements, a listener of
    the connection, its dialect or its pool's reset. ``None`` when nothing could.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> why_statements_watched(create_async_engine("sqlite+aiosqlite://")) is None
        True
        >>> why_statements_watched(create_async_engine("sqlite+aiosqlite://", echo=True))
        'the engine logs its statements'
    """
    engine = bind.sync_engine
    dialect = engine.dialect
    options = engine.get_execution_options()
    if _options(engine) is None:
        return "the engine has execution options: a Connection applies them"
    if logs_statements(engine):
        return "the engine logs its statements"
    # SQLAlchemy's own guards: it calls no listener of the engine, or of the dialect,
    # while the flag is False (listening sets it; removing the last listener does not
    # clear it, which only sends this through the lists).
    if engine._has_events:
        for name in _CONNECTION_EVENTS:
            listeners = event_listeners(engine, name)
            if listeners and not all(_applied_here(each, options) for each in listeners):
                return f"a {name!r} listener on the engine"
    if dialect._has_events:
        for name in _DIALECT_EVENTS:
            if event_listeners(dialect, name):
                return f"a {name!r} listener on the dialect"
    if pool_listeners(engine, "reset"):
        return "a 'reset' listener on the pool: a Connection's close resets differently"
    return None


# The one execution option this route applies itself, as a Connection applies it: the
# autocommit engine's on PostgreSQL (MySQL's has a pool of autocommit connections instead).
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _applied_here(listener: Any, options: Mapping[str, Any]) -> bool:
    """Whether ``listener`` does nothing this route leaves undone on an engine with
    execution ``options``: sqlrecord's own bookkeeping (``_own_listeners``: MySQL's
    transactions, SQLite's BEGIN, which the autocommit engine does not send), or the
    one by which SQLAlchemy applies the autocommit option, which this route applies
    itself."""
    return is_own_listener(listener, options) or applies_engine_options(listener)


def _options(engine: Engine) -> bool | None:
    """Whether statements on ``engine`` switch their connection to autocommit (``True``) or
    run as the connection is (``False``: no options, or only those sqlrecord's own
    listeners read); ``None``: other options, which only a ``Connection`` applies."""
    options = dict(engine.get_execution_options())
    if options == _AUTOCOMMIT:
        return True
    return False if set(options) <= silencing_options() else None


def prepared_statement(
    bind: AsyncEngine, statement: UpdateBase | Select[Any], parameters: dict[str, Any]
) -> tuple[Compiled, list[FilledDefault]] | None:
    """``statement`` compiled as a ``Connection`` compiles it for ``parameters`` (through
    the engine's cache), and the Python-side defaults its execution fills in; ``None``
    when it needs more than its SQL, parameters and simple defaults (RETURNING other than
    an INSERT's defaults, an INSERT's values the database computes and nothing returns, a
    default that takes the execution context, a parameter rendered at execution). An
    UPDATE's or DELETE's values the database computes are nobody's concern here: its
    callers read its row count alone."""
    brought = compile_cached(statement, bind.sync_engine, sorted(parameters))
    compiled = brought.compiled
    cached = _DEFAULTS.get(id(compiled))
    if cached is not None and cached[0] is compiled:
        defaults = cached[1]
    else:
        defaults = _defaults_of(compiled)
        if len(_DEFAULTS) >= _DEFAULTS_KEPT:
            _DEFAULTS.clear()
        _DEFAULTS[id(compiled)] = (compiled, defaults)  # kept: its id stays its own
    return None if defaults is None else (brought, defaults)


def _defaults_of(compiled: SQLCompiler) -> list[FilledDefault] | None:
    """The defaults :func:`prepared_statement` describes, ``None`` where the route cannot run."""
    if (
        not compiled.positional
        or (compiled.effective_returning and not _returns_defaults(compiled))
        or (compiled.isinsert and compiled.postfetch)
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.schema_translate_map
    ):
        return None
    return prefetched_defaults(compiled)


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
        >>> from sqlalchemy import inspect, select
        >>> engine = create_async_engine("sqlite+aiosqlite://")
        >>> run(execute_direct(engine, select(inspect(Label).local_table), {})) is None  # a read
        True
    """
    if why_not_direct(bind) is not None or not isinstance(statement, UpdateBase):
        return None
    prepared = prepared_statement(bind, statement, parameters)
    if prepared is None:
        return None
    brought, _ = prepared
    compiled = brought.compiled
    sent = await _send_alone(bind, prepared, parameters)
    if sent is None:
        return None
    filled, answer = sent
    return direct_result(bind, compiled, filled, answer)


def direct_result(
    bind: AsyncEngine,
    compiled: SQLCompiler,
    filled: dict[str, Any],
    answer: tuple[int, Any, Any, list[Any]],
) -> DirectResult:
    """What a ``CursorResult`` would tell of the write ``compiled``, sent with the
    parameters ``filled`` (its defaults filled in), from the driver's ``answer`` (row
    count, last row id, description, rows): the inserted key and the values an INSERT
    returned, each through its type."""
    rowcount, lastrowid, description, rows = answer
    if not compiled.isinsert:
        return DirectResult(rowcount, None, filled)
    if description is not None:
        values, key = returned_by_insert(compiled, bind.dialect, description, rows[0], filled)
        return DirectResult(rowcount, key, filled, ReturnedRow(values))
    from_cursor = lastrowid if compiled.postfetch_lastrowid else None
    return DirectResult(rowcount, inserted_key(compiled, from_cursor, filled), filled)


async def read_alone(
    bind: AsyncEngine,
    statement: Select[Any],
    parameters: dict[str, Any],
    *,
    unwatched: bool = False,
) -> tuple[list[str], Sequence[Sequence[Any]]]:
    """The keys and rows (sequences of values) of the SELECT ``statement`` with
    ``parameters``, each value through its column's type, as a ``Connection``'s result
    gives them, read on a
    connection of ``bind`` (an autocommit engine) of its own: sent by the driver where
    nobody could tell (:func:`why_not_direct`; ``unwatched``: the caller found
    :func:`why_statements_watched` ``None`` already), else through a ``Connection``.

    Example:
        >>> from sqlalchemy import inspect, select
        >>> label = run(Label.create(name="hi"))
        >>> labels = inspect(Label).local_table
        >>> run(read_alone(db._autocommit_engine, select(labels.c.name), {}))
        (['name'], [('hi',)])
    """
    dialect = bind.dialect
    driven = (dialect.name, dialect.driver) in _DRIVERS
    if driven and (unwatched or why_statements_watched(bind) is None):
        prepared = prepared_statement(bind, statement, parameters)
        # Columns matched by position only, as CursorResult's common case: else the
        # Connection, which matches them by name.
        if prepared is not None and rows_by_position(prepared[0].compiled):
            sent = await _send_alone(bind, prepared, parameters)
            if sent is not None:
                _, (_, _, description, rows) = sent
                compiled = prepared[0].compiled
                processed = processed_rows(compiled, bind.dialect, description or (), rows)
                if processed is not None:
                    return result_keys(compiled), processed
                # The driver's columns are not the statement's, one for one (a textual
                # column holding a comma): read again, as the Connection reads them.
    async with bind.connect() as connection:
        result = await connection.execute(statement, parameters)
        return list(result.keys()), result.all()


async def _send_alone(
    bind: AsyncEngine,
    prepared: tuple[Compiled, list[FilledDefault]],
    parameters: dict[str, Any],
) -> tuple[dict[str, Any], tuple[int, Any, Any, list[Any]]] | None:
    """Send the ``prepared`` statement with ``parameters`` (its defaults filled in) by
    the driver on a connection of ``bind``'s pool, returned at once: the compiled
    parameters and the driver's answer; ``None``, with nothing sent, when the connection
    is not in autocommit."""
    brought, defaults = prepared
    compiled = brought.compiled
    engine, switch = bind.sync_engine, bool(_options(bind.sync_engine))
    # As a Connection: the connection first, then the defaults, the parameters, the SQL.
    connection = await call_sync_api(checkout, engine, switch)
    try:
        if not in_autocommit(connection, bind.dialect.name):
            await call_sync_api(checkin, engine, connection, switch)
            return None
        sql = compiled.string
        try:
            filled, sent = positional_parameters(
                compiled, bind.dialect, parameters, defaults, brought
            )
        except Exception as error:
            raise wrapped_before(bind, sql, parameters, error) from error
        sent_back = await send(bind, connection, sql, sent)
    except BaseException as error:
        await give_back(bind, connection, error, switch)
        raise
    await call_sync_api(checkin, engine, connection, switch)
    return filled, sent_back
