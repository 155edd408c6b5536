"""Per-dialect engine settings that sqlrecord's guarantees depend on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from ._text_match import SQLITE_FUNCTIONS

__all__ = ["adapt_url", "dialect_connect_args", "install_dialect_fixes"]


def adapt_url(url: URL) -> URL:
    """MySQL/MariaDB: ask for utf8mb4 unless the URL names a charset."""
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        return url.update_query_dict({"charset": "utf8mb4"})
    return url


def dialect_connect_args(url: URL) -> dict[str, Any]:
    """SQLite connections are used from the driver's worker thread."""
    if url.get_backend_name() == "sqlite":
        return {"check_same_thread": False}
    return {}


def install_dialect_fixes(engine: AsyncEngine) -> None:
    """Make each dialect behave the way sqlrecord's guarantees need."""
    sync_engine = engine.sync_engine
    backend = sync_engine.dialect.name
    if backend == "sqlite":
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

        @event.listens_for(sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN")

    elif backend in ("mysql", "mariadb"):
        # Timestamps are stored as UTC everywhere; MySQL's NOW() follows the
        # session time zone, so pin it.
        @event.listens_for(sync_engine, "connect")
        def _mysql_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET time_zone = '+00:00'")
            cursor.close()
