"""How a transaction begins, per dialect: a writer's lock up front, or no transaction at all.

SQLite has one writer at a time, so a session that will write begins with
``BEGIN IMMEDIATE`` (the engine's ``begin`` hook in ``_dialects.py`` reads the
option set here). A statement that is a transaction by itself runs on the
autocommit engine: on SQLite no BEGIN is sent, on PostgreSQL the connection is in
autocommit; MySQL/MariaDB keep the engine itself (switching costs a round trip).
This holds for each driver of a database alike (asyncpg and psycopg keep the mode on
the client; aiomysql and asyncmy send it to the server): ``tests/test_drivers.py``
counts the round trips.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ._internals import has_checked_out_connection
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


#: Execution option of an own autocommit session's connection on SQLite: no BEGIN.
AUTOCOMMIT_OPTION = "sqlrecord_autocommit"


def autocommit_bind(engine: AsyncEngine) -> AsyncEngine:
    """The engine for sqlrecord's own read-only and single-statement sessions: each
    statement a transaction by itself. On SQLite, no BEGIN is sent (so no COMMIT or
    ROLLBACK either); on PostgreSQL, autocommit. MySQL/MariaDB: the engine itself (a
    round trip to switch autocommit on and another to switch it off would cost more
    than they save)."""
    if not autocommit_is_free(engine):
        return engine
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{AUTOCOMMIT_OPTION: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def autocommit_is_free(engine: AsyncEngine) -> bool:
    """Whether a statement can be its own transaction at no cost on ``engine``: on SQLite
    and PostgreSQL, not on MySQL/MariaDB (see :func:`autocommit_bind`).

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> autocommit_is_free(create_async_engine("sqlite+aiosqlite://"))
        True
    """
    return engine.dialect.name in ("sqlite", "postgresql")


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
