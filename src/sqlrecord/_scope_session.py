"""Which session one model call works in: the caller's, or its own, opened when the work
first needs it.

Most calls in a session of their own end on a connection of their own
(``_plan_types.ALONE_ROUTES``: the row written or read by Core, the objects built as
the ORM's loading builds them), and never give the session any work. Opening one only
to read it (its class and listeners, its bind) and close it cost each of those calls
about as much as its own planning; the planner now reads a model of it instead
(``Database._model_session``: the session the sessionmaker would make now, never used),
and the session is opened only when the route needs it.

Example:
    >>> sessions = OwnOrServedSession(db, None, autocommit=True)
    >>> model = sessions.planned_on
    >>> model is db._model_session(autocommit=True), sessions.opened
    (True, False)
    >>> sessions.session is model, sessions.opened  # opened now: a session of its own
    (False, True)
    >>> run(sessions.session.close())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ._plan_types import ALONE_ROUTES, Route

if TYPE_CHECKING:
    from ._registry import ModelDatabase

__all__ = ["OwnOrServedSession"]


class OwnOrServedSession:
    """The session of one call: ``session`` given (served), or its own, opened from
    ``database`` at the first use of :attr:`session` (bound to the autocommit engine if
    ``autocommit``, or once :meth:`bind_own_to` says so)."""

    __slots__ = ("_database", "_own_autocommit", "_session")

    def __init__(
        self, database: ModelDatabase | None, session: AsyncSession | None, *, autocommit: bool
    ) -> None:
        self._database = database
        self._session = session
        self._own_autocommit = autocommit

    @property
    def opened(self) -> bool:
        """Whether the call has a session now: the caller's, or its own once opened."""
        return self._session is not None

    @property
    def session(self) -> AsyncSession:
        """The call's session: the caller's, or the own one, opened now if not yet."""
        session = self._session
        if session is None:
            assert self._database is not None  # an own session's
            session = self._database._open_session(autocommit=self._own_autocommit)
            self._session = session
        return session

    @property
    def planned_on(self) -> AsyncSession:
        """The session the planner reads: the call's, or, before an own one is opened, the
        database's model of it, which is the same but never used. Read it; never give it
        work."""
        if self._session is not None:
            return self._session
        assert self._database is not None  # an own session's
        return self._database._model_session(autocommit=self._own_autocommit)

    @property
    def own_bind(self) -> AsyncEngine:
        """The engine the own session is, or would be, bound to: where the routes on a
        connection of its own run (the planner's proof found it an engine)."""
        bind = self.planned_on.bind
        assert isinstance(bind, AsyncEngine)
        return bind

    def bind_own_to(self, bind: AsyncEngine) -> None:
        """Bind the own session to ``bind`` (the autocommit engine): now if it is open,
        else when it opens."""
        self._own_autocommit = True
        if self._session is not None:
            self._session.bind = bind
            self._session.sync_session.bind = bind.sync_engine

    def session_for(self, route: Route) -> AsyncSession | None:
        """The session ``route`` works in; ``None`` for a route on a connection of its own
        (nothing opened for it)."""
        return None if route in ALONE_ROUTES else self.session
