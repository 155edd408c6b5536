"""Per-dialect engine settings that sqlrecord's guarantees depend on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from ._begin import AUTOCOMMIT_OPTION, IMMEDIATE_OPTION
from ._internals import (
    release_sqlite_lock,
    released_threads_ended,
    sqlite3_connection_of,
    use_one_hop_cursors,
)
from ._mysql_transactions import end_open_transactions_only
from ._own_listeners import mark_own
from ._sqlite_connection import DeferringConnection, begin, sqlite_file
from ._sqlite_locks import note_checkin, note_checkout
from ._text_match import SQLITE_FUNCTIONS

__all__ = ["adapt_url", "dialect_connect_args", "install_dialect_fixes", "wait_for_given_up_work"]

#: How long :func:`wait_for_given_up_work` waits at most: longer than the busy timeout
#: sqlrecord sets (5 s), the longest a given-up statement waits for the write lock.
GIVEN_UP_WORK_SECONDS = 10.0


def adapt_url(url: URL) -> URL:
    """MySQL/MariaDB: ask for utf8mb4 unless the URL names a charset."""
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        return url.update_query_dict({"charset": "utf8mb4"})
    return url


def dialect_connect_args(url: URL) -> dict[str, Any]:
    """SQLite connections are used from the driver's worker thread (the busy timeout
    is a pragma, ``_sqlite_pragmas.py``)."""
    if url.get_backend_name() == "sqlite":
        return {"check_same_thread": False, "factory": DeferringConnection}
    return {}


async def wait_for_given_up_work(engine: AsyncEngine) -> None:
    """SQLite: wait, at most :data:`GIVEN_UP_WORK_SECONDS`, for the statements of the
    connections given up mid-statement (cancelled callers) to end in their threads.

    A statement that was waiting for another writer's lock when its caller gave up
    still runs if it gets the lock within the busy timeout (``interrupt()`` does not
    reach a wait). A disposed database must not be written to afterwards, and each
    thread ends by handing its result to the event loop, which must still be open.

    Example:
        >>> run(wait_for_given_up_work(db.engine))  # nothing given up: returns at once
    """
    if engine.dialect.name == "sqlite":
        await released_threads_ended(GIVEN_UP_WORK_SECONDS)


def install_dialect_fixes(
    engine: AsyncEngine,
    *,
    sqlite_pragmas: tuple[tuple[str, str], ...] = (),
) -> None:
    """Make each dialect behave the way sqlrecord's guarantees need; on SQLite, run
    ``sqlite_pragmas`` (``_sqlite_pragmas.sqlite_pragmas``) on every new connection."""
    sync_engine = engine.sync_engine
    backend = sync_engine.dialect.name
    if backend == "sqlite":
        use_one_hop_cursors(sync_engine.dialect.loaded_dbapi)
        file = sqlite_file(sync_engine.url)

        # The sqlite3 module opens transactions lazily and breaks SAVEPOINT;
        # take over: no implicit transactions, an explicit BEGIN. Then the
        # pragmas: every pooled connection, the autocommit engine's included
        # (it shares the pool), is set up alike.
        @event.listens_for(sync_engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            try:
                _set_up(dbapi_connection)
            except BaseException:
                # SQLAlchemy's pool drops a new connection whose set-up failed (its
                # call cancelled meanwhile) without closing it; its thread would live on
                # until the garbage collector found it.
                release_sqlite_lock(dbapi_connection)
                raise

        def _set_up(dbapi_connection: Any) -> None:
            dbapi_connection.isolation_level = None
            for name, (arity, function) in SQLITE_FUNCTIONS.items():
                dbapi_connection.create_function(name, arity, function, deterministic=True)
            cursor = dbapi_connection.cursor()
            journal = None
            for name, value in sqlite_pragmas:
                cursor.execute(f"PRAGMA {name}={value}")
                if name == "journal_mode":  # SQLite answers with the mode it is in now
                    journal = cursor.fetchone()
            sqlite_connection = sqlite3_connection_of(dbapi_connection.driver_connection)
            if isinstance(sqlite_connection, DeferringConnection) and file is not None:
                if journal is None:
                    cursor.execute("PRAGMA journal_mode")
                    journal = cursor.fetchone()
                sqlite_connection.file = file
                sqlite_connection.wal = str(journal[0]).lower() == "wal"
            cursor.close()

        @event.listens_for(sync_engine, "checkout")
        def _sqlite_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            # A connection whose work was cancelled can come back while SQLite still
            # runs the statement in its thread; never hand it out mid-transaction.
            driver = getattr(dbapi_connection, "driver_connection", None)
            if getattr(driver, "in_transaction", False):
                dbapi_connection.rollback()
            note_checkout(sqlite3_connection_of(driver), record)

        @event.listens_for(sync_engine, "checkin")
        def _sqlite_checkin(_dbapi_connection: Any, record: Any) -> None:
            note_checkin(record)

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
            sqlite_connection = sqlite3_connection_of(connection.connection.driver_connection)
            immediate = bool(options.get(IMMEDIATE_OPTION))
            if isinstance(sqlite_connection, DeferringConnection):
                begin(sqlite_connection, immediate=immediate)
            else:  # connect_args named another sqlite3 connection factory
                connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        mark_own(_sqlite_begin, silent_under=AUTOCOMMIT_OPTION)

    elif backend in ("mysql", "mariadb"):
        # Timestamps are stored as UTC everywhere; MySQL's NOW() follows the
        # session time zone, so pin it.
        @event.listens_for(sync_engine, "connect")
        def _mysql_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET time_zone = '+00:00'")
            cursor.close()

        end_open_transactions_only(sync_engine)
