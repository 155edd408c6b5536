"""The design notes' session rule, made safe: a served session or an own one.

*Served*: a session passed as ``session=``, the session the object is attached
to, or the ambient session of ``db.session``/``db.transaction()``. sqlrecord
flushes inside a SAVEPOINT (so a failed write leaves the caller's unit of work
intact), commits only with ``auto_commit=True`` and never closes it. A new
object's INSERT that is provably one statement needs no SAVEPOINT where the
database undoes a failed statement by itself and keeps the transaction
(SQLite, MySQL/MariaDB), and elsewhere takes one past the ORM, in the same trip
to the driver: see :meth:`SessionScope._insert_directly_served`.

*Own*: no session anywhere. sqlrecord opens one, does the work, commits writes
and closes it before returning, whatever happens. A write that is provably one
statement runs in autocommit there (``_one_statement.py``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, AsyncSessionTransaction
from sqlalchemy.orm import InstanceState
from sqlalchemy.orm import exc as orm_exc

from ._dialects import holds_connection, prepare_write_session
from ._direct_read import reads_directly
from ._direct_write import delete_row, insert_row, update_row, writes_directly
from ._one_statement import deletes_alone, is_one_statement, writes_alone
from ._registry import database_for
from ._session_close import close_session
from ._translate import is_connection_loss, is_unwrapped_connection_loss, translate_errors
from ._unit_failure import ABORTED, STATEMENT_ATOMIC, abort_unit, statement_undone
from .exceptions import TransactionAbortedError

__all__ = ["NO_SAVEPOINTS", "SessionScope"]

#: ``session.info`` key: writes directly in the session's unit of work take no
#: SAVEPOINT (``db.transaction(savepoints=False)``).
NO_SAVEPOINTS = "sqlrecord_no_savepoints"

# Session events that tell an object's way into the session; a direct INSERT takes
# another way (detached to persistent), so any of them keeps the ORM's flush.
_LIFECYCLE_HOOKS = (
    "before_attach",
    "after_attach",
    "transient_to_pending",
    "pending_to_persistent",
    "detached_to_persistent",
)


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
        "_lone",
        "_model",
        "_savepoint",
        "_statement_only",
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
        # caller may show that its work is one statement.
        self._model = model
        self._write = write
        self._auto_commit = auto_commit
        self._savepoint: AsyncSessionTransaction | None = None
        self._unprotected = False  # a served write without its SAVEPOINT
        # A new object whose INSERT may need no SAVEPOINT (defer_savepoint), and
        # whether it went that way: one statement the database undoes by itself.
        self._lone: Any = None
        self._statement_only = False
        self._begin_pending = False
        if session is None:
            database = database_for(model)
            session = database.current_session()
            if session is None:
                self._database = database
                self._begin_pending = write and begin_later
                session = database.new_own_session(read_only=not (write or cursor))
                self.served = False
                self.session: AsyncSession = session
                return
        self.served = True
        self.session = session

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
                self._lone = None
                self._unprotected = True
                return self.session
            if self._lone is None:
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

    def defer_savepoint(self, obj: Any) -> None:
        """Call before entering: the scope will write ``obj``, a new object in no
        session, and nothing else, so a served scope may put off its SAVEPOINT until
        it is known whether the write is one INSERT (:meth:`_insert_directly_served`).

        The caller vouches that nothing it does inside the scope before the write
        touches the session or another object (only ``obj``'s columns are set):
        the SAVEPOINT, if it comes, then starts where it would have started.
        """
        if self.served and self._write:
            self._lone = obj

    async def protect(self) -> None:
        """Begin the SAVEPOINT that :meth:`defer_savepoint` put off; call it before any
        flush of a deferred scope. Nothing when there is none to begin."""
        if self._lone is not None:
            await self._begin_savepoint()

    async def _begin_savepoint(self) -> None:
        self._lone = None
        with translate_errors(model=self._model.__name__):
            self._savepoint = await self.session.begin_nested()

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
        if (
            alone is not None
            and not holds_connection(session)
            and is_one_statement(session.sync_session, alone)
        ):
            bind = self._database.autocommit_bind
            session.bind = bind
            session.sync_session.bind = bind.sync_engine
            return
        with translate_errors(model=self._model.__name__):
            await prepare_write_session(session)

    async def write_directly(self, obj: Any) -> bool:
        """Write a lone object as one Core statement; whether it did.

        Own session (a scope opened with ``begin_later=True`` that has not begun):
        when ``obj`` (in no session) is provably a one-row INSERT or UPDATE, it is
        sent past the ORM's unit of work, in autocommit where the database allows
        (``_direct_write``). Served session: a new object's INSERT, in the
        scope's savepoint (see :meth:`_insert_directly_served`). Otherwise nothing
        happens and the caller flushes.
        """
        if self.served and self._write:
            return await self._insert_directly_served(obj)
        if not self._begin_pending:
            return False
        state: InstanceState[Any] = inspect(obj)
        if state.session_id is not None or state.was_deleted:
            return False
        bind = self._database.autocommit_bind
        if not (
            writes_alone(self.session.sync_session, obj) and writes_directly(state, bind.dialect)
        ):
            return False
        self._begin_pending = False
        if state.key is None:
            await insert_row(bind, state)
        else:
            await update_row(bind, state)
        return True

    async def _insert_directly_served(self, obj: Any) -> bool:
        """INSERT a new object into a served session's transaction as one statement.

        Then the object joins the session as the ORM's flush leaves it: persistent,
        clean, and recorded as new in the current transaction, so that a rollback
        makes it transient again, exactly as after a flushed INSERT.

        A deferred SAVEPOINT (:meth:`defer_savepoint`) is not needed where the
        database undoes a failed statement by itself and the transaction goes on:
        SQLite and MySQL/MariaDB, for all but a few errors (:func:`._unit_failure.statement_undone`
        tells them apart; after those the whole unit is rolled back). On
        PostgreSQL, where any error ends the transaction, the INSERT gets a
        SAVEPOINT of its own, sent with it in one trip to the driver, past the
        ORM's nested-transaction bookkeeping (``_dbapi_served.run_in_transaction``).
        """
        state: InstanceState[Any] = inspect(obj)
        if state.key is not None or state.session_id is not None:
            return False  # an existing row, or another session's object: the ORM merges
        sync_session = self.session.sync_session
        # Anything pending (begin_nested() flushes it before its SAVEPOINT; under
        # savepoints=False, or with the SAVEPOINT deferred, nothing has), or a
        # lifecycle hook of the user's, keeps the ORM's flush.
        if sync_session.new or sync_session.dirty or sync_session.deleted:
            return False
        if any(getattr(sync_session.dispatch, hook) for hook in _LIFECYCLE_HOOKS):
            return False
        if not writes_alone(sync_session, obj):
            return False
        dialect = sync_session.get_bind(state.mapper).dialect
        if not writes_directly(state, dialect):
            return False
        savepoint = False
        if self._lone is obj:
            self._lone = None
            self._statement_only = True
            savepoint = dialect.name not in STATEMENT_ATOMIC
        await insert_row(sync_session, state, savepoint=savepoint)
        sync_session.add(obj)  # it has its identity now: joins as persistent
        # What Session._register_persistent records for a flushed INSERT, so that
        # SessionTransaction._restore_snapshot expunges it on rollback.
        transaction = sync_session._transaction
        if transaction is not None:
            transaction._new[state] = True
        return True

    async def delete_directly(self, obj: Any) -> bool:
        """Delete a lone object of an own session as one Core statement; whether it did.

        As :meth:`write_directly`, for a row whose deletion touches no other
        (``_one_statement.deletes_alone``).
        """
        if not self._begin_pending:
            return False
        state: InstanceState[Any] = inspect(obj)
        if state.session_id is not None or not deletes_alone(type(obj)):
            return False
        bind = self._database.autocommit_bind
        if not (
            writes_alone(self.session.sync_session, obj)
            and writes_directly(state, bind.dialect, deleting=True)
        ):
            return False
        self._begin_pending = False
        await delete_row(bind, state)
        return True

    def direct_read_bind(self) -> AsyncEngine | None:
        """Where a ``get(pk)`` of this scope's model may go as one Core SELECT, if it may.

        Only for an own session that has not begun, and a model whose loading is
        copying columns (``_direct_read.reads_directly``).
        """
        if not self._own_and_idle():
            return None
        if not reads_directly(self.session.sync_session, inspect(self._model)):
            return None
        return self._database.autocommit_bind

    def direct_rows_bind(self) -> AsyncEngine | None:
        """Where a query that selects columns only (values, counts) may run on a pooled
        connection of its own, past the session, if it may: an own session that has
        not begun, with no ``do_orm_execute`` hook to see the query."""
        if not self._own_and_idle():
            return None
        if self.session.sync_session.dispatch.do_orm_execute:
            return None
        return self._database.autocommit_bind

    def _own_and_idle(self) -> bool:
        """An own session that has not begun: a statement may go past it, alone."""
        return not self.served and self.session.sync_session.get_transaction() is None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        name = self._model.__name__
        if not self.served:
            if exc is None and self.session.sync_session.get_transaction() is None:
                return  # never began (a direct write): nothing to commit or close
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
            if self._unprotected or (
                self._statement_only and not await statement_undone(self.session, self._model, exc)
            ):
                # No savepoint to return to (savepoints=False), or the failed
                # statement took the transaction with it: the whole unit goes, now,
                # on every database alike (PostgreSQL would refuse its next
                # statement anyway).
                await abort_unit(self.session)
            if self._savepoint is not None:
                # Also when the failed flush has already deactivated it: the
                # rollback is what returns the session to the outer transaction.
                lost = is_connection_loss(exc)
                try:
                    await self._savepoint.rollback()
                except sa_exc.DBAPIError:
                    lost = True
                if lost:
                    # The database dropped the whole transaction (a lost connection
                    # has nothing left, a deadlock victim no savepoints): what the
                    # unit did before is gone, so the unit must not go on as if only
                    # this write had failed.
                    await abort_unit(self.session)
            _reraise_translated(exc, name)
            return
        with translate_errors(model=name):
            if self._savepoint is not None:
                await self._savepoint.commit()
            if self._auto_commit:
                await self.session.commit()


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
