"""How a transaction begins, per dialect: a writer's lock up front, or no transaction at all.

SQLite has one writer at a time, so a session that will write begins with
``BEGIN IMMEDIATE`` (the engine's ``begin`` hook in ``_dialects.py`` reads the
option set here). A statement that is a transaction by itself runs on the
autocommit engine: on SQLite no BEGIN is sent, on PostgreSQL the connection is in
autocommit, on MySQL/MariaDB it is a pool of its own whose connections stay in
autocommit (switching one connection back and forth would cost two round trips,
since aiomysql and asyncmy tell the server; asyncpg and psycopg keep the mode on the
client). ``tests/test_drivers.py`` counts the round trips on each driver.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ._internals import engine_on_pool_of, has_checked_out_connection
from ._own_listeners import mark_begin_option
from ._sqlite_locks import refuse_waiting_for_own_lock

__all__ = [
    "AUTOCOMMIT_OPTION",
    "IMMEDIATE_OPTION",
    "autocommit_bind",
    "autocommit_is_free",
    "holds_connection",
    "prepare_write_session",
]

#: Execution option that makes SQLite start the transaction with BEGIN IMMEDIATE.
IMMEDIATE_OPTION = "sqlrecord_begin_immediate"
mark_begin_option(IMMEDIATE_OPTION)  # read at BEGIN by _dialects' listener, then never


#: Execution option of an own autocommit session's connection on SQLite: no BEGIN.
AUTOCOMMIT_OPTION = "sqlrecord_autocommit"


def autocommit_bind(
    engine: AsyncEngine, own_pool: Callable[[], AsyncEngine] | None = None
) -> AsyncEngine:
    """The engine for sqlrecord's own read-only and single-statement sessions: each
    statement a transaction by itself. On SQLite, no BEGIN is sent (so no COMMIT or
    ROLLBACK either); on PostgreSQL, autocommit. MySQL/MariaDB: ``engine`` with the pool
    of the engine ``own_pool`` builds, whose connections are in autocommit from the
    start (``engine``'s event listeners see its statements); without one, the engine
    itself (switching a pooled connection to autocommit and back would cost more round
    trips than the COMMIT it saves).

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> engine = create_async_engine("sqlite+aiosqlite://")
        >>> autocommit_bind(engine).get_execution_options()[AUTOCOMMIT_OPTION]
        True
    """
    backend = engine.dialect.name
    if backend == "sqlite":
        return engine.execution_options(**{AUTOCOMMIT_OPTION: True})
    if backend == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    if own_pool is None:
        return engine
    # The engine's own listeners (a query log, tracing) must see these statements too.
    return engine_on_pool_of(engine, own_pool())


def autocommit_is_free(engine: AsyncEngine, autocommit: AsyncEngine) -> bool:
    """Whether a statement on ``autocommit`` (:func:`autocommit_bind`'s engine for
    ``engine``) is its own transaction at no cost: always, unless it is ``engine`` itself
    (MySQL/MariaDB without a pool of its own).

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> engine = create_async_engine("sqlite+aiosqlite://")
        >>> autocommit_is_free(engine, autocommit_bind(engine)), autocommit_is_free(engine, engine)
        (True, False)
    """
    return autocommit is not engine


def holds_connection(session: AsyncSession) -> bool:
    """Whether ``session`` has checked out a connection (sent or begun anything).

    ``in_transaction()`` does not tell: adding an object begins the session's
    transaction before any connection is needed.
    """
    return has_checked_out_connection(session.sync_session)


async def prepare_write_session(session: AsyncSession, *, model: str = "row") -> None:
    """Before the first statement of a writing session: on SQLite, BEGIN IMMEDIATE,
    unless the running task itself holds the lock it would wait for
    (:class:`~sqlrecord.exceptions.SelfDeadlockError`, ``_sqlite_locks.py``)."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "sqlite" and not holds_connection(session):
        if isinstance(bind, AsyncEngine):  # not a test's one connection (sqlrecord.testing)
            refuse_waiting_for_own_lock(bind, model=model)
        await session.connection(execution_options={IMMEDIATE_OPTION: True})
