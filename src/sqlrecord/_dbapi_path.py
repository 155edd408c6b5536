"""sqlrecord's direct statements sent on the pooled DBAPI cursor, in one greenlet.

A direct statement (``_direct``) is already built, and compiled once here; what is
left per call is running it. Through ``AsyncConnection`` that costs three
greenlet switches in and out (connect, execute, close), a ``Connection``, an
execution context and a result object: on PostgreSQL about as much CPU again as
the driver's own work (benchmarks/floor.py). Here one greenlet checks a
connection out of the engine's pool, runs the compiled SQL on the driver
adapter's cursor, and checks it back in: the same pool (its events, the idle
ping), the same bind and result type processing, and the same wrapped
``DBAPIError`` (with the pool invalidated on a lost connection) as
``Connection.execute``. A served session's statement takes the same path
(``_dbapi_served``).

What this path skips is the ``Connection`` layer, so it is taken only when
nothing listens there: no ``before/after_execute``, ``before/after_cursor_execute``
or ``handle_error`` listener, no statement logging (``echo``), and no execution
option other than sqlrecord's own. Otherwise the same statement runs through
``Connection.execute``, still in one greenlet (as do the column queries of
``rows_alone``, whose statements are built per call).

It leans on parts of SQLAlchemy that are not public API, each the piece
``Connection`` itself uses for the same step; SQLAlchemy is pinned
(constraints.txt) and tests/test_one_statement.py runs every path on all three
databases: ``SQLCompiler._bind_processors`` and ``_result_columns``,
``TypeEngine._cached_result_processor``, ``Pool._invalidate``,
``_ConnectionFairy._close_special``, ``Connection._handle_dbapi_exception_noconnection``,
``Engine._should_log_info`` and ``Connection._echo``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.util import greenlet_spawn

from ._dialects import AUTOCOMMIT_OPTION, IMMEDIATE_OPTION

__all__ = ["CompiledStatement", "execute_compiled", "rows_alone", "run_alone", "takes_cursor_path"]

# Connection-level events a cursor of our own would bypass (``handle_error`` is
# the dialect's).
_CONNECTION_EVENTS = (
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
)
# Execution options this path honours: sqlrecord's SQLite markers, which only shape the
# BEGIN (none for an autocommit statement; IMMEDIATE for a writing unit, whose BEGIN went
# out or waits on the sqlite3 connection for the next statement, this one), and the
# isolation level (AUTOCOMMIT for an engine: the adapter's flag).
_OWN_OPTIONS = frozenset({"isolation_level", AUTOCOMMIT_OPTION, IMMEDIATE_OPTION})

Processor = Callable[[Any], Any] | None


class CompiledStatement:
    """A direct statement compiled once for one dialect: its SQL, its bound
    parameters in order with their type processors, and (after its first run,
    from the cursor's description) the result columns' processors."""

    __slots__ = ("binds", "compiled", "results", "sql")

    def __init__(self, statement: Any, dialect: Any, column_keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=sorted(column_keys))
        self.compiled = compiled
        self.sql: str = compiled.string
        processors = compiled._bind_processors
        self.binds: list[tuple[str, Processor]] = [
            (name, processors.get(name)) for name in compiled.positiontup or ()
        ]
        self.results: tuple[tuple[Any, ...], list[Processor]] | None = None

    @classmethod
    def usable(
        cls, statement: Any, dialect: Any, column_keys: Sequence[str]
    ) -> CompiledStatement | None:
        """The compiled form, or None when running it takes more than binding its
        parameters in order: values rendered at execution time, or column defaults
        computed in Python (the statement then runs through ``Connection.execute``,
        whose execution context does that)."""
        compiled = cls(statement, dialect, column_keys)
        inner = compiled.compiled
        if not inner.positional or inner.literal_execute_params or inner.post_compile_params:
            return None
        if inner.insert_prefetch or inner.update_prefetch:
            return None
        return compiled

    def arguments(self, params: dict[str, Any]) -> tuple[Any, ...]:
        """``params`` as the driver takes them: in order, each through its type's processor."""
        values = self.compiled.construct_params(params, escape_names=False, _check=False)
        return tuple(
            values[name] if processor is None else processor(values[name])
            for name, processor in self.binds
        )

    def row(self, cursor: Any, dialect: Any) -> tuple[Any, ...] | None:
        """The cursor's first row, each value through its column type's processor."""
        raw = cursor.fetchone()
        if raw is None:
            return None
        coltypes = tuple(column[1] for column in cursor.description)
        if self.results is None or self.results[0] != coltypes:
            columns = self.compiled._result_columns
            self.results = (
                coltypes,
                [
                    column.type._cached_result_processor(dialect, coltype)
                    for column, coltype in zip(columns, coltypes, strict=True)
                ],
            )
        return tuple(
            value if processor is None else processor(value)
            for processor, value in zip(self.results[1], raw, strict=True)
        )


def takes_cursor_path(engine: Engine | Connection) -> bool:
    """Whether nothing listens at the ``Connection`` level of ``engine`` (or of a
    served connection), so that a statement may skip it."""
    dispatch = engine.dispatch
    if any(getattr(dispatch, name) for name in _CONNECTION_EVENTS):
        return False
    if engine.dialect.dispatch.handle_error:
        return False
    if isinstance(engine, Connection):
        # A served connection's isolation level is set on it already.
        return not engine._echo and not set(engine.get_execution_options()) - _OWN_OPTIONS
    options = engine.get_execution_options()
    if options.get("isolation_level", "AUTOCOMMIT") != "AUTOCOMMIT":
        return False  # set per checkout by Connection (only autocommit is honoured here)
    return not engine._should_log_info() and not set(options) - _OWN_OPTIONS


async def run_alone(
    engine: Engine,
    statement: Any,
    compiled: CompiledStatement | None,
    params: dict[str, Any],
    *,
    count: bool,
) -> tuple[Any, ...] | int | None:
    """Run one statement on a pooled connection of its own, as a transaction by itself;
    its first row, or with ``count`` the number of rows it matched."""
    if compiled is not None and takes_cursor_path(engine):
        return await greenlet_spawn(_alone_on_cursor, engine, compiled, params, count)
    want = _COUNT if count else _ROW
    return await greenlet_spawn(_alone_on_connection, engine, statement, params, want)


async def rows_alone(engine: Engine, statement: Any) -> tuple[list[str], list[Any]]:
    """Run a query on a pooled connection of its own, as a transaction by itself; its
    column names and every row, as a tuple."""
    outcome = await greenlet_spawn(_alone_on_connection, engine, statement, None, _ROWS)
    assert isinstance(outcome, tuple)
    keys, rows = outcome
    return keys, rows


# What _alone_on_connection returns: the first row, the matched row count, or
# (column names, every row).
_ROW, _COUNT, _ROWS = "row", "count", "rows"


def _alone_on_connection(
    engine: Engine, statement: Any, params: dict[str, Any] | None, want: str
) -> Any:
    connection = engine.connect()
    try:
        result = connection.execute(statement, params)
        outcome: Any = None
        if want == _ROWS:
            # Plain tuples, not Rows: the garbage collector stops tracking a tuple of plain
            # values at its first pass, a Row it keeps tracking. With a thousand wide rows
            # alive in each of ten concurrent reads, Rows cost more in collections than
            # the copy (a 31-column list read at c=10: 1.18x the ORM's time, level as tuples).
            outcome = (list(result.keys()), [tuple(row) for row in result])
        elif want == _COUNT:
            outcome = result.rowcount
        elif result.returns_rows:
            row = result.first()
            outcome = None if row is None else tuple(row)
        if not statement.is_select:
            connection.commit()
        # else the close below ends the read's transaction: one ROLLBACK, and the pool
        # is told so. After a COMMIT the pool would roll back once more on check-in
        # (a round trip on MySQL/MariaDB, a hand-off to the driver's thread on SQLite).
    except Exception:
        with contextlib.suppress(sa_exc.DBAPIError):
            connection.close()
        raise
    except BaseException:
        # Cancelled mid-statement: the connection may still be busy (SQLite runs
        # on in its thread) or halfway through the protocol; never pool it again.
        with contextlib.suppress(Exception):
            connection.invalidate()
            connection.close()
        raise
    connection.close()
    return outcome


def _alone_on_cursor(
    engine: Engine, compiled: CompiledStatement, params: dict[str, Any], count: bool
) -> tuple[Any, ...] | int | None:
    # An autocommit engine (PostgreSQL's autocommit_bind): the adapter's own flag,
    # so no BEGIN goes out. SQLite: its connections never BEGIN unless told
    # (_dialects), so a lone statement commits itself. Otherwise (MySQL): COMMIT.
    autocommit = engine.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    commit = not autocommit and engine.dialect.name != "sqlite"
    try:
        pooled = engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:
        # Wrapped as Connection wraps a failed connect (and the pool invalidated).
        Connection._handle_dbapi_exception_noconnection(error, engine.dialect, engine)
        raise
    adapted: Any = pooled.dbapi_connection
    try:
        if autocommit:
            adapted.autocommit = True
        outcome = execute_compiled(engine, pooled, compiled, params, count=count)
        if commit:
            adapted.commit()
        if autocommit:
            adapted.autocommit = False
    except Exception as error:
        _give_back_failed(pooled, error, autocommit=autocommit)
        raise
    except BaseException:
        # Cancelled mid-statement, as above. invalidate() checks the connection in
        # even when a second cancellation interrupts it.
        with contextlib.suppress(Exception):
            pooled.invalidate()
        raise
    # Nothing of a transaction is open: check in without the pool's reset ROLLBACK.
    pooled._close_special(transaction_reset=True)
    return outcome


def execute_compiled(
    engine: Engine,
    pooled: Any,
    compiled: CompiledStatement,
    params: dict[str, Any],
    *,
    count: bool,
) -> tuple[Any, ...] | int | None:
    """Run ``compiled`` on ``pooled``'s cursor; errors wrapped as ``Connection`` wraps them."""
    dialect = engine.dialect
    arguments = compiled.arguments(params)
    cursor = pooled.dbapi_connection.cursor()
    try:
        cursor.execute(compiled.sql, arguments)
        outcome: tuple[Any, ...] | int | None
        if count:
            outcome = int(cursor.rowcount)
        else:
            outcome = compiled.row(cursor, dialect) if cursor.description else None
    except dialect.loaded_dbapi.Error as error:
        _close_quietly(cursor)
        lost = dialect.is_disconnect(error, pooled.dbapi_connection, cursor)
        if lost:
            # As Connection does: connections as old as this one are suspect too.
            engine.pool._invalidate(pooled, error, _checkin=False)
        raise sa_exc.DBAPIError.instance(
            compiled.sql,
            arguments,
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=engine.hide_parameters,
            connection_invalidated=lost,
            dialect=dialect,
            ismulti=False,
        ) from error
    except Exception:
        _close_quietly(cursor)
        raise
    # A cancellation leaves the cursor to the connection's invalidation: closing it
    # would wait (on SQLite, behind the very statement the caller gave up on).
    _close_quietly(cursor)
    return outcome


def _close_quietly(cursor: Any) -> None:
    with contextlib.suppress(Exception):
        cursor.close()


def _give_back_failed(pooled: Any, error: Exception, *, autocommit: bool) -> None:
    """Return a connection whose statement failed: rolled back by the pool's reset, or
    thrown away when the connection itself was lost."""
    with contextlib.suppress(Exception):
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            pooled.invalidate(error.orig)
        elif autocommit:
            pooled.dbapi_connection.autocommit = False
        pooled.close()
