"""A unit of work whose transaction a failed write ended: roll it back, mark it, refuse it.

A served write normally fails alone: its SAVEPOINT leaves the unit usable. Some
failures end the whole transaction instead (a lost connection, a deadlock, a
write under ``db.transaction(savepoints=False)``, a failed flush of what the unit
had pending before the write's SAVEPOINT). Then the unit is rolled back at once and
marked in ``session.info``, so that sqlrecord refuses to go on with it or commit
it, and the writes after the failure are never committed without the ones before.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from .exceptions import TransactionAbortedError

__all__ = ["ABORTED", "abort_unit", "refuse_aborted"]

#: ``session.info`` key: a write failed and took the unit's transaction with it.
ABORTED = "sqlrecord_aborted"


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
