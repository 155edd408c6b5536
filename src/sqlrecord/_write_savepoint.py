"""sqlrecord's SAVEPOINT around one write in the caller's session.

A served write takes a SAVEPOINT (``_plan.py`` decides when) so that it stands or
falls alone. The SAVEPOINT is sqlrecord's, not the user's: while it is open it is
hidden from the session's transaction events (``_internals.savepoint_hidden``), so
its release and rollback fire none of the session's commit or rollback events.
Where the database dropped the whole transaction with the failed write (a deadlock
victim, a lost connection, SQLite's ``RAISE(ROLLBACK)``), :meth:`WriteSavepoint.undo`
says so, and the scope marks the unit aborted (``_unit.py``): it must not go on as
if only this write had failed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from ._internals import call_sync_api, savepoint_hidden
from ._translate import is_connection_loss, translate_errors

__all__ = ["WriteSavepoint", "savepoint_gone"]


class WriteSavepoint:
    """One write's SAVEPOINT in a served session, hidden from its transaction events
    until it is released or rolled back (once).

    Example:
        >>> async def saved_alone() -> int:
        ...     async with db.sessionmaker() as session:
        ...         savepoint = await WriteSavepoint.begin(session, model="User")
        ...         session.add(User(email="kim@example.com"))
        ...         await savepoint.release()
        ...         return len((await session.scalars(User.query)).all())
        >>> run(saved_alone())
        1
    """

    __slots__ = ("_hidden", "_savepoint", "_session")

    def __init__(
        self,
        session: AsyncSession,
        savepoint: SessionTransaction,
        hidden: AbstractContextManager[None],
    ) -> None:
        self._session = session
        self._savepoint = savepoint
        self._hidden = hidden

    @classmethod
    async def begin(cls, session: AsyncSession, *, model: str) -> WriteSavepoint:
        """Begin the write's SAVEPOINT. As with any ``begin_nested()``, what the unit
        has pending from before the call is flushed first, outside it: should that
        flush fail, the ORM has rolled the whole unit back (the caller marks it
        aborted)."""
        with translate_errors(model=model):
            savepoint = await call_sync_api(Session.begin_nested, session.sync_session)
        hidden = savepoint_hidden(session.sync_session, savepoint)
        hidden.__enter__()
        return cls(session, savepoint, hidden)

    async def release(self) -> None:
        """RELEASE the SAVEPOINT: the write stays in the caller's unit."""
        await self._end(commit=True)

    async def roll_back(self) -> None:
        """ROLLBACK TO the SAVEPOINT: the write is undone, the unit goes on."""
        await self._end(commit=False)

    async def undo(self, error: BaseException) -> bool:
        """Roll back after the write failed with ``error``; whether the database ended
        the whole transaction with it, so that the unit is lost too."""
        # Also when the failed flush has already deactivated it: the rollback is
        # what returns the session to the outer transaction.
        lost = savepoint_gone(error) or is_connection_loss(error)
        try:
            await self.roll_back()
        except sa_exc.DBAPIError:
            lost = True
        # A lost connection has nothing left, a deadlock victim no savepoints.
        return lost

    async def _end(self, *, commit: bool) -> None:
        savepoint = self._savepoint
        try:
            if commit:
                await call_sync_api(savepoint.commit)
            else:
                await call_sync_api(savepoint.rollback)
        finally:
            self._hidden.__exit__(None, None, None)


def savepoint_gone(exc: BaseException) -> bool:
    """Whether ``exc`` is the failure of the flush's own ``ROLLBACK TO SAVEPOINT``: the
    database had dropped the savepoint already, and with it the whole transaction
    (an InnoDB deadlock victim, SQLite's ``RAISE(ROLLBACK)``).

    Example:
        >>> savepoint_gone(ValueError("not a driver error"))
        False
    """
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    return str(exc.statement or "").lstrip().upper().startswith("ROLLBACK TO SAVEPOINT")
