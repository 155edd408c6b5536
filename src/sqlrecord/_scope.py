"""One model call's scope: which session, which transaction, its SAVEPOINT, its end.

*Served*: a session given by ``Model.using(session)`` or ``save(session=)``, the
session the object is attached to, or the ambient session of
``db.session``/``db.transaction()``. A write takes a SAVEPOINT (so that a failed
write leaves the caller's unit intact), commits only with ``auto_commit=True``, and
the session is never closed. The SAVEPOINT is sqlrecord's, not the user's: its
release and rollback fire none of the session's commit or rollback events.

*Own*: no session anywhere. sqlrecord opens one when the work needs it (a call that
ends on a connection of its own never does), does the work, commits a write and closes
the session before returning, whatever happens.

What each call does within that is the planner's choice (``_plan.py``); a
:class:`SessionScope` carries the plan out, moving through the states of
:class:`State` in the one order they allow. The unit around the call (its commit,
close and failure policy) is ``_unit.py``'s.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from ._begin import holds_connection, prepare_write_session
from ._internals import AloneResult
from ._plan import (
    Route,
    Savepoint,
    Transaction,
    log_plan,
    plan_bulk_insert,
    plan_column_read,
    plan_delete_begin,
    plan_flush,
    plan_load,
    plan_pending_write,
    plan_query_write,
    plan_read,
    plan_statement_write,
)
from ._plan_rows import plan_row_delete, plan_row_insert, plan_row_update
from ._reads_alone import read_columns_as_planned
from ._registry import ModelDatabase, database_for
from ._row_write import write_as_planned, write_statement_as_planned
from ._scope_session import OwnOrServedSession
from ._sqlite_locks import refuse_waiting_for_own_lock
from ._translate import translate_errors
from ._unit import (
    ABORTED_MESSAGE,
    UnitState,
    abort_unit,
    cancelled_by,
    close_session,
    reraise_translated,
    unit_facts,
    unit_state,
)
from ._unwatched import TableRows
from ._write_savepoint import WriteSavepoint, savepoint_gone
from .exceptions import NoDatabaseError, TransactionAbortedError

if TYPE_CHECKING:
    from ._replicas import Replica

__all__ = ["SessionScope", "State"]


class State(enum.Enum):
    """Where a :class:`SessionScope` is; each method names the states it may be called in."""

    READY = "made, not entered"
    SERVED = "in the caller's session, nothing of sqlrecord's open"
    SAVEPOINT = "in the caller's session, inside sqlrecord's SAVEPOINT"
    OWN_IDLE = "in an own session that has not begun"
    OWN_BEGUN = "in an own session's transaction"
    OWN_AUTOCOMMIT = "in an own session whose statements commit themselves"
    DONE = "left"


class SessionScope(OwnOrServedSession):
    """``async with SessionScope(Model, session, write=...) as scope:``, one call's unit;
    ``scope.session`` is its session.

    A write scope made with ``defer_begin=True`` waits, in an own session, for the
    call to say what it writes (:meth:`flush`, :meth:`execute_write`,
    :meth:`plan_bulk`) or to :meth:`begin`. An own session is opened when first asked for:
    a call whose plan ends on a connection of its own never opens it.

    Example:
        >>> async def count_users() -> int:
        ...     scope = SessionScope(User, None, operation="count", write=False)  # an own session
        ...     async with scope:
        ...         return len((await scope.session.scalars(User.query)).all())
        >>> run(count_users())
        0
    """

    __slots__ = (
        "_begun_because",
        "_deferred",
        "_facts",
        "_routed",
        "_savepoint",
        "_write",
        "auto_commit",
        "model",
        "plan",
        "replica",
        "served",
        "state",
    )

    def __init__(
        self,
        model: type[Any],
        session: AsyncSession | None,
        *,
        operation: str,
        write: bool,
        auto_commit: bool = False,
        cursor: bool = False,
        defer_begin: bool = False,
        primary: bool = False,
    ) -> None:
        self.model = model
        self.replica: Replica | None = None  # the one an own read went to, if any
        self.auto_commit = auto_commit
        self.state = State.READY
        self._write = write
        self._deferred = defer_begin
        self._savepoint: WriteSavepoint | None = None
        self._begun_because: str | None = None
        database: ModelDatabase | None = None
        if session is None:
            database = database_for(model)
            session = database.current_session()
        else:
            with contextlib.suppress(NoDatabaseError):  # a session passed in needs none
                database = database_for(model)
        # Kept as well as derivable from the plan's transaction: read on every call.
        served = self.served = session is not None
        # A replica may serve it (asked only where the database has replicas: a hot path).
        self._routed = (
            not served
            and not write
            and not primary
            and database is not None
            and database._replica_set is not None
        )
        self._facts = unit_facts(database, session if write else None)
        if not write:
            self.plan = plan_read(operation, model, served=served, unit=self._facts, cursor=cursor)
        elif defer_begin and not served:  # planned when the call says what it writes
            self.plan = plan_pending_write(operation, model)
        else:
            self.plan = plan_statement_write(operation, model, served=served, unit=self._facts)
        autocommit = self.plan.transaction is Transaction.AUTOCOMMIT
        super().__init__(database, session, autocommit=autocommit)

    def _move(self, allowed: tuple[State, ...], to: State) -> None:
        if self.state not in allowed:
            raise RuntimeError(f"sqlrecord: a scope cannot go from {self.state} to {to}.")
        self.state = to

    async def __aenter__(self) -> SessionScope:
        if self._routed:
            assert self._database is not None
            autocommit = self.plan.transaction is Transaction.AUTOCOMMIT
            if (routed := await self._database._read_bind(autocommit=autocommit)) is not None:
                bind, self.replica = routed
                self.session.bind, self.session.sync_session.bind = bind, bind.sync_engine
        if self.served:
            if unit_state(self.session) is UnitState.ABORTED:
                raise TransactionAbortedError(ABORTED_MESSAGE)
            if self.plan.savepoint is Savepoint.ORM:
                await self._begin_savepoint()
                self._move((State.READY,), State.SAVEPOINT)
            else:
                self._move((State.READY,), State.SERVED)
        elif self.plan.transaction is Transaction.AUTOCOMMIT:
            self._move((State.READY,), State.OWN_AUTOCOMMIT)
        elif not self._write:
            self._move((State.READY,), State.OWN_BEGUN)  # begins with its first statement
        else:
            self._move((State.READY,), State.OWN_IDLE)
            if not self._deferred:
                try:
                    await self.begin()
                except BaseException as error:
                    # __aexit__ does not run when entering fails: end the own session
                    # here, so that a connection already checked out goes back.
                    self.state = State.DONE
                    if self._session is not None:
                        cancelled = cancelled_by(error)
                        await close_session(self._session, failing=True, cancelled=cancelled)
                    raise
        return self

    async def begin(self, *, because: str | None = None) -> None:
        """Begin an own session's transaction now (BEGIN IMMEDIATE on SQLite), before a
        statement that is not one object's flush; ``because`` tells the plan why. In
        a served session, or once begun, nothing happens.
        """
        if self.state in (State.SERVED, State.SAVEPOINT, State.OWN_BEGUN):
            return
        self._move((State.OWN_IDLE,), State.OWN_BEGUN)
        self._begun_because = because
        with translate_errors(model=self.model.__name__):
            await prepare_write_session(self.session, model=self.model.__name__)

    async def begin_delete(self) -> None:
        """Before a DELETE: begin now when deleting may load and write related rows
        first (the planner says why), else leave it to :meth:`flush`.
        """
        reason = plan_delete_begin(self.model)
        if reason is not None:
            await self.begin(because=reason)

    async def flush(self, obj: Any) -> None:
        """Plan the flush of ``obj`` (added, changed or marked deleted), begin as
        planned (in autocommit when it is one statement in an own session), and flush.
        """
        begun = self._why_begun()
        session = self.session
        self.plan = plan_flush(
            self.plan.operation,
            obj,
            session.sync_session,
            served=self.served,
            unit=self._facts,
            begun=begun,
        )
        await self._begin_as_planned()
        await session.flush()

    async def write_row(self, obj: Any, *, delete: bool = False) -> bool:
        """Write ``obj``'s row by Core if the plan says so (``_plan_rows``: a new object's
        INSERT, a loaded one's UPDATE, or its DELETE), leaving ``obj`` as the flush would;
        ``False``: not planned, nothing done (add it, :meth:`flush`)."""
        new = inspect(obj).key is None
        planner = plan_row_delete if delete else plan_row_insert if new else plan_row_update
        planned = planner(
            self.plan.operation,
            obj,
            self.planned_on.sync_session,
            served=self.served,
            unit=self._facts,
            begun=self._why_begun(),
        )
        if planned is None:
            return False
        self.plan, row_write = planned
        await self._begin_as_planned()
        route = self.plan.route
        await write_as_planned(route, self.session_for(route), self._database, obj, row_write)
        return True

    async def execute_columns(self, statement: Select[Any]) -> tuple[list[str], Sequence[Any]]:
        """The keys and rows of a SELECT of columns, run as planned
        (``_plan.plan_column_read``, ``_reads_alone.read_columns_as_planned``)."""
        model = self.model
        plan = plan_column_read(
            self.plan, self.planned_on, unit=self._facts, model=model, statement=statement
        )
        self.plan = plan
        return await read_columns_as_planned(plan.route, self, model, statement)

    async def execute_write(self, statement: Executable) -> AloneResult:
        """Plan an UPDATE or DELETE by query, begin as planned, and execute it (in an own
        session: in autocommit when provably that one statement, on a connection of its
        own when nothing listens to sessions)."""
        self.plan = plan_query_write(
            self.plan.operation,
            self.model,
            statement,
            self.planned_on.sync_session,
            served=self.served,
            unit=self._facts,
            begun=self._why_begun(),
        )
        await self._begin_as_planned()
        route = self.plan.route
        session = self.session_for(route)
        return await write_statement_as_planned(route, session, self._database, statement)

    def _why_begun(self) -> str | None:
        """Why an own session's transaction has begun already, if it has."""
        session = self._session
        if self.state is State.OWN_IDLE and session is not None and holds_connection(session):
            self._move((State.OWN_IDLE,), State.OWN_BEGUN)  # something was read first
        if self.state is not State.OWN_BEGUN:
            return None
        return self._begun_because or "the session had begun already"

    async def _begin_as_planned(self) -> None:
        """An own session not begun: send its statements on the autocommit engine
        (each a transaction by itself), or begin, as the plan says."""
        if self.state is not State.OWN_IDLE:
            return
        if self.plan.transaction is not Transaction.AUTOCOMMIT:
            await self.begin(because=self.plan.why)
            return
        self._move((State.OWN_IDLE,), State.OWN_AUTOCOMMIT)
        assert self._database is not None  # an own session's
        bind = self._database._autocommit_engine
        refuse_waiting_for_own_lock(bind, model=self.model.__name__)
        self.bind_own_to(bind)

    def plan_bulk(self, *, return_objects: bool) -> TableRows | None:
        """Plan a ``bulk_create``: the table and row converter of a Core INSERT, or
        ``None`` for objects through the flush (call :meth:`begin` next).
        """
        self.plan, table_rows = plan_bulk_insert(
            self.model,
            self.session.sync_session,
            served=self.served,
            unit=self._facts,
            return_objects=return_objects,
        )
        return table_rows

    def plan_load(self, **what: Any) -> Route:
        """The route of a read of objects (``_plan.plan_load``: ``held``, ``key`` or
        ``statement``): the identity map, the rows read alone, or the session."""
        unit, model, session = self._facts, self.model, self.planned_on
        self.plan = plan_load(self.plan, unit=unit, model=model, session=session, **what)
        return self.plan.route

    async def _begin_savepoint(self) -> None:
        try:
            self._savepoint = await WriteSavepoint.begin(self.session, model=self.model.__name__)
        except Exception:
            if not self.session.sync_session.is_active:  # the unit's pending flush failed
                await abort_unit(self.session)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        state, self.state = self.state, State.DONE
        log_plan(self.plan)
        if state in (State.SERVED, State.SAVEPOINT):
            await self._end_served(exc)
        else:
            await self._end_own(exc)

    async def _end_own(self, exc: BaseException | None) -> None:
        session, name = self._session, self.model.__name__
        if session is None or (exc is None and session.sync_session.get_transaction() is None):
            if exc is not None:  # never opened, or never began: nothing to commit or close
                reraise_translated(exc, name)
            return
        try:
            if exc is None and self._write:
                with translate_errors(model=name):
                    await session.commit()
        finally:
            failing = exc is not None
            await close_session(session, failing=failing, cancelled=failing and cancelled_by(exc))
        if exc is not None:
            reraise_translated(exc, name)

    async def _end_served(self, exc: BaseException | None) -> None:
        savepoint, self._savepoint = self._savepoint, None
        if exc is None and savepoint is None and not self.auto_commit:
            return  # a read, or a write under savepoints=False: nothing to end
        name = self.model.__name__
        if exc is not None:
            gone = savepoint_gone(exc)
            # Without a SAVEPOINT to return to (savepoints=False), a failed write takes
            # the whole unit, now, on every database alike; with one, so does a failure
            # that ended the database's whole transaction.
            lost = self._write if savepoint is None else await savepoint.undo(exc)
            if lost:
                await abort_unit(self.session)
            # The flush's own ROLLBACK TO failed: the write's error is its context.
            reraise_translated(exc.__context__ if gone and exc.__context__ else exc, name)
            return
        with translate_errors(model=name):
            if savepoint is not None:
                await savepoint.release()
            if self.auto_commit:
                await self.session.commit()
