"""Fewer hand-offs to aiosqlite's thread: deferred BEGIN and SAVEPOINTs, one per statement.

aiosqlite runs every call in the connection's own thread, and each call is a
hand-off between threads. sqlrecord needs an explicit BEGIN (IMMEDIATE for
writers) on SQLite, and a SAVEPOINT around each write in a unit of work; sent on
their own they cost a hand-off each, as much as the statement they guard. Here
they wait on the connection and go out in the same hand-off as the next real
statement; a transaction that ends before any statement never sends its BEGIN,
and a COMMIT makes pending RELEASEs unnecessary.

The connection also keeps what ``_sqlite_locks.py`` asks of it: its file, whether
that is in WAL mode, the task that holds it, and how its transaction began.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import URL

__all__ = [
    "DEFERRABLE",
    "DeferringConnection",
    "begin",
    "defer",
    "holds_write_lock",
    "run_statement",
    "sqlite_file",
]

#: Statements that change no data and return nothing: they can wait for the next one.
DEFERRABLE = ("SAVEPOINT ", "RELEASE SAVEPOINT ")


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
    #: Set when the connection opens (``_dialects.py``): the file's absolute path
    #: (``None`` in memory), and whether the file is in WAL mode.
    file: str | None = None
    wal: bool = False
    #: The task that has the connection checked out, while it does (``_sqlite_locks.py``).
    owner: object | None = None
    #: Of the transaction begun last (:func:`begin`): BEGIN IMMEDIATE, and the
    #: connection's ``total_changes`` when it began.
    immediate: bool = False
    changes_at_begin: int = 0
    #: Set when the connection is given up mid-statement (``release_sqlite_lock``): a
    #: statement still queued for its thread must not start.
    given_up: bool = False

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


def sqlite_file(url: URL) -> str | None:
    """The absolute path of the SQLite file ``url`` opens; ``None`` for an in-memory database.

    Example:
        >>> from sqlalchemy.engine import make_url
        >>> sqlite_file(make_url("sqlite+aiosqlite://")) is None
        True
        >>> sqlite_file(make_url("sqlite+aiosqlite:///app.db")) == os.path.realpath("app.db")
        True
    """
    database = url.database or ""
    if database.startswith("file:"):  # a URI filename (?uri=true)
        database = database[len("file:") :].split("?", 1)[0]
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    return os.path.realpath(database)


def begin(connection: DeferringConnection, *, immediate: bool) -> None:
    """Have ``connection`` begin a transaction with its next statement, and remember
    how it began (for :func:`holds_write_lock`).

    Example:
        >>> connection = sqlite3.connect(":memory:", factory=DeferringConnection)
        >>> connection.isolation_level = None
        >>> begin(connection, immediate=True)
        >>> connection.pending, holds_write_lock(connection)
        (('BEGIN IMMEDIATE',), False)
        >>> _ = connection.cursor().execute("SELECT 1")
        >>> holds_write_lock(connection)
        True
        >>> connection.rollback(); connection.close()
    """
    connection.immediate = immediate
    connection.changes_at_begin = connection.total_changes
    defer(connection, "BEGIN IMMEDIATE" if immediate else "BEGIN")


def holds_write_lock(connection: DeferringConnection) -> bool:
    """Whether ``connection``'s open transaction holds SQLite's write lock, as far as
    sqlite3 lets one tell: it began with BEGIN IMMEDIATE, or it has changed rows.

    A transaction whose only writes changed no row (an UPDATE that matched none, a
    CREATE TABLE) holds the lock too, unseen here. Read from the event loop while the
    connection is idle (its task is the one asking).
    """
    if not connection.in_transaction:
        return False
    return connection.immediate or connection.total_changes != connection.changes_at_begin


def defer(connection: Any, statement: str) -> None:
    """Have ``connection`` (a :class:`DeferringConnection`) send ``statement`` before
    its next one. Called from the event loop while the connection is idle; read in
    its thread by the next statement, which aiosqlite queues after this call."""
    connection.pending = (*connection.pending, statement)


# -- one hand-off per statement -------------------------------------------------
#
# SQLAlchemy's aiosqlite adapter makes four hand-offs per statement: create the
# cursor, execute, fetch the rows, close the cursor. sqlrecord's cursor for it
# (``_internals.OneHopCursor``, since it plugs into the adapter's private parts)
# runs this function in the driver's thread instead: all four in one.


def run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """In the driver's thread: execute, fetch every row, close.

    Example:
        >>> connection = sqlite3.connect(":memory:")
        >>> description, rows, _, _ = run_statement(connection, "SELECT ?", (7,), False)
        >>> [column[0] for column in description], rows
        (['?'], [(7,)])
        >>> connection.close()
    """
    if getattr(connection, "given_up", False):
        # Its caller has gone (cancelled); interrupt() reaches only a running statement.
        raise sqlite3.OperationalError("interrupted")
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
