"""Fewer hand-offs to aiosqlite's thread: deferred BEGIN and SAVEPOINTs, one per statement.

aiosqlite runs every call in the connection's own thread, and each call is a
hand-off between threads. sqlrecord needs an explicit BEGIN (IMMEDIATE for
writers) on SQLite, and a SAVEPOINT around each write in a unit of work; sent on
their own they cost a hand-off each, as much as the statement they guard. Here
they wait on the connection and go out in the same hand-off as the next real
statement; a transaction that ends before any statement never sends its BEGIN,
and a COMMIT makes pending RELEASEs unnecessary.
"""

from __future__ import annotations

import collections
import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.util import await_only as await_

__all__ = [
    "DeferringConnection",
    "OneHopConnection",
    "OneHopCursor",
    "defer",
    "use_one_hop_cursors",
]

# Statements that change no data and return nothing: they can wait for the next one.
_DEFERRABLE = ("SAVEPOINT ", "RELEASE SAVEPOINT ")


class DeferringConnection(sqlite3.Connection):
    """``sqlite3.connect(..., factory=DeferringConnection)``; see :func:`defer`.

    Example:
        >>> connection = sqlite3.connect(":memory:", factory=DeferringConnection)
        >>> connection.isolation_level = None
        >>> defer(connection, "BEGIN")
        >>> connection.in_transaction
        False
        >>> connection.cursor().execute("SELECT 1").fetchone(), connection.in_transaction
        ((1,), True)
        >>> connection.rollback(); connection.close()
    """

    #: Statements to send, in order, before the next one (replaced, never mutated).
    pending: tuple[str, ...] = ()

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _DeferringCursor)

    def commit(self) -> None:
        # A COMMIT releases every savepoint: pending ones need not be sent.
        self.pending = ()
        super().commit()

    def rollback(self) -> None:
        self.pending = ()
        super().rollback()


class _DeferringCursor(sqlite3.Cursor):
    def _send_pending(self) -> None:
        connection: Any = self.connection
        pending = connection.pending
        if pending:
            connection.pending = ()
            for statement in pending:
                super().execute(statement)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        self._send_pending()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Any:
        self._send_pending()
        return super().executemany(sql, seq_of_parameters)


def defer(connection: Any, statement: str) -> None:
    """Have ``connection`` (a :class:`DeferringConnection`) send ``statement`` before
    its next one. Called from the event loop while the connection is idle; read in
    its thread by the next statement, which aiosqlite queues after this call."""
    connection.pending = (*connection.pending, statement)


# -- one hand-off per statement -------------------------------------------------
#
# SQLAlchemy's aiosqlite adapter makes four hand-offs per statement: create the
# cursor, execute, fetch the rows, close the cursor. Statements sqlrecord runs on
# SQLite are short, so the hand-offs are most of their time. This cursor does all
# four in one; server-side cursors (``stream``) keep SQLAlchemy's own.


def _run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """In the driver's thread: execute, fetch every row, close."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor:
    """A DBAPI cursor for SQLAlchemy's aiosqlite adapter that runs each statement,
    fetch and close included, in one hand-off to the driver's thread.

    Self-contained: SQLAlchemy's own adapter cursors differ between 2.0 and 2.1
    (2.1 builds on ``connectors.asyncio``), so this one subclasses neither and
    keeps its results itself.
    """

    server_side = False
    __slots__ = (
        "_adapt_connection",
        "_connection",
        "_rows",
        "arraysize",
        "description",
        "lastrowid",
        "rowcount",
    )

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection  # aiosqlite.Connection
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        sqlite_connection = self._connection._connection  # None once closed
        deferring = isinstance(sqlite_connection, DeferringConnection)
        if deferring and not parameters and operation.startswith(_DEFERRABLE):
            self.description, self.rowcount, self.lastrowid = None, -1, None
            self._rows.clear()
            defer(sqlite_connection, operation)
            return
        self._send(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._send(operation, seq_of_parameters, many=True)

    def _send(self, operation: Any, parameters: Any, *, many: bool) -> None:
        try:
            await_(self._run(operation, parameters, many=many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        driver = self._connection  # aiosqlite.Connection
        # SQLAlchemy 2.1 runs one call at a time on a connection under this lock;
        # 2.0 has none (aiosqlite's queue keeps the calls in order).
        mutex = getattr(self._adapt_connection, "_execute_mutex", None)
        async with mutex if mutex is not None else contextlib.nullcontext():
            outcome = await driver._execute(
                _run_statement, driver._conn, operation, parameters, many
            )
        self.description, rows, self.rowcount, self.lastrowid = outcome
        self._rows = collections.deque(rows)

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        wanted = self.arraysize if size is None else size
        return [rows.popleft() for _ in range(min(wanted, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    async def _async_soft_close(self) -> None:
        return  # nothing is open in the driver's thread between statements

    def close(self) -> None:
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter, with :class:`OneHopCursor`, and no
    hand-off for a COMMIT or ROLLBACK when SQLite has no transaction open."""

    __slots__ = ()

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # ``stream()``: SQLAlchemy's own, which fetches as it goes
            return super().cursor(server_side=True)
        return OneHopCursor(self)

    def commit(self) -> None:
        if self._nothing_to_end():
            return
        super().commit()

    def rollback(self) -> None:
        if self._nothing_to_end():
            return
        super().rollback()

    def _nothing_to_end(self) -> bool:
        # Read while the driver's thread is idle for this connection (SQLAlchemy
        # runs one call at a time on it); sqlite3 reads the flag without a lock.
        sqlite_connection = self._connection._connection
        if not isinstance(sqlite_connection, DeferringConnection):
            return False
        if sqlite_connection.in_transaction:
            return False
        sqlite_connection.pending = ()  # a transaction without statements
        return True


def use_one_hop_cursors(dbapi: Any) -> None:
    """Make the connections of an engine's aiosqlite DBAPI adapter (one per engine)
    use :class:`OneHopCursor`."""
    plain_connect = dbapi.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        adapted = plain_connect(*args, **kwargs)
        adapted.__class__ = OneHopConnection  # same layout: a subclass without slots
        return adapted

    dbapi.connect = connect
