"""Private names of aiosqlite and of SQLAlchemy's aiosqlite adapter.

aiosqlite runs each call in the connection's own thread; SQLAlchemy adapts its
connection to the DBAPI with ``AsyncAdapt_aiosqlite_connection``, a class of
``sqlalchemy.dialects.sqlite.aiosqlite`` that is not documented API. The
one-hand-off cursor and the lock release below need both from the inside.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from aiosqlite.core import _STOP_RUNNING_SENTINEL
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.util import await_only

from .._sqlite_connection import DEFERRABLE, DeferringConnection, defer, run_statement

__all__ = [
    "OneHopConnection",
    "OneHopCursor",
    "alone_in_autocommit",
    "one_hop_statement",
    "release_sqlite_lock",
    "released_threads_ended",
    "sent_as_by_its_cursor",
    "sqlite3_connection_of",
    "use_one_hop_cursors",
]

#: The driver threads of the connections :func:`release_sqlite_lock` gave up, while they
#: live (a running thread is held by ``threading`` itself).
_RELEASED_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def sqlite3_connection_of(driver: Any) -> sqlite3.Connection | None:
    """The ``sqlite3.Connection`` inside ``driver`` (an ``aiosqlite.Connection``, as
    SQLAlchemy's ``driver_connection`` gives it); ``None`` once closed, or before
    the driver's thread opened it.

    Reads aiosqlite's private ``_connection``: aiosqlite hands the sqlite3
    connection to nobody, and sqlrecord queues deferred statements on it.

    Example:
        >>> class Closed:  # stands in for a closed aiosqlite.Connection
        ...     _connection = None
        >>> sqlite3_connection_of(Closed()) is None
        True
    """
    connection: sqlite3.Connection | None = getattr(driver, "_connection", None)
    return connection


def release_sqlite_lock(dbapi_connection: Any) -> None:
    """Make an SQLite connection that is being thrown away let go of the database now,
    and close it without anyone waiting for its thread.

    A unit of work cancelled mid-statement leaves the statement running in the
    driver's thread, inside an open transaction; or waiting there for another
    writer's lock, which ``interrupt()`` does not cut short. Closing such a
    connection normally queues the close behind that statement and waits for it:
    the cancelled caller would sit out the busy timeout. And sqlite3 only turns a
    connection with live statements into a "zombie" that keeps its transaction,
    and its lock, until the garbage collector finalises them. So: interrupt the
    statement (thread-safe), queue a ROLLBACK and the close on the driver's thread,
    and tell aiosqlite the connection is gone, so that SQLAlchemy's close returns at
    once and the thread ends after the queued work. A statement still queued for the
    thread, not yet started, is refused when its turn comes (``given_up``, read by
    ``_sqlite_connection.run_statement``): ``interrupt()`` does not reach it.

    Uses aiosqlite's private ``_connection``, its work queue ``_tx``, its ``_running``
    flag and stop sentinel and, before aiosqlite 0.22.1 (which made it ``stop()``),
    ``_stop_running()``: aiosqlite's public ``close()`` waits for the running
    statement. Does nothing when one is missing.

    From aiosqlite 0.22.1 the queued work carries no future: nobody waits for it, and
    a future would have the thread call back into an event loop that may be closed
    by the time the statement gives way (a test's loop, at its end). ``stop()`` would
    queue one too, so the queued work ends the thread itself.
    """
    driver: Any = getattr(dbapi_connection, "driver_connection", None)  # aiosqlite.Connection
    sqlite_connection = sqlite3_connection_of(driver)
    work_queue = getattr(driver, "_tx", None)  # the queue aiosqlite's thread serves
    stop_before_0_22_1 = getattr(driver, "_stop_running", None)
    if sqlite_connection is None or work_queue is None:
        return
    if hasattr(driver, "stop"):
        done: asyncio.Future[None] | None = None
    elif stop_before_0_22_1 is not None:
        try:  # aiosqlite's thread hands each result to a future, which must be one
            done = asyncio.get_running_loop().create_future()
        except RuntimeError:  # no event loop here
            return
    else:
        return
    if isinstance(sqlite_connection, DeferringConnection):
        sqlite_connection.given_up = True  # a statement not yet started never starts
    # A running statement stops; one waiting for another writer's lock waits on (the
    # wait is not cut short) and stops when it gets the lock.
    sqlite_connection.interrupt()

    def rollback_close_and_stop() -> object:
        # The ROLLBACK ends the transaction even while statements are alive.
        with contextlib.suppress(Exception):  # never begun, or already closed
            sqlite_connection.rollback()
        with contextlib.suppress(Exception):
            sqlite_connection.close()
        return _STOP_RUNNING_SENTINEL  # from 0.22.1: the thread ends after this

    work_queue.put_nowait((done, rollback_close_and_stop))
    thread = getattr(driver, "_thread", driver)  # aiosqlite 0.22's; before, the connection
    if isinstance(thread, threading.Thread):
        _RELEASED_THREADS.add(thread)
    driver._connection = None  # aiosqlite's close() is now a no-op that does not wait
    driver._running = False
    if stop_before_0_22_1 is not None:
        stop_before_0_22_1()  # its thread ends once the queue is done


async def released_threads_ended(within: float) -> bool:
    """Wait until the driver thread of every connection :func:`release_sqlite_lock` gave
    up has ended, waiting at most ``within`` seconds; ``True`` when none is left.

    Such a thread may still be running the statement its caller gave up on: one that
    waits for another writer's lock runs when it gets the lock, within the busy
    timeout. When it ends, it hands its result to the event loop the statement was
    sent from (aiosqlite's private ``_thread``, or the connection itself before 0.22,
    which was the thread); waiting here keeps that loop running until then.

    Example:
        >>> run(released_threads_ended(within=1.0))
        True
    """
    deadline = asyncio.get_running_loop().time() + within
    while any(thread.is_alive() for thread in list(_RELEASED_THREADS)):
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# -- one hand-off per statement -------------------------------------------------
#
# SQLAlchemy's aiosqlite adapter makes four hand-offs per statement: create the
# cursor, execute, fetch the rows, close the cursor. Statements sqlrecord runs on
# SQLite are short, so the hand-offs are most of their time. This cursor does all
# four in one (``_sqlite_connection.run_statement``); server-side cursors
# (``stream``) keep SQLAlchemy's own.


class OneHopCursor:
    """A DBAPI cursor for SQLAlchemy's aiosqlite adapter that runs each statement,
    fetch and close included, in one hand-off to the driver's thread.

    Self-contained: SQLAlchemy's own adapter cursors differ between 2.0 and 2.1
    (2.1 builds on ``connectors.asyncio``), so this one subclasses neither and
    keeps its results itself. Private names it uses: the adapter's
    ``_handle_exception`` (turns a driver error into the DBAPI error SQLAlchemy
    wraps) and ``_execute_mutex`` (2.1's one-call-at-a-time lock), aiosqlite's
    ``_execute`` (the one way to run a function in its thread) and ``_conn``;
    SQLAlchemy calls the cursor's ``_async_soft_close``.
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
        self._connection = adapt_connection.driver_connection  # aiosqlite.Connection
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        sqlite_connection = sqlite3_connection_of(self._connection)  # None once closed
        deferring = isinstance(sqlite_connection, DeferringConnection)
        if deferring and not parameters and operation.startswith(DEFERRABLE):
            self.description, self.rowcount, self.lastrowid = None, -1, None
            self._rows.clear()
            defer(sqlite_connection, operation)
            return
        self._send(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._send(operation, seq_of_parameters, many=True)

    def _send(self, operation: Any, parameters: Any, *, many: bool) -> None:
        try:
            await_only(self._run(operation, parameters, many=many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        driver = self._connection  # aiosqlite.Connection
        # SQLAlchemy 2.1 runs one call at a time on a connection under this lock;
        # 2.0 has none (aiosqlite's queue keeps the calls in order).
        mutex = getattr(self._adapt_connection, "_execute_mutex", None)
        async with mutex if mutex is not None else contextlib.nullcontext():
            outcome = await driver._execute(
                run_statement, driver._conn, operation, parameters, many
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
    hand-off for a COMMIT or ROLLBACK when SQLite has no transaction open.

    Subclasses the adapter class, which is not documented API: a dialect has no
    public hook for the cursor class its adapter builds.
    """

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
        sqlite_connection = sqlite3_connection_of(self.driver_connection)
        if not isinstance(sqlite_connection, DeferringConnection):
            return False
        if sqlite_connection.in_transaction:
            return False
        sqlite_connection.pending = ()  # a transaction without statements
        return True


def use_one_hop_cursors(dbapi: Any) -> None:
    """Make the connections of an engine's aiosqlite DBAPI adapter (one per engine,
    the dialect's ``loaded_dbapi``) use :class:`OneHopCursor`.

    Replaces the adapter module's ``connect`` with one that turns each adapted
    connection into a :class:`OneHopConnection` (its ``__class__`` swapped: the
    adapter builds the connection itself, with no public hook for its class).
    """
    plain_connect = dbapi.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        adapted = plain_connect(*args, **kwargs)
        adapted.__class__ = OneHopConnection  # same layout: a subclass without slots
        return adapted

    dbapi.connect = connect


def alone_in_autocommit(adapter: Any) -> bool:
    """Whether the adapted connection ``adapter`` is outside any transaction, with nothing
    deferred to send (``DeferringConnection``, as sqlrecord's engines open them), so
    that a statement sent alone commits itself.

    Example:
        >>> class Adapter:  # as SQLAlchemy's: the aiosqlite connection
        ...     driver_connection = None
        >>> alone_in_autocommit(Adapter())
        False
    """
    deferring = _deferring(adapter)
    return deferring is not None and not deferring.in_transaction and not deferring.pending


def sent_as_by_its_cursor(adapter: Any) -> bool:
    """Whether a statement sent alone on the adapted connection ``adapter`` goes out in the
    transaction as its own cursor would send it there: a ``DeferringConnection`` without
    sqlite3's implicit transactions, which sends what it deferred (the BEGIN SQLAlchemy's
    begin asked for, a SAVEPOINT) first, in the same hand-off, whoever sends the statement.

    Example:
        >>> class Adapter:  # as SQLAlchemy's: the aiosqlite connection
        ...     driver_connection = None
        >>> sent_as_by_its_cursor(Adapter())
        False
    """
    return _deferring(adapter) is not None


def _deferring(adapter: Any) -> DeferringConnection | None:
    """The ``DeferringConnection`` under ``adapter``, without sqlite3's implicit
    transactions (as sqlrecord's engines open it); ``None`` for any other."""
    sqlite_connection = sqlite3_connection_of(adapter.driver_connection)
    if not isinstance(sqlite_connection, DeferringConnection):
        return None
    return sqlite_connection if sqlite_connection.isolation_level is None else None


async def one_hop_statement(
    adapter: Any, sql: str, parameters: Any
) -> tuple[Any, list[Any], int, Any]:
    """Run ``sql`` with ``parameters`` on the adapted connection ``adapter`` as
    :class:`OneHopCursor` runs it, in one hand-off to the driver's thread: its
    description, rows, row count and last row id. The driver's errors are raised as
    they are (``sqlalchemy_connection.adapted_driver_error`` adapts them).

    Example:
        >>> import sqlite3
        >>> class Driver:  # as aiosqlite's connection: a function run in its thread
        ...     _conn = sqlite3.connect(":memory:")
        ...     async def _execute(self, function, *args): return function(*args)
        >>> class Adapter:
        ...     driver_connection = Driver()
        >>> run(one_hop_statement(Adapter(), "SELECT ?", (7,)))[1:3]
        ([(7,)], -1)
    """
    driver = adapter.driver_connection
    mutex = getattr(adapter, "_execute_mutex", None)  # as OneHopCursor._run
    async with mutex if mutex is not None else contextlib.nullcontext():
        outcome: tuple[Any, list[Any], int, Any] = await driver._execute(
            run_statement, driver._conn, sql, parameters, False
        )
    return outcome
