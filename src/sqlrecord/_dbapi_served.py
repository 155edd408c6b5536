"""A direct statement in a served session's transaction, on its connection's cursor.

The served-session side of ``_dbapi_path``: getting the session's connection and
running the statement take one greenlet trip, and with ``savepoint=True`` the
statement's own SAVEPOINT, RELEASE or ROLLBACK TO go in the same trip, past the
ORM's nested-transaction bookkeeping. When something listens at the ``Connection``
level, the statement (and a Core-level SAVEPOINT) runs through ``Connection``.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session

from ._dbapi_path import CompiledStatement, execute_compiled, takes_cursor_path

__all__ = ["run_in_transaction"]


def run_in_transaction(
    session: Session,
    mapper: Mapper[Any],
    statement: Any,
    compiled: CompiledStatement | None,
    params: dict[str, Any],
    savepoint: bool = False,
) -> tuple[Any, ...] | None:
    """Run one statement on a served session's connection for ``mapper``, in its
    transaction; its row. Called in a greenlet (``greenlet_spawn``): getting the
    connection and running the statement take one trip in and out.

    ``savepoint``: inside a SAVEPOINT of its own, begun and released (after a
    ROLLBACK TO, if the statement failed) in the same trip; the session never sees
    it. When the statement fails, the transaction is as it was before it, unless the
    ROLLBACK TO failed too: the error then says ``connection_invalidated`` (the
    connection is thrown away).
    """
    connection = session.connection(bind_arguments={"mapper": mapper})
    if compiled is not None and takes_cursor_path(connection):
        return _in_transaction_on_cursor(connection, compiled, params, savepoint)
    if savepoint:
        return _in_savepoint_on_connection(connection, statement, params)
    return _in_transaction_on_connection(connection, statement, params)


def _in_transaction_on_connection(
    connection: Connection, statement: Any, params: dict[str, Any]
) -> tuple[Any, ...] | None:
    result = connection.execute(statement, params)
    if not result.returns_rows:
        return None
    row = result.first()
    return None if row is None else tuple(row)


def _in_savepoint_on_connection(
    connection: Connection, statement: Any, params: dict[str, Any]
) -> tuple[Any, ...] | None:
    # A Core-level SAVEPOINT on the session's connection, ended before returning.
    nested = connection.begin_nested()
    try:
        outcome = _in_transaction_on_connection(connection, statement, params)
    except Exception as error:
        try:
            nested.rollback()
        except sa_exc.DBAPIError:
            _savepoint_lost(connection, error)
        raise
    nested.commit()
    return outcome


def _savepoint_lost(connection: Connection, error: Exception) -> None:
    """The ROLLBACK TO SAVEPOINT after ``error`` failed: the transaction is in no known
    state, so the connection goes, and ``error`` says so."""
    with contextlib.suppress(Exception):
        connection.invalidate()
    if isinstance(error, sa_exc.DBAPIError):
        error.connection_invalidated = True


# The SAVEPOINT of _in_savepoint: released before the trip ends, so one name serves
# every write (and never meets the ORM's sa_savepoint_N).
_SAVEPOINT = "sqlrecord_write"
_SAVEPOINT_SQL = {
    "begin": f"SAVEPOINT {_SAVEPOINT}",
    "release": f"RELEASE SAVEPOINT {_SAVEPOINT}",
    "undo": f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}",
}
_savepoint_statements: weakref.WeakKeyDictionary[Any, dict[str, CompiledStatement]] = (
    weakref.WeakKeyDictionary()
)


def _in_savepoint(
    connection: Connection, compiled: CompiledStatement, params: dict[str, Any]
) -> tuple[Any, ...] | None:
    engine, pooled = connection.engine, connection.connection
    marks = _savepoint_statements.get(engine.dialect)
    if marks is None:
        marks = {
            verb: CompiledStatement(text(sql), engine.dialect, ())
            for verb, sql in _SAVEPOINT_SQL.items()
        }
        _savepoint_statements[engine.dialect] = marks
    execute_compiled(engine, pooled, marks["begin"], {}, count=False)
    try:
        outcome = execute_compiled(engine, pooled, compiled, params, count=False)
    except sa_exc.DBAPIError as error:
        if not error.connection_invalidated:
            try:
                # ROLLBACK TO keeps the savepoint: released too, so that failed
                # writes leave none behind in a long unit.
                execute_compiled(engine, pooled, marks["undo"], {}, count=False)
                execute_compiled(engine, pooled, marks["release"], {}, count=False)
            except sa_exc.DBAPIError:
                _savepoint_lost(connection, error)
        raise
    execute_compiled(engine, pooled, marks["release"], {}, count=False)
    assert not isinstance(outcome, int)
    return outcome


def _in_transaction_on_cursor(
    connection: Connection,
    compiled: CompiledStatement,
    params: dict[str, Any],
    savepoint: bool = False,
) -> tuple[Any, ...] | None:
    pooled = connection.connection
    outcome: tuple[Any, ...] | int | None
    try:
        if savepoint:
            outcome = _in_savepoint(connection, compiled, params)
        else:
            outcome = execute_compiled(connection.engine, pooled, compiled, params, count=False)
    except sa_exc.DBAPIError as error:
        if error.connection_invalidated:
            connection.invalidate(error.orig)
        raise
    except BaseException as error:
        if not isinstance(error, Exception):
            # Cancelled mid-statement: as Connection.execute does, the connection is
            # invalidated now, so the unit's cleanup (a ROLLBACK TO SAVEPOINT) fails
            # at once instead of queueing behind the statement the caller gave up on.
            with contextlib.suppress(Exception):
                connection.invalidate()
        raise
    assert not isinstance(outcome, int)
    return outcome
