"""The ambient session: the session of ``db.session``/``db.transaction()`` that a
model call given none uses, so that one request (or one block) is one unit of work.
While it is open, its database is also the one of the models that name none.

It belongs to the task that opened it. A child task inherits the context variable
but must not share the session (``AsyncSession`` is not safe for concurrent use), so
other tasks fall back to sessions of their own.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ._registry import ModelDatabase, context_database
from ._unit import close_session

__all__ = ["AmbientSessions"]


class _Ambient(NamedTuple):
    session: AsyncSession
    # The task that opened the session: only it may use the session.
    owner: asyncio.Task[Any] | None


class AmbientSessions:
    """``Database``'s ambient sessions: one context variable per database, and the
    own sessions that are ambient while open (``db.session``, ``db.transaction()``)."""

    def __init__(self) -> None:
        self._ambient: contextvars.ContextVar[_Ambient | None] = contextvars.ContextVar(
            f"sqlrecord_ambient_{id(self)}", default=None
        )

    if TYPE_CHECKING:  # Database's

        @property
        def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...

    def current_session(self) -> AsyncSession | None:
        """The ambient session of the running task, if ``db.session``/``db.transaction`` set one.

        Example:
            >>> db.current_session() is None
            True
            >>> async def inside() -> bool:
            ...     async with db.transaction() as session:
            ...         return db.current_session() is session
            >>> run(inside())
            True
        """
        ambient = self._ambient.get()
        if ambient is None or ambient.owner is not _current_task():
            return None
        return ambient.session

    @asynccontextmanager
    async def _made_ambient(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        token = self._ambient.set(_Ambient(session, _current_task()))
        try:
            # A unit of work of this database is one for the models that name no
            # database too: theirs is this one while it lasts (not the default).
            with context_database(cast("ModelDatabase", self)):
                yield session
        finally:
            try:
                self._ambient.reset(token)
            except ValueError:  # exited in another context (never for well-behaved callers)
                self._ambient.set(None)

    @asynccontextmanager
    async def _ambient_session(self) -> AsyncIterator[AsyncSession]:
        """A new session, ambient while open, always ended: closed, or discarded when
        the work was cancelled mid-statement (its connection is then never reused)."""
        session = self.sessionmaker()
        try:
            async with self._made_ambient(session):
                yield session
        except Exception:
            await close_session(session, failing=True)
            raise
        except BaseException:
            await close_session(session, failing=True, cancelled=True)
            raise
        await close_session(session, failing=False)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None
