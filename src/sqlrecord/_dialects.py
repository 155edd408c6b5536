"""Per-dialect engine settings that sqlrecord's guarantees depend on."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ._sqlite_connection import DeferringConnection, defer, use_one_hop_cursors
from ._text_match import SQLITE_FUNCTIONS

__all__ = [
    "AUTOCOMMIT_OPTION",
    "IMMEDIATE_OPTION",
    "adapt_url",
    "autocommit_bind",
    "dialect_connect_args",
    "holds_connection",
    "install_dialect_fixes",
    "prepare_write_session",
    "release_sqlite_lock",
]

#: Execution option that makes SQLite start the transaction with BEGIN IMMEDIATE.
IMMEDIATE_OPTION = "sqlrecord_begin_immediate"


#: Execution option of an own autocommit session's connection on SQLite: no BEGIN.
AUTOCOMMIT_OPTION = "sqlrecord_autocommit"


def autocommit_bind(engine: AsyncEngine) -> AsyncEngine:
    """The engine for sqlrecord's own read-only and single-statement sessions: each
    statement a transaction by itself. On SQLite, no BEGIN is sent (so no COMMIT or
    ROLLBACK either); on PostgreSQL, autocommit. MySQL/MariaDB: the engine itself (a
    round trip to switch autocommit on and another to switch it off would cost more
    than they save)."""
    name = engine.dialect.name
    if name == "sqlite":
        return engine.execution_options(**{AUTOCOMMIT_OPTION: True})
    if name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def holds_connection(session: AsyncSession) -> bool:
    """Whether ``session`` has checked out a connection (sent or begun anything).

    ``in_transaction()`` does not tell: adding an object begins the session's
    transaction before any connection is needed.
    """
    transaction = session.sync_session.get_transaction()
    if transaction is None:
        return False
    if hasattr(transaction, "connections"):  # SQLAlchemy >= 2.1.7
        return bool(transaction.connections)
    # SQLAlchemy 2.0.x and 2.1.0 to 2.1.6: the dict that property reads (the root
    # transaction is its own boundary).
    return bool(transaction._connections)


async def prepare_write_session(session: AsyncSession) -> None:
    """Before the first statement of a writing session: on SQLite, BEGIN IMMEDIATE."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "sqlite" and not holds_connection(session):
        await session.connection(execution_options={IMMEDIATE_OPTION: True})


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
    once and the thread ends after the queued work.
    """
    driver: Any = getattr(dbapi_connection, "driver_connection", None)  # aiosqlite.Connection
    sqlite_connection = getattr(driver, "_connection", None)  # sqlite3.Connection
    work_queue = getattr(driver, "_tx", None)  # the queue aiosqlite's thread serves
    # Ends the thread after the work queued before: stop() from aiosqlite 0.22.1,
    # _stop_running() before it.
    stop = getattr(driver, "stop", None) or getattr(driver, "_stop_running", None)
    if sqlite_connection is None or work_queue is None or stop is None:
        return
    try:
        # aiosqlite's thread hands each result to a future (before 0.22.1 it must be one).
        done: asyncio.Future[None] | None = asyncio.get_running_loop().create_future()
    except RuntimeError:  # no event loop here
        done = None
    if done is None and not hasattr(driver, "stop"):
        return
    sqlite_connection.interrupt()

    def rollback_and_close() -> None:
        # The ROLLBACK ends the transaction even while statements are alive.
        with contextlib.suppress(Exception):  # never begun, or already closed
            sqlite_connection.rollback()
        with contextlib.suppress(Exception):
            sqlite_connection.close()

    work_queue.put_nowait((done, rollback_and_close))
    driver._connection = None  # aiosqlite's close() is now a no-op that does not wait
    stop()  # and its thread ends once the queue is done


def adapt_url(url: URL) -> URL:
    """MySQL/MariaDB: ask for utf8mb4 unless the URL names a charset."""
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        return url.update_query_dict({"charset": "utf8mb4"})
    return url


def dialect_connect_args(url: URL) -> dict[str, Any]:
    """SQLite connections are used from the driver's worker thread."""
    if url.get_backend_name() == "sqlite":
        # timeout: how long a writer waits for another's lock before giving up.
        return {"check_same_thread": False, "timeout": 30, "factory": DeferringConnection}
    return {}


def install_dialect_fixes(engine: AsyncEngine) -> None:
    """Make each dialect behave the way sqlrecord's guarantees need."""
    sync_engine = engine.sync_engine
    backend = sync_engine.dialect.name
    if backend == "sqlite":
        use_one_hop_cursors(sync_engine.dialect.loaded_dbapi)

        # The sqlite3 module opens transactions lazily and breaks SAVEPOINT;
        # take over: no implicit transactions, an explicit BEGIN, and foreign
        # keys enforced as on the other databases.
        @event.listens_for(sync_engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            for name, (arity, function) in SQLITE_FUNCTIONS.items():
                dbapi_connection.create_function(name, arity, function, deterministic=True)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(sync_engine, "checkout")
        def _sqlite_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            # A connection whose work was cancelled can come back while SQLite still
            # runs the statement in its thread; never hand it out mid-transaction.
            driver = getattr(dbapi_connection, "driver_connection", None)
            if getattr(driver, "in_transaction", False):
                dbapi_connection.rollback()

        @event.listens_for(sync_engine, "invalidate")
        def _sqlite_invalidate(dbapi_connection: Any, _record: Any, _error: Any) -> None:
            release_sqlite_lock(dbapi_connection)

        @event.listens_for(sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # A writing unit of work takes the write lock up front: two deferred
            # transactions that both read and then write would deadlock, and
            # SQLite answers that with "database is locked" instead of waiting.
            # The BEGIN goes out with the first statement (_sqlite_connection.py).
            options = connection.get_execution_options()
            if options.get(AUTOCOMMIT_OPTION):
                return
            sqlite_connection = connection.connection.driver_connection._connection
            begin = "BEGIN IMMEDIATE" if options.get(IMMEDIATE_OPTION) else "BEGIN"
            if isinstance(sqlite_connection, DeferringConnection):
                defer(sqlite_connection, begin)
            else:  # connect_args named another sqlite3 connection factory
                connection.exec_driver_sql(begin)

    elif backend in ("mysql", "mariadb"):
        # Timestamps are stored as UTC everywhere; MySQL's NOW() follows the
        # session time zone, so pin it.
        @event.listens_for(sync_engine, "connect")
        def _mysql_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET time_zone = '+00:00'")
            cursor.close()
