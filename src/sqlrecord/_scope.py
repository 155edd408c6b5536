"""The design notes' session rule, made safe: a served session or an own one.

*Served*: a session given by ``Model.using(session)`` or ``save(session=)``, the
session the object is attached to, or the ambient session of
``db.session``/``db.transaction()``. sqlrecord flushes the call's own work inside
a SAVEPOINT (so a failed write leaves the caller's unit of work intact), commits
only with ``auto_commit=True`` and never
closes it. The SAVEPOINT is sqlrecord's, not the user's: its release and its
rollback fire none of the session's commit or rollback events.

*Own*: no session anywhere. sqlrecord opens one, does the work, commits writes
and closes it before returning, whatever happens. A flush that is provably one
statement runs in autocommit there (``_one_statement.py``), unless the database
was made with ``fast_paths=False``.

Every statement goes through the ORM's session: the scope only chooses which
session, which transaction, and whether a SAVEPOINT guards the call.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm import exc as orm_exc

from ._dialects import holds_connection, prepare_write_session
from ._internals import savepoint_hidden
from ._one_statement import is_one_statement
from ._registry import database_for
from ._session_close import close_session
from ._translate import is_connection_loss, is_unwrapped_connection_loss, translate_errors
from ._unit_failure import ABORTED, abort_unit
from .exceptions import NoDatabaseError, TransactionAbortedError

if TYPE_CHECKING:
    from .database import Database

__all__ = ["NO_SAVEPOINTS", "SessionScope"]

#: ``session.info`` key: writes directly in the session's unit of work take no
#: SAVEPOINT (``db.transaction(savepoints=False)``).
NO_SAVEPOINTS = "sqlrecord_no_savepoints"


class SessionScope:
    """``async with SessionScope(Model, session, write=..., auto_commit=...) as session:``.

    Example:
        >>> async def count_users() -> int:
        ...     async with SessionScope(User, None, write=False) as session:  # an own session
        ...         return len((await session.scalars(User.query)).all())
        >>> run(count_users())
        0
    """

    __slots__ = (
        "_auto_commit",
        "_begin_pending",
        "_database",
        "_hidden",
        "_model",
        "_savepoint",
        "_unprotected",
        "_write",
        "served",
        "session",
    )

    def __init__(
        self,
        model: type[Any],
        session: AsyncSession | None,
        *,
        write: bool,
        auto_commit: bool = False,
        cursor: bool = False,
        begin_later: bool = False,
    ) -> None:
        # cursor: the work keeps a server-side cursor open, which needs a transaction
        # (an own read session otherwise runs its statements in autocommit).
        # begin_later: an own write session begins at begin_writing(), where the
        # caller may show that its flush is one statement.
        self._model = model
        self._write = write
        self._auto_commit = auto_commit
        self._savepoint: SessionTransaction | None = None
        self._hidden: AbstractContextManager[None] | None = None
        self._unprotected = False  # a served write without its SAVEPOINT
        self._begin_pending = False
        # A session passed in needs no Database of sqlrecord's (found when asked).
        self._database: Database | None = None
        if session is None:
            self._database = database_for(model)
            session = self._database.current_session()
            if session is None:
                self._begin_pending = write and begin_later
                session = self._database.new_own_session(read_only=not (write or cursor))
                self.served = False
                self.session: AsyncSession = session
                return
        self.served = True
        self.session = session

    @property
    def fast_paths(self) -> bool:
        """Whether this scope's database allows sqlrecord's fast paths
        (``Database(fast_paths=...)``); with a session passed in and no ``Database``
        for the model, the default (allowed)."""
        if self._database is None:
            try:
                self._database = database_for(self._model)
            except NoDatabaseError:
                return True
        return self._database.fast_paths

    async def __aenter__(self) -> AsyncSession:
        if self.served:
            info = self.session.info
            if info.get(ABORTED):
                raise TransactionAbortedError(
                    f"An earlier write in this unit of work failed and took the unit's "
                    f"transaction with it, so the unit was rolled back and "
                    f"{self._model.__name__} cannot be used in it. Leave the block (or let "
                    "the request end) and run the unit again."
                )
            if not self._write:
                return self.session
            # Only directly in the unit: a nested db.transaction() keeps its savepoints.
            if (
                info.get(NO_SAVEPOINTS)
                and self.session.sync_session.get_nested_transaction() is None
            ):
                self._unprotected = True
                return self.session
            await self._begin_savepoint()
            return self.session
        if self._write and not self._begin_pending:
            try:
                with translate_errors(model=self._model.__name__):
                    await prepare_write_session(self.session)
            except BaseException as error:
                # __aexit__ does not run when entering fails: end the own session
                # here, so that a connection already checked out goes back.
                await close_session(
                    self.session, failing=True, cancelled=not isinstance(error, Exception)
                )
                raise
        return self.session

    async def _begin_savepoint(self) -> None:
        """Begin the call's SAVEPOINT. As with any ``begin_nested()``, what the unit
        has pending from before the call is flushed first, outside it: should that
        flush fail, the ORM has rolled the whole unit back, and so the unit is
        marked aborted, as after any write that takes the transaction with it.
        From then until it ends, the SAVEPOINT is hidden from the session's
        transaction events (``_internals.savepoint_hidden``)."""
        try:
            with translate_errors(model=self._model.__name__):
                savepoint = await self.session.run_sync(Session.begin_nested)
        except Exception:
            if not self.session.sync_session.is_active:
                await abort_unit(self.session)
            raise
        self._savepoint = savepoint
        self._hidden = savepoint_hidden(self.session.sync_session, savepoint)
        self._hidden.__enter__()

    async def begin_writing(self, *, alone: Any = None) -> None:
        """Begin an own session that was opened with ``begin_later=True``.

        ``alone``: the object the next flush writes. When that flush is provably
        one statement writing only that object, it runs in autocommit (one round
        trip instead of BEGIN, statement, COMMIT); otherwise, and for served
        sessions, nothing changes. Call it before the session's first statement.
        """
        if not self._begin_pending:
            return
        self._begin_pending = False
        session = self.session
        assert self._database is not None  # an own session's: found in __init__
        if (
            alone is not None
            and self._database.fast_paths
            and not holds_connection(session)
            and is_one_statement(session.sync_session, alone)
        ):
            bind = self._database.autocommit_bind
            session.bind = bind
            session.sync_session.bind = bind.sync_engine
            return
        with translate_errors(model=self._model.__name__):
            await prepare_write_session(session)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        name = self._model.__name__
        if not self.served:
            if exc is None and self.session.sync_session.get_transaction() is None:
                return  # never began: nothing to commit or close
            try:
                if exc is None and self._write:
                    with translate_errors(model=name):
                        await self.session.commit()
            finally:
                cancelled = exc is not None and not isinstance(exc, Exception)
                await close_session(self.session, failing=exc is not None, cancelled=cancelled)
            if exc is not None:
                _reraise_translated(exc, name)
            return
        if exc is not None:
            gone = _savepoint_gone(exc)
            await self._undo_failed_write(exc, savepoint_gone=gone)
            # The flush's own ROLLBACK TO failed: the write's error is its context.
            _reraise_translated(exc.__context__ if gone and exc.__context__ else exc, name)
            return
        with translate_errors(model=name):
            if self._savepoint is not None:
                await self._end_savepoint(commit=True)
            if self._auto_commit:
                await self.session.commit()

    async def _undo_failed_write(self, exc: BaseException, *, savepoint_gone: bool) -> None:
        if self._unprotected:
            # No savepoint to return to (savepoints=False): the whole unit goes,
            # now, on every database alike.
            await abort_unit(self.session)
            return
        if self._savepoint is None:
            return
        # Also when the failed flush has already deactivated it: the rollback is
        # what returns the session to the outer transaction.
        lost = savepoint_gone or is_connection_loss(exc)
        try:
            await self._end_savepoint(commit=False)
        except sa_exc.DBAPIError:
            lost = True
        if lost:
            # The database dropped the whole transaction (a lost connection has
            # nothing left, a deadlock victim no savepoints): what the unit did
            # before is gone, so the unit must not go on as if only this write
            # had failed.
            await abort_unit(self.session)

    async def _end_savepoint(self, *, commit: bool) -> None:
        """Release or roll back the call's SAVEPOINT, still hidden from the session's
        commit and rollback events (it is no commit of the user's unit of work)."""
        savepoint, hidden = self._savepoint, self._hidden
        assert savepoint is not None and hidden is not None
        self._savepoint = self._hidden = None
        try:
            if commit:
                await self.session.run_sync(lambda _: savepoint.commit())
            else:
                await self.session.run_sync(lambda _: savepoint.rollback())
        finally:
            hidden.__exit__(None, None, None)


def _savepoint_gone(exc: BaseException) -> bool:
    """Whether ``exc`` is the failure of the flush's own ``ROLLBACK TO SAVEPOINT``: the
    database had dropped the savepoint already, and with it the whole transaction
    (an InnoDB deadlock victim, SQLite's ``RAISE(ROLLBACK)``)."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    return str(exc.statement or "").lstrip().upper().startswith("ROLLBACK TO SAVEPOINT")


def _reraise_translated(exc: BaseException, model: str) -> None:
    """Raise the sqlrecord form of a driver error; other errors propagate untouched."""
    translatable = (
        sa_exc.StatementError,
        sa_exc.PendingRollbackError,
        sa_exc.TimeoutError,
        orm_exc.StaleDataError,
    )
    if isinstance(exc, translatable) or is_unwrapped_connection_loss(exc):
        with translate_errors(model=model):
            raise exc
