"""A unit of work's life: ``db.transaction()`` (a block, or a retrying decorator), its
commit and close, and what a failed write does to it.

At the top level a unit is an own session, ambient while open, begun as a writer,
committed on success and always closed. Inside another unit (or a request's
session) it is a SAVEPOINT. A write that fails alone leaves the unit usable; one
that took the unit's transaction with it (a lost connection, a deadlock, a write
under ``savepoints=False``) rolls the unit back at once and marks it, so that
nothing it does afterwards is committed without what came before.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm import exc as orm_exc

from ._begin import prepare_write_session
from ._internals import call_sync_api, connections_opened_by
from ._read_after import note_committed_writes
from ._registry import ModelDatabase
from ._translate import is_connection_loss, is_unwrapped_connection_loss, translate_errors
from ._unit_facts import UnitFacts
from .exceptions import ConfigurationError, TransactionAbortedError, TransactionConflictError

__all__ = [
    "ABORTED_MESSAGE",
    "Transaction",
    "UnitState",
    "abort_unit",
    "cancelled_by",
    "close_session",
    "refuse_aborted",
    "reraise_translated",
    "run_with_retries",
    "unit_facts",
    "unit_of_work",
    "unit_state",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class UnitState(enum.Enum):
    """What a session's unit of work allows, kept in ``session.info`` (calls in the
    unit see it there): a session sqlrecord did not make is ``OPEN``."""

    OPEN = "writes in it take a SAVEPOINT each"
    WITHOUT_SAVEPOINTS = "db.transaction(savepoints=False): writes take none"
    ABORTED = "a write failed and took the unit's transaction with it"


_STATE = "sqlrecord_unit"


def unit_state(session: AsyncSession) -> UnitState:
    """The state of ``session``'s unit of work.

    Example:
        >>> unit_state(db.sessionmaker()).name
        'OPEN'
    """
    state: UnitState = session.info.get(_STATE, UnitState.OPEN)
    return state


ABORTED_MESSAGE = (
    "A write in this unit of work failed and took the unit's transaction with it, so "
    "the whole unit was rolled back and nothing of it was kept (the error was raised "
    "where the write failed). Leave the block (or let the request end) and run the "
    "unit again."
)


class Transaction:
    """What ``db.transaction(...)`` returns: use it with ``async with`` or as a decorator.

    As a decorator the whole function is the unit of work, so it can run again:
    with ``retries=N`` a :class:`~sqlrecord.exceptions.TransactionConflictError`
    (deadlock, serialization failure) re-runs it up to N more times, after a
    short random pause. A ``with`` block cannot run twice, so ``retries`` there
    is refused.

    Example:
        >>> @db.transaction(retries=3)
        ... async def sign_up(email: str) -> int:
        ...     return (await User.create(email=email)).id
        >>> run(sign_up("kim@example.com")) > 0
        True
    """

    __slots__ = ("_context", "_database", "_retries", "_savepoints", "_session")

    def __init__(
        self,
        database: ModelDatabase,
        *,
        session: AsyncSession | None,
        retries: int,
        savepoints: bool = True,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries takes a whole number >= 0, got {retries!r}.")
        self._database = database
        self._session = session
        self._retries = retries
        self._savepoints = savepoints
        self._context: AbstractAsyncContextManager[AsyncSession] | None = None

    async def __aenter__(self) -> AsyncSession:
        if self._retries:
            raise ConfigurationError(
                "db.transaction(retries=...) cannot retry a `with` block (it cannot run "
                "twice). Decorate an async function with it instead."
            )
        self._context = unit_of_work(self._database, self._session, savepoints=self._savepoints)
        return await self._context.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._context is not None
        return await self._context.__aexit__(exc_type, exc, traceback)

    def __call__(self, function: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
        @functools.wraps(function)
        async def in_transaction(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            async def once() -> _T:
                async with unit_of_work(self._database, self._session, savepoints=self._savepoints):
                    return await function(*args, **kwargs)

            nested = self._session is not None or self._database.current_session() is not None
            # Inside another unit of work the outer owner's transaction is the one
            # that was aborted: only its owner can run it again.
            return await run_with_retries(once, retries=0 if nested else self._retries)

        return in_transaction


async def run_with_retries(attempt: Callable[[], Awaitable[_T]], *, retries: int) -> _T:
    """Await ``attempt()``; on a transaction conflict, pause briefly and try again.

    Example:
        >>> async def answer() -> int:
        ...     return 42
        >>> run(run_with_retries(answer, retries=2))
        42
    """
    for number in range(retries + 1):
        try:
            return await attempt()
        except TransactionConflictError:
            if number == retries:
                raise
            # Spread the retries out so the same transactions do not collide again.
            await asyncio.sleep(random.uniform(0.005, 0.02) * 2**number)
    raise AssertionError("unreachable")  # pragma: no cover


@asynccontextmanager
async def unit_of_work(
    database: ModelDatabase, session: AsyncSession | None, *, savepoints: bool
) -> AsyncIterator[AsyncSession]:
    """A unit of work: a SAVEPOINT in a served session, else an own session that is
    ambient while open, begun as a writer, committed on success, always closed.

    Example:
        >>> async def count() -> int:
        ...     async with unit_of_work(db, None, savepoints=True):
        ...         return await User.count()
        >>> run(count())
        0
    """
    served = session if session is not None else database.current_session()
    if served is not None:
        if not savepoints:
            raise ConfigurationError(
                "db.transaction(savepoints=False) starts a unit of work of its own; "
                "inside another one (or a request's db.session) every unit is a "
                "SAVEPOINT. Drop savepoints=False here, or move the unit out."
            )
        with translate_errors():
            async with served.begin_nested():
                yield served
        return
    async with database._ambient_session() as own:
        if not savepoints:
            own.info[_STATE] = UnitState.WITHOUT_SAVEPOINTS
        with translate_errors():
            await prepare_write_session(own)
            try:
                yield own
            except Exception:
                with contextlib.suppress(sa_exc.DBAPIError):  # the first error is the one
                    await own.rollback()
                raise
            refuse_aborted(own)
            await own.commit()


# -- the failure policy ----------------------------------------------------------


async def abort_unit(session: AsyncSession) -> None:
    """Roll the whole unit of ``session`` back and mark it, so that anything it tries
    next through sqlrecord (and its end) raises :class:`TransactionAbortedError`.

    A served write normally fails alone, in its SAVEPOINT. Some failures end the
    whole transaction instead (a lost connection, a deadlock, a write under
    ``savepoints=False``, a failed flush of what the unit had pending): then the
    writes after the failure must never be committed without the ones before.

    Example:
        >>> async def aborted() -> bool:
        ...     async with db.sessionmaker() as session:
        ...         await abort_unit(session)
        ...         return unit_state(session).name
        >>> run(aborted())
        'ABORTED'
    """
    session.info[_STATE] = UnitState.ABORTED
    with contextlib.suppress(sa_exc.DBAPIError):
        await session.rollback()


def refuse_aborted(session: AsyncSession) -> None:
    """Before a unit's COMMIT: a write that failed in it and took its transaction with
    it left nothing to commit; say so, even when the caller caught that write's error.

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
    if unit_state(session) is UnitState.ABORTED:
        raise TransactionAbortedError(ABORTED_MESSAGE)


async def close_session(session: AsyncSession, *, failing: bool, cancelled: bool = False) -> None:
    """End ``session``: closed with one rollback per connection; while another error
    propagates, quietly (the connection may be gone); discarded when cancelled
    mid-statement (its connection may still be busy: it is invalidated, never pooled
    again; on SQLite the engine's invalidate hook also stops the statement).

    Example:
        >>> run(close_session(db.sessionmaker(), failing=False))
    """
    # The writes it committed (a unit, a request's session, an own write) are this
    # task's, whatever happens next: its later reads must see them.
    note_committed_writes(session.info)
    if cancelled:
        with contextlib.suppress(Exception):
            await asyncio.shield(session.invalidate())
    elif failing:
        with contextlib.suppress(sa_exc.DBAPIError):
            await session.close()
    else:
        try:
            await call_sync_api(_close_resetting_once, session.sync_session)
        except sa_exc.DBAPIError as error:
            if not is_connection_loss(error):
                raise
            # The work is done (a read's rows are in hand, a write committed): a
            # connection the server dropped as it was handed back is discarded quietly.
            with contextlib.suppress(Exception):
                await session.invalidate()


def cancelled_by(error: BaseException | None) -> bool:
    """Whether ``error`` ends a call by cancelling it (not an ``Exception``: the task's
    ``CancelledError``, or ``KeyboardInterrupt``), so its session is discarded, not closed.

    Example:
        >>> import asyncio
        >>> cancelled_by(asyncio.CancelledError()), cancelled_by(ValueError()), cancelled_by(None)
        (True, False, False)
    """
    return error is not None and not isinstance(error, Exception)


def reraise_translated(exc: BaseException, model: str) -> None:
    """Raise the sqlrecord form of a driver or ORM error that ended a call on ``model``;
    other errors are left to propagate untouched (the caller raises them).

    Example:
        >>> from sqlalchemy.exc import TimeoutError as PoolTimeout
        >>> reraise_translated(PoolTimeout("the pool is full"), "User")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.DatabaseUnavailableError: ...
        >>> reraise_translated(ValueError("not ours"), "User")  # returns: the caller raises it
    """
    translatable = (
        sa_exc.StatementError,
        sa_exc.PendingRollbackError,
        sa_exc.TimeoutError,
        orm_exc.StaleDataError,
    )
    if isinstance(exc, translatable) or is_unwrapped_connection_loss(exc):
        with translate_errors(model=model):
            raise exc


def _close_resetting_once(session: Session) -> None:
    # Session.close rolls back each connection's transaction, then the pool rolls back
    # once more on check-in (a round trip on MySQL, a hand-off on SQLite). Closing the
    # connections the session opened first lets each tell the pool it needs no reset.
    for connection in connections_opened_by(session):
        connection.close()
    session.close()


# Every combination of facts, made once: a call looks its own up.
_FACTS = {facts: UnitFacts(*facts) for facts in itertools.product((False, True), repeat=4)}


def unit_facts(database: ModelDatabase | None, written: AsyncSession | None) -> UnitFacts:
    """The facts the planner reads for a call on ``database`` (``None``: a session passed
    in, no Database), writing into the served session ``written`` (``None``: a read, or an
    own session).

    Example:
        >>> unit_facts(None, None)
        UnitFacts(fast_paths=True, autocommit=False, savepoints_off=False, pinned=False)
    """
    savepoints_off = (
        written is not None
        and unit_state(written) is UnitState.WITHOUT_SAVEPOINTS
        and written.sync_session.get_nested_transaction() is None
    )
    if database is None:
        return _FACTS[True, False, savepoints_off, False]
    pinned = database._pin is not None  # sqlrecord.testing: one connection for all
    return _FACTS[database.fast_paths, database._autocommit_is_free, savepoints_off, pinned]
