"""``Database``'s side of a web app: the request's unit of work, the app's
registration (``init_app``), its lifespan, and the context that makes an app's
database the one of the models that name none.

Nothing here imports FastAPI: an app is only asked for ``state`` and
``add_middleware``, which Starlette and FastAPI apps have. The FastAPI-specific
parts (the dependency, the error handlers) are in ``fastapi.py``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from ._ambient import AmbientSessions
from ._begin import prepare_write_session
from ._read_after import Written, new_context
from ._registry import ModelDatabase, context_database
from ._translate import translate_errors
from ._unit import refuse_aborted
from .exceptions import ConfigurationError, DatabaseUnavailableError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from ._read_routing import ReadRouting

__all__ = ["RequestSessions", "app_database", "request_unit"]

logger = logging.getLogger("sqlrecord")

# Where an app keeps its databases, first registered first (``app.state``).
_STATE_KEY = "sqlrecord_databases"

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


@asynccontextmanager
async def request_unit(
    database: AmbientSessions, *, commit: bool, writer: bool = False, read_only: bool = False
) -> AsyncIterator[AsyncSession]:
    """One request's unit of work: a session ambient while the route runs, committed
    at the end when ``commit`` (and nothing failed), else closed, which rolls back.

    ``writer``: the request will write, so on SQLite it takes the write lock before
    its first statement (BEGIN IMMEDIATE) instead of failing to upgrade a read.
    ``read_only``: it will not commit (a GET under ``commit="unsafe_methods"``), so a
    replica that has replayed the client's writes may serve it, on one connection.
    """
    async with database._ambient_session() as session:
        routed = None
        if read_only:
            routed = await cast("ModelDatabase", database)._read_bind(autocommit=False)
            if routed is not None:
                session.bind, session.sync_session.bind = routed[0], routed[0].sync_engine
        elif writer:
            await prepare_write_session(session)
        try:
            yield session
        except DatabaseUnavailableError as error:
            if routed is not None:  # the replica went away: the next request goes elsewhere
                routed[1].failed(error)
            raise
        if commit:
            refuse_aborted(session)
            with translate_errors():
                await session.commit()


def app_database(app: Any) -> ModelDatabase | None:
    """The app's database (the first one given ``init_app(app)``), if any.

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> app_database(app) is None
        True
        >>> db.init_app(app)
        >>> app_database(app) is db
        True
    """
    databases: list[ModelDatabase] | None = getattr(app.state, _STATE_KEY, None)
    return databases[0] if databases else None


class _AppContext:
    """ASGI middleware: during the app's requests and its lifespan (and in the tasks
    they start, the delivery workers of a service say), models that name no
    database work in the app's."""

    def __init__(self, app: _ASGIApp, database: RequestSessions) -> None:
        self.app = app
        self.database = database
        self._warned = False

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if (
            scope["type"] == "http"
            and not self.database._lifespans
            and not self._warned
            # A test's transaction (sqlrecord.testing): an in-process client runs no lifespan.
            and getattr(self.database, "_pin", None) is None
        ):
            self._warned = True
            logger.warning(
                "sqlrecord: %r serves requests without its lifespan: its pool is not "
                "disposed at shutdown. Pass `lifespan=db.lifespan` to FastAPI(), or enter "
                "`db.lifespan(app)` in the app's own lifespan.",
                self.database,
            )
        with context_database(cast("ModelDatabase", self.database)):
            if scope["type"] != "http" or getattr(self.database, "_replica_set", None) is None:
                await self.app(scope, receive, send)
                return
            with new_context() as writes:
                await self._serve_reading_after(scope, receive, send, writes)

    async def _serve_reading_after(
        self, scope: _Scope, receive: _Receive, send: _Send, writes: dict[Any, Written]
    ) -> None:
        """Serve a request of a database with replicas: the client's token (cookie or
        header) makes its reads see its earlier writes; a response to a request that
        wrote carries the token of those writes."""
        database = cast("ReadRouting", self.database)
        database._accept_token(writes, _token_of(scope))

        async def send_token(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and any(
                written.wrote for written in writes.values()
            ):
                token = await database.read_token()
                if token is not None:
                    assert database._replica_set is not None
                    seconds = math.ceil(database._replica_set.config.max_lag) + 1
                    cookie = (
                        f"{TOKEN_COOKIE}={token}; Max-Age={seconds}; Path=/; HttpOnly; SameSite=Lax"
                    )
                    headers = [
                        *message.get("headers", []),
                        (b"set-cookie", cookie.encode("latin-1")),
                        (TOKEN_HEADER.encode("latin-1"), token.encode("latin-1")),
                    ]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_token)


#: The cookie and header that carry a client's read-your-writes token between requests.
TOKEN_COOKIE = "sqlrecord_read_after"
TOKEN_HEADER = "sqlrecord-read-after"


def _token_of(scope: _Scope) -> str | None:
    """The client's token: its header, else its cookie."""
    cookie_token = None
    for name, value in scope.get("headers", ()):
        if name == TOKEN_HEADER.encode("latin-1"):
            return str(value.decode("latin-1"))
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, found = part.strip().partition("=")
                if key == TOKEN_COOKIE:
                    cookie_token = found
    return cookie_token


class RequestSessions(AmbientSessions):
    """``Database``'s web-app methods (``init_app``, ``lifespan``, ``session``, ...)."""

    def __init__(self) -> None:
        AmbientSessions.__init__(self)
        self._apps: list[Any] = []  # the apps init_app registered this database on
        self._create_all_on_start: list[Any] = []  # those that asked for create_all
        self._lifespans = 0  # lifespans running now

    if TYPE_CHECKING:  # Database's
        init: Callable[..., Any]

        def metadata(self) -> list[MetaData]: ...

        async def create_all(self, *metadata: MetaData) -> None: ...

        async def dispose(self) -> None: ...

    # -- the request's session ---------------------------------------------

    async def session(self) -> AsyncIterator[AsyncSession]:
        """FastAPI dependency: the request's session in this database; never commits.

        The session is the ambient one while the route runs, so model calls use
        it. It is closed at the end, which rolls back whatever was not committed
        (call ``await session.commit()``). For a commit at the end, use
        :meth:`committing_session`, or ``sqlrecord.fastapi.request_session``,
        which finds the app's database from the request.

        Example:
            >>> from fastapi import Depends, FastAPI
            >>> from sqlalchemy.ext.asyncio import AsyncSession
            >>> app = FastAPI()
            >>> @app.get("/users/count")
            ... async def count(session: AsyncSession = Depends(db.session)) -> int:
            ...     return await User.count()
        """
        async with request_unit(self, commit=False) as session:
            yield session

    async def committing_session(self) -> AsyncIterator[AsyncSession]:
        """Like :meth:`session`, but commits when the route returns without error.

        Declare it with ``Depends(db.committing_session, scope="function")`` so
        that the commit happens before the response is sent: a failed commit
        then becomes an error response instead of a lost write after a 200.

        Example:
            >>> from fastapi import Depends
            >>> dependency = Depends(db.committing_session, scope="function")
        """
        async with request_unit(self, commit=True) as session:
            yield session

    async def begin_write(self, session: AsyncSession) -> None:
        """Declare ``session`` a writer before its first statement (SQLite: BEGIN IMMEDIATE).

        SQLite has one writer at a time: a transaction that reads and then tries
        to write after another one committed cannot be saved by waiting and fails.
        Taking the write lock up front makes it wait its turn instead. Other
        databases lock rows: nothing happens there. ``db.transaction()``,
        sqlrecord's own writing sessions and ``request_session(commit=
        "unsafe_methods")`` do it themselves.

        Example:
            >>> async def write() -> None:
            ...     async with db.sessionmaker() as session:
            ...         await db.begin_write(session)
            ...         await User.using(session, auto_commit=True).create(email="w@example.com")
            >>> run(write())
        """
        await prepare_write_session(session)

    # -- the app -------------------------------------------------------------

    def init_app(
        self,
        app: Any,
        url: str | URL | None = None,
        *,
        create_all: bool = False,
        error_handlers: bool = True,
        **options: Any,
    ) -> None:
        """Register this database on a FastAPI (or Starlette) app.

        - The app keeps it (``request_session`` finds it from the request). The
          first database registered is *the app's*: during the app's requests
          and its lifespan, and in tasks started from them, models that name no
          ``__database__`` work in it, so two apps with two databases can share
          one set of models in one process.
        - ``error_handlers``: answer every sqlrecord error with its status and
          an RFC 9457 problem-details body
          (``sqlrecord.fastapi.install_error_handlers``; call that again with
          ``body=`` to shape the body).
        - ``url`` and ``options`` configure the engine, as :meth:`init` does.
        - ``create_all``: create missing tables when :meth:`lifespan` starts
          (development only).

        The lifespan is the app's to compose: pass ``lifespan=db.lifespan`` to
        ``FastAPI()``, or enter ``db.lifespan(app)`` in your own.

        Example:
            >>> from fastapi import FastAPI
            >>> from sqlrecord import Database
            >>> other = Database(default=False)
            >>> app = FastAPI(lifespan=other.lifespan)
            >>> other.init_app(app, "sqlite+aiosqlite://")
            >>> run(other.dispose())
        """
        if any(registered is app for registered in self._apps):
            raise ConfigurationError(
                "This Database is already registered on this app: call `db.init_app(app)` "
                "once, at app creation. For a second database, create another Database."
            )
        if url is not None:
            self.init(url, **options)
        elif options:
            raise ConfigurationError("Engine options go with a URL: `db.init_app(app, url, ...)`.")
        databases: list[ModelDatabase] = getattr(app.state, _STATE_KEY, None) or []
        if not databases:
            app.add_middleware(_AppContext, database=self)
        setattr(app.state, _STATE_KEY, [*databases, self])
        if error_handlers:
            from ._http_errors import install_error_handlers  # FastAPI: an optional dependency

            install_error_handlers(app)
        self._apps.append(app)
        if create_all:
            self._create_all_on_start.append(app)

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """This database's part of an app's lifespan: at startup, ``create_all()``
        when ``init_app(app, create_all=True)`` asked for it; at shutdown, even
        after a failed startup, ``dispose()``.

        Give it to FastAPI as the lifespan, or enter it in your own lifespan,
        around whatever must stop before the pool closes (workers, say).

        Example:
            >>> from contextlib import asynccontextmanager
            >>> from fastapi import FastAPI
            >>> @asynccontextmanager
            ... async def lifespan(app: FastAPI):
            ...     async with db.lifespan(app):
            ...         yield  # start and stop your own workers inside
            >>> app = FastAPI(lifespan=lifespan)
            >>> async def serve_once() -> bool:
            ...     async with app.router.lifespan_context(app):
            ...         return await User.count() >= 0
            >>> run(serve_once())
            True
        """
        self._lifespans += 1
        try:
            # The app's database is the models' for the whole lifespan, and for the
            # tasks it starts, also when it is entered without the app's middleware.
            with (
                context_database(cast("ModelDatabase", self))
                if app is not None and app_database(app) is cast("ModelDatabase", self)
                else nullcontext()
            ):
                if any(registered is app for registered in self._create_all_on_start):
                    await self.create_all()
                logger.info("sqlrecord: %r ready", self)
                yield
        finally:
            self._lifespans -= 1
            await self.dispose()
            logger.info("sqlrecord: %r disposed", self)

    @contextmanager
    def as_default(self) -> Iterator[None]:
        """Within the block, and in tasks started from it, models that name no
        database work in this one (as during the requests of an app it was given
        to with ``init_app``). For scripts, CLI commands and tests.

        Example:
            >>> from sqlrecord import Database
            >>> other = Database("sqlite+aiosqlite://", default=False)
            >>> with other.as_default():
            ...     run(other.create_all())
            ...     run(User.create(email="elsewhere@example.com")).id
            1
            >>> run(other.dispose())
        """
        with context_database(cast("ModelDatabase", self)):
            yield
