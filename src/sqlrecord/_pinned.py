"""Where a Database's sessions connect, and the test's transaction that pins them to one.

sqlrecord's sessions come from two places: ``Database.sessionmaker`` (``db.session``,
``db.committing_session``, ``db.transaction()``, every request session, and the own
session of a model call) and, for an own session whose plan says so, the
autocommit engine (``_begin.py``). While a test's transaction is open
(``sqlrecord.testing.rolled_back``), the sessionmaker is bound to that test's one
connection and every session joins its transaction with a SAVEPOINT of its own
(``join_transaction_mode="create_savepoint"``): a session's commit releases its
SAVEPOINT, its rollback returns to it, and the planner takes no route around the
connection (``UnitFacts.pinned``: no autocommit engine). At the end the outer
transaction is rolled back, and nothing the test did remains.

One connection does one thing at a time, and SAVEPOINTs end in the reverse order
of their beginning. Two sessions that interleave on it (concurrent requests in one
test) would release or roll back each other's work, so a SAVEPOINT may begin only
in the task that holds the newest open one, or in a task started from it (directly
or not) since; anything else is refused with :data:`CONCURRENT_USE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from .exceptions import ConfigurationError, NoDatabaseError

__all__ = ["CONCURRENT_USE", "PinnableSessions", "PinnedConnection"]

CONCURRENT_USE = (
    "Two tasks used the test's transaction at once: a session began in one task while "
    "another task's session was open (requests sent at once, or calls gathered, in one "
    "test). The test's transaction runs on one connection, where their SAVEPOINTs would "
    "undo each other's work, so this one is refused. Await one after the other inside "
    "rolled_back() or the sqlrecord_transaction fixture, or test concurrency without "
    "them, on the engine's own connections."
)


class _Holder:
    """A task that began a SAVEPOINT on a pinned connection, and the holder of the task
    that started it (kept in the pin's context variable, which a new task copies)."""

    __slots__ = ("parent", "task")

    def __init__(self, task: Any, parent: _Holder | None) -> None:
        self.task = task
        self.parent = parent


class PinnedConnection:
    """One connection in an outer transaction, the sessionmaker bound to it, and the
    task that holds each of its SAVEPOINTs.

    Example:
        >>> async def pinned_sessions() -> str:
        ...     async with db.engine.connect() as connection:
        ...         await connection.begin()
        ...         pin = PinnedConnection(connection, db.sessionmaker)
        ...         try:
        ...             return pin.sessionmaker.kw["join_transaction_mode"]
        ...         finally:
        ...             pin.unhook()
        >>> run(pinned_sessions())
        'create_savepoint'
    """

    __slots__ = ("_held", "_holder", "_hooks", "connection", "sessionmaker")

    def __init__(
        self, connection: AsyncConnection, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        self.connection = connection
        # The database's sessions, on this connection, each in a SAVEPOINT of its own.
        options = {**sessionmaker.kw, "join_transaction_mode": "create_savepoint"}
        options["bind"] = connection
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            class_=sessionmaker.class_, **options
        )
        # The holder of each SAVEPOINT open on the connection, the newest last; one is
        # held from the moment it is asked for, before the statement goes out.
        self._held: list[_Holder] = []
        # This task's holder, inherited by the tasks it starts (one variable per pin:
        # two databases pinned at once keep their turns apart).
        self._holder: contextvars.ContextVar[_Holder | None] = contextvars.ContextVar(
            f"sqlrecord_pinned_{id(self)}", default=None
        )
        sync_connection, engine = connection.sync_connection, connection.engine.sync_engine
        self._hooks: list[tuple[Any, str, Any]] = [
            (sync_connection, "savepoint", self._before_savepoint),
            (sync_connection, "release_savepoint", self._savepoint_ended),
            (sync_connection, "rollback_savepoint", self._savepoint_ended),
            (engine, "handle_error", self._savepoint_failed),
        ]
        for target, name, hook in self._hooks:
            event.listen(target, name, hook)

    def unhook(self) -> None:
        """Stop watching the connection (the test's transaction is over)."""
        for target, name, hook in self._hooks:
            if event.contains(target, name, hook):
                event.remove(target, name, hook)
        self._held.clear()

    def _before_savepoint(self, _connection: Connection, _name: str | None) -> None:
        # SQLAlchemy's event, in the calling task's context (its greenlets share it):
        # refuse a SAVEPOINT over another task's before it is sent.
        mine = self._holder.get()
        if self._held and not _descends(mine, self._held[-1]):
            raise ConfigurationError(CONCURRENT_USE)
        task = asyncio.current_task()
        if mine is None or mine.task is not task:
            mine = _Holder(task, mine)
            self._holder.set(mine)
        self._held.append(mine)

    def _savepoint_ended(self, _connection: Connection, _name: str, _context: Any) -> None:
        # Released or rolled back: SAVEPOINTs end newest first.
        if self._held:
            self._held.pop()

    def _savepoint_failed(self, context: ExceptionContext) -> None:
        # The SAVEPOINT statement itself failed: nothing was begun.
        ours = context.connection is self.connection.sync_connection
        statement = (context.statement or "").lstrip().upper()
        if ours and statement.startswith("SAVEPOINT") and self._held:
            self._held.pop()


def _descends(holder: _Holder | None, ancestor: _Holder) -> bool:
    while holder is not None:
        if holder is ancestor:
            return True
        holder = holder.parent
    return False


class PinnableSessions:
    """``Database``'s sessions for sqlrecord's own calls, and the pin that binds every
    session of the database to one test's transaction (``sqlrecord.testing``)."""

    _pin: PinnedConnection | None = None

    if TYPE_CHECKING:  # Database's
        _autocommit: AsyncEngine | None

        @property
        def engine(self) -> AsyncEngine: ...

        @property
        def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...

    def _open_session(self, *, autocommit: bool) -> AsyncSession:
        """A session for one call of sqlrecord's (the caller closes it); ``autocommit``:
        each statement a transaction by itself (the plan chose it, ``_plan.py``)."""
        if autocommit:
            return self.sessionmaker(bind=self._autocommit_engine)
        return self.sessionmaker()

    def _model_session(self, *, autocommit: bool) -> AsyncSession:
        """A session such as :meth:`_open_session` would open now, which nothing uses: what
        the planner reads (the session's class and its listeners, its bind, its options)
        before the call knows whether it needs a session at all. Most calls in a session
        of their own end on a connection of their own (``_plan.py``); they no longer open
        one only to read it. Kept while the sessionmaker and its options stay the same;
        never given work (a call that needs its session opens its own).

        Example:
            >>> from sqlrecord import Database
            >>> database = Database("sqlite+aiosqlite://", default=False)
            >>> model = database._model_session(autocommit=True)
            >>> model is database._model_session(autocommit=True)
            True
            >>> model.bind is database._autocommit_engine, model.sync_session.get_transaction()
            (True, None)
        """
        maker = self.sessionmaker
        models: dict[bool, tuple[Any, Any, dict[str, Any], AsyncSession]]
        models = self.__dict__.setdefault("_model_sessions", {})
        kept = models.get(autocommit)
        if (
            kept is not None
            and kept[0] is maker
            and kept[1] is maker.class_
            and kept[2] == maker.kw
        ):
            return kept[3]
        model = self._open_session(autocommit=autocommit)
        models[autocommit] = (maker, maker.class_, dict(maker.kw), model)
        return model

    @property
    def _autocommit_engine(self) -> AsyncEngine:
        """The engine whose statements commit themselves: on SQLite no BEGIN is sent,
        on PostgreSQL the connection is in autocommit; elsewhere the engine itself."""
        if self._pin is not None:  # the planner plans no autocommit then (UnitFacts.pinned)
            raise RuntimeError("sqlrecord: autocommit planned inside a test's transaction.")
        if self._autocommit is None:
            raise NoDatabaseError("This Database has no URL yet: call `db.init(url)` first.")
        return self._autocommit

    @asynccontextmanager
    async def _pinned(self) -> AsyncIterator[AsyncConnection]:
        """Open one connection, begin its transaction, bind every session of this
        database to it while the block runs, and roll it back at the end.

        Example:
            >>> async def nothing_kept() -> int:
            ...     async with db._pinned():
            ...         await User.create(email="kim@example.com")
            ...         assert await User.count() == 1
            ...     return await User.count()
            >>> run(nothing_kept())
            0
        """
        if self._pin is not None:
            raise ConfigurationError(
                "This Database is already inside a test's transaction: a test runs in "
                "one (rolled_back() or the sqlrecord_transaction fixture), not two. Use "
                "db.transaction() for a unit of work inside it."
            )
        async with self.engine.connect() as connection:
            outer = await connection.begin()
            pin = PinnedConnection(connection, self.sessionmaker)
            self._pin = pin
            failed = True
            try:
                yield connection
                failed = False
            finally:
                self._pin = None
                pin.unhook()
                if failed:  # the test's error is the one to see; the connection may be gone
                    with contextlib.suppress(sa_exc.DBAPIError):
                        await outer.rollback()
                else:
                    await outer.rollback()
