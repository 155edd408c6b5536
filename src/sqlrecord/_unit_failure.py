"""A unit of work whose transaction a failed write ended: roll it back, mark it, refuse it.

A served write normally fails alone: its SAVEPOINT, or the database's own undo of
a refused statement, leaves the unit usable. Some failures end the whole
transaction instead (a lost connection, a deadlock, a write under
``db.transaction(savepoints=False)``). Then the unit is rolled back at once and
marked in ``session.info``, so that sqlrecord refuses to go on with it or commit
it, and the writes after the failure are never committed without the ones before.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from ._translate import is_connection_loss, is_transaction_conflict
from .exceptions import TransactionAbortedError

__all__ = ["ABORTED", "STATEMENT_ATOMIC", "abort_unit", "refuse_aborted", "statement_undone"]

#: ``session.info`` key: a write failed and took the unit's transaction with it.
ABORTED = "sqlrecord_aborted"

#: Databases that undo a failed statement by themselves and keep the transaction
#: going, for the errors of :func:`statement_undone`: there a lone INSERT needs no
#: SAVEPOINT. PostgreSQL ends the transaction at any error.
STATEMENT_ATOMIC = frozenset({"sqlite", "mysql", "mariadb"})


async def statement_undone(session: AsyncSession, model: type[Any], exc: BaseException) -> bool:
    """Whether ``exc``, raised by a lone INSERT of ``SessionScope._insert_directly_served``,
    left the transaction as it was before the statement.

    InnoDB undoes the failed statement and keeps the transaction for every error
    but a deadlock (and a lock wait timeout, when ``innodb_rollback_on_timeout``
    is on: taken to be); SQLite usually does, and is asked (a constraint declared
    ``ON CONFLICT ROLLBACK``, or a trigger's ``RAISE(ROLLBACK)``, ends the
    transaction). On PostgreSQL the INSERT's own SAVEPOINT was rolled back to,
    unless that failed too (the error then says ``connection_invalidated``). A
    lost connection or a cancelled call ends the transaction everywhere.

    Example:
        >>> from sqlalchemy.exc import StatementError
        >>> refused = StatementError("a value its type refused", "INSERT ...", {}, None)
        >>> run(statement_undone(None, User, refused))  # never sent: nothing to undo
        True
    """
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        return True  # raised before anything was sent (a bind processor refused a value)
    if not isinstance(exc, sa_exc.DBAPIError) or is_connection_loss(exc):
        return False
    bind_arguments = {"mapper": inspect(model)}
    dialect = session.sync_session.get_bind(**bind_arguments).dialect.name
    if dialect not in STATEMENT_ATOMIC:
        return True  # rolled back to the INSERT's own SAVEPOINT
    if dialect != "sqlite":
        return not is_transaction_conflict(exc)
    try:
        connection = await session.connection(bind_arguments=bind_arguments)
        raw = await connection.get_raw_connection()
        return bool(raw.driver_connection.in_transaction)  # type: ignore[union-attr]
    except sa_exc.SQLAlchemyError:
        return False


async def abort_unit(session: AsyncSession) -> None:
    """Roll the whole unit of ``session`` back and mark it, so that anything it tries
    next through sqlrecord (and its end) raises :class:`TransactionAbortedError`.

    Example:
        >>> async def aborted() -> bool:
        ...     async with db.sessionmaker() as session:
        ...         await abort_unit(session)
        ...         return session.info[ABORTED]
        >>> run(aborted())
        True
    """
    session.info[ABORTED] = True
    with contextlib.suppress(sa_exc.DBAPIError):
        await session.rollback()


def refuse_aborted(session: AsyncSession) -> None:
    """Before a unit's COMMIT: a write that failed in it and took its transaction with
    it left nothing to commit; say so, even when the caller caught that write's error
    and carried on.

    Example:
        >>> async def commit_refused() -> str:
        ...     async with db.sessionmaker() as session:
        ...         await abort_unit(session)
        ...         try:
        ...             refuse_aborted(session)
        ...         except TransactionAbortedError:
        ...             return "refused"
        ...         return "committed"
        >>> run(commit_refused())
        'refused'
    """
    if session.info.get(ABORTED):
        raise TransactionAbortedError(
            "A write in this unit of work failed and took the unit's transaction with "
            "it, so the whole unit was rolled back and nothing of it was kept (the error "
            "was raised where the write failed). Run the unit again."
        )
