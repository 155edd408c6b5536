"""Building a ``Database``'s engine: the dialect's settings, the pool, the idle ping.

Everything here is decided once, when the URL is known; the sessions and units
of work that use the engine are ``_database.py``'s and ``_unit.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ._dialects import adapt_url, dialect_connect_args, install_dialect_fixes
from ._idle_ping import install_idle_ping, ping_after_idle
from ._internals import connection_creator_of
from ._mysql_transactions import end_open_transactions_only
from ._pool import pool_class_for
from ._sqlite_pragmas import PragmaValue
from ._sqlite_pragmas import sqlite_pragmas as sqlite_pragmas_for
from ._urls import with_async_driver

__all__ = ["build_engine", "build_sessionmaker"]


def build_engine(
    url: str | URL,
    *,
    echo: bool,
    pool_recycle: int,
    pool_pre_ping: bool | float,
    engine_options: Mapping[str, Any] | None,
    sqlite_pragmas: Mapping[str, PragmaValue] | None = None,
    autocommit_beside: AsyncEngine | None = None,
) -> AsyncEngine:
    """An ``AsyncEngine`` on ``url`` (a URL that names no driver: sqlrecord's,
    ``_urls.with_async_driver``) with sqlrecord's settings under the caller's options;
    ``autocommit_beside``: instead, the pool for statements that are a transaction by
    themselves beside that engine (MySQL/MariaDB, ``_begin.autocommit_bind``): its
    connections opened as that engine's are, and in autocommit from the start.

    Example:
        >>> engine = build_engine("sqlite+aiosqlite://", echo=False, pool_recycle=900,
        ...                       pool_pre_ping=True, engine_options=None)
        >>> engine.dialect.name
        'sqlite'
    """
    parsed = with_async_driver(url)
    options: dict[str, Any] = {"echo": echo, "pool_recycle": pool_recycle}
    options.update(engine_options or {})
    if autocommit_beside is not None:
        options["isolation_level"] = "AUTOCOMMIT"
        options["creator"] = connection_creator_of(autocommit_beside)
        options.pop("async_creator", None)  # the creator above calls the caller's
    # The dialect's connection settings, under any the caller gave.
    given_connect_args = options.get("connect_args", {})
    connect_args = {**dialect_connect_args(parsed), **given_connect_args}
    if connect_args:
        options["connect_args"] = connect_args
    pool_class = pool_class_for(parsed, options)
    if pool_class is not None:
        options["poolclass"] = pool_class
    pragmas: tuple[tuple[str, str], ...] = ()
    if parsed.get_backend_name() == "sqlite":  # elsewhere ignored: one config serves both
        # sqlite3's own timeout, when the caller set it, stands for the busy timeout.
        driver_timeout = "timeout" in given_connect_args
        pragmas = sqlite_pragmas_for(parsed, sqlite_pragmas, driver_timeout=driver_timeout)
    engine = create_async_engine(adapt_url(parsed), **options)
    if autocommit_beside is not None:
        # Its pool passes its events on to the main engine's listeners, ours among them
        # (``_begin.autocommit_bind``); only the dialect it ends transactions with is its own.
        end_open_transactions_only(engine.sync_engine)
        return engine
    install_dialect_fixes(engine, sqlite_pragmas=pragmas)
    ping_after = ping_after_idle(pool_pre_ping)
    if ping_after is not None:
        install_idle_ping(engine, idle_seconds=ping_after)
    return engine


def build_sessionmaker(
    engine: AsyncEngine, session_options: Mapping[str, Any] | None
) -> async_sessionmaker[AsyncSession]:
    """The session factory: objects keep their values after a commit, and nothing is
    flushed behind the caller's back (``autoflush=False``), unless the caller says so.

    Example:
        >>> engine = build_engine("sqlite+aiosqlite://", echo=False, pool_recycle=900,
        ...                       pool_pre_ping=True, engine_options=None)
        >>> build_sessionmaker(engine, {"autoflush": True}).kw["autoflush"]
        True
    """
    options = {"expire_on_commit": False, "autoflush": False, **(session_options or {})}
    return async_sessionmaker(engine, **options)
