"""``Database``: the engine, the session factory and the ambient session.

One ``Database`` per database server. The latest one configured with a URL
becomes the default for every model that does not name its own
(``__database__``). While ``db.session`` (the FastAPI dependency) or
``db.transaction()`` is active, its session is the *ambient session* of the
current task: model calls given no session (``Model.using(session)``) use it, so one request is
one unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, Self, TypeVar

from sqlalchemy import MetaData
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from . import _registry
from ._dialects import (
    adapt_url,
    autocommit_bind,
    dialect_connect_args,
    install_dialect_fixes,
    prepare_write_session,
)
from ._idle_ping import install_idle_ping, ping_after_idle
from ._pool import pool_class_for
from ._registry import database_for, default_database
from ._scope import NO_SAVEPOINTS
from ._session_close import close_session
from ._transaction import Transaction
from ._translate import translate_errors
from ._unit_failure import refuse_aborted
from .exceptions import ConfigurationError, NoDatabaseError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["Database", "database_for", "default_database"]

_T = TypeVar("_T")


class _Ambient(NamedTuple):
    session: AsyncSession
    # The task that opened the session. A child task inherits the context
    # variable but must not share the session: AsyncSession is not safe for
    # concurrent use, so other tasks fall back to their own sessions.
    owner: asyncio.Task[Any] | None


class Database:
    """An async SQLAlchemy engine with its session factory, made for FastAPI.

    Args:
        url: a SQLAlchemy async URL (``sqlite+aiosqlite:///app.db``,
            ``postgresql+asyncpg://…``, ``mysql+aiomysql://…``). Without it, call
            :meth:`init` later.
        echo: log every SQL statement.
        pool_recycle: seconds after which a pooled connection is replaced.
        pool_pre_ping: test a pooled connection before handing it out, if it has sat
            unused for over a second (a number: for over that many seconds; ``0``: on
            every checkout, SQLAlchemy's own behaviour; ``False``: never). A connection
            used a moment ago is not tested: should it have broken since, the call
            fails with ``DatabaseUnavailableError`` and the pool replaces every older
            connection.
        engine_options: more keyword arguments for ``create_async_engine``.
        session_options: more keyword arguments for ``async_sessionmaker``
            (sqlrecord's defaults: ``expire_on_commit=False``, ``autoflush=False``).
        default: make this database the default for models (the latest
            configured one with ``default=True`` wins).
        cursor_secret: the key that signs pagination cursors. Set the same
            value in every process that serves one API; by default each
            ``Database`` makes a random one (cursors then last as long as it).
        fast_paths: let sqlrecord's own sessions run a read, and a write whose
            flush is provably one statement, in autocommit (no BEGIN and COMMIT
            around a single statement). ``False`` is the reference mode: every
            call is plain SQLAlchemy session work (``add``, ``flush``,
            ``execute``, ``commit``) in an ordinary transaction. Both modes store
            the same rows and fire the same events; the differential test suite
            checks that they do.

    Example:
        >>> db = Database("sqlite+aiosqlite://")
        >>> db.url.get_backend_name()
        'sqlite'
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        echo: bool = False,
        pool_recycle: int = 900,
        pool_pre_ping: bool | float = True,
        engine_options: Mapping[str, Any] | None = None,
        session_options: Mapping[str, Any] | None = None,
        default: bool = True,
        cursor_secret: str | bytes | None = None,
        fast_paths: bool = True,
    ) -> None:
        self.cursor_secret = _secret_bytes(cursor_secret)
        self.fast_paths = fast_paths
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._ambient: contextvars.ContextVar[_Ambient | None] = contextvars.ContextVar(
            f"sqlrecord_ambient_{id(self)}", default=None
        )
        self._apps: list[Any] = []
        if url is not None:
            self.init(
                url,
                echo=echo,
                pool_recycle=pool_recycle,
                pool_pre_ping=pool_pre_ping,
                engine_options=engine_options,
                session_options=session_options,
                default=default,
            )

    # -- configuration -------------------------------------------------

    def init(
        self,
        url: str | URL,
        *,
        echo: bool = False,
        pool_recycle: int = 900,
        pool_pre_ping: bool | float = True,
        engine_options: Mapping[str, Any] | None = None,
        session_options: Mapping[str, Any] | None = None,
        default: bool = True,
    ) -> Self:
        """Configure the engine and session factory (for a ``Database()`` made without URL).

        Example:
            >>> db = Database().init("sqlite+aiosqlite://")
            >>> db.is_configured
            True
        """
        if self._engine is not None:
            raise ConfigurationError(
                f"This Database is already configured for {self.url!r}. Create another "
                "Database for a second database, or `await db.dispose()` and make a new one."
            )
        parsed = make_url(url)
        options: dict[str, Any] = {"echo": echo, "pool_recycle": pool_recycle}
        options.update(engine_options or {})
        # The dialect's connection settings, under any the caller gave.
        connect_args = {**dialect_connect_args(parsed), **options.get("connect_args", {})}
        if connect_args:
            options["connect_args"] = connect_args
        pool_class = pool_class_for(parsed, options)
        if pool_class is not None:
            options["poolclass"] = pool_class
        engine = create_async_engine(adapt_url(parsed), **options)
        install_dialect_fixes(engine)
        ping_after = ping_after_idle(pool_pre_ping)
        if ping_after is not None:
            install_idle_ping(engine, idle_seconds=ping_after)
        self._engine = engine
        self._sessionmaker = async_sessionmaker(
            engine, **{"expire_on_commit": False, "autoflush": False, **(session_options or {})}
        )
        self._autocommit_bind = autocommit_bind(engine)
        if default:
            self.make_default()
        return self

    def make_default(self) -> Self:
        """Make this the database of every model that does not name its own.

        Example:
            >>> first = Database("sqlite+aiosqlite://")
            >>> second = Database("sqlite+aiosqlite://", default=False)
            >>> second.make_default() is default_database()
            True
        """
        _registry.set_default(self)
        return self

    @property
    def is_configured(self) -> bool:
        """Whether :meth:`init` (or the constructor) has set up an engine.

        Example:
            >>> Database().is_configured
            False
        """
        return self._engine is not None

    @property
    def engine(self) -> AsyncEngine:
        """The ``AsyncEngine``; raises :class:`NoDatabaseError` before :meth:`init`.

        Example:
            >>> Database("sqlite+aiosqlite://").engine.dialect.name
            'sqlite'
        """
        if self._engine is None:
            raise NoDatabaseError(
                "This Database has no URL yet: call `db.init(url)` (or "
                "`db.init_app(app, url=...)`) before using it."
            )
        return self._engine

    @property
    def url(self) -> URL:
        """The engine's URL (password hidden when printed).

        Example:
            >>> str(Database("sqlite+aiosqlite://").url)
            'sqlite+aiosqlite://'
        """
        return self.engine.url

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The ``async_sessionmaker`` behind every session this database opens.

        Example:
            >>> Database("sqlite+aiosqlite://").sessionmaker.kw["expire_on_commit"]
            False
        """
        if self._sessionmaker is None:
            raise NoDatabaseError("This Database has no URL yet: call `db.init(url)` first.")
        return self._sessionmaker

    def new_own_session(self, *, read_only: bool) -> AsyncSession:
        """A session for sqlrecord's own use (the caller closes it).

        A read-only one runs each statement in a transaction of its own (autocommit):
        no BEGIN and no ROLLBACK around a single SELECT, two round trips fewer on
        PostgreSQL and a hand-off fewer on SQLite. MySQL/MariaDB keep the plain
        session (switching a connection to autocommit costs a round trip there), and
        so does every session of a database made with ``fast_paths=False``.

        Example:
            >>> db = Database("sqlite+aiosqlite://")
            >>> run(db.new_own_session(read_only=True).close())
        """
        if read_only and self.fast_paths:
            return self.sessionmaker(bind=self.autocommit_bind)
        return self.sessionmaker()

    @property
    def autocommit_bind(self) -> AsyncEngine:
        """The engine of sqlrecord's own reads and single-statement writes.

        Each statement is a transaction by itself: on SQLite no BEGIN is sent, on
        PostgreSQL the connection is in autocommit. On MySQL/MariaDB it is the
        engine itself (switching a connection to autocommit costs a round trip).

        Example:
            >>> db = Database("sqlite+aiosqlite://")
            >>> db.autocommit_bind.get_execution_options()
            immutabledict({'sqlrecord_autocommit': True})
        """
        if self._engine is None:
            raise NoDatabaseError("This Database has no URL yet: call `db.init(url)` first.")
        return self._autocommit_bind

    def __repr__(self) -> str:
        where = repr(self._engine.url) if self._engine is not None else "not configured"
        return f"Database({where})"

    # -- schema and lifetime -------------------------------------------

    def metadata(self) -> list[MetaData]:
        """The metadata of every sqlrecord model that works in this database.

        Example:
            >>> sorted(table.name for metadata in db.metadata() for table in metadata.sorted_tables
            ...        if table.name.startswith("doc_"))
            ['doc_memos', 'doc_posts', 'doc_users']
        """
        return _registry.metadata_for(self)

    async def create_all(self, *metadata: MetaData) -> None:
        """Create missing tables (for development and tests; use migrations in production).

        Without arguments, creates the tables of every model bound to this database.

        Example:
            >>> run(db.create_all())  # the tables of User and Post, if missing
        """
        async with self.engine.begin() as connection:
            for each in metadata or self.metadata():
                await connection.run_sync(each.create_all)

    async def drop_all(self, *metadata: MetaData) -> None:
        """Drop the tables of the given metadata (default: every bound model's).

        Example:
            >>> run(db.drop_all())
            >>> run(db.create_all())
        """
        async with self.engine.begin() as connection:
            for each in reversed(metadata or tuple(self.metadata())):
                await connection.run_sync(each.drop_all)

    async def dispose(self) -> None:
        """Close every pooled connection. The database can be used again afterwards.

        Example:
            >>> run(db.dispose())
            >>> run(User.create(email="after-dispose@example.com")).id is not None
            True
        """
        if self._engine is not None:
            await self._engine.dispose()

    # -- sessions --------------------------------------------------------

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
    async def _ambient_session(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        token = self._ambient.set(_Ambient(session, _current_task()))
        try:
            yield session
        finally:
            try:
                self._ambient.reset(token)
            except ValueError:  # exited in another context (never for well-behaved callers)
                self._ambient.set(None)

    @asynccontextmanager
    async def _own_session(self) -> AsyncIterator[AsyncSession]:
        """A new session, ambient while open, always ended: closed, or discarded when
        the work was cancelled mid-statement (its connection is then never reused)."""
        session = self.sessionmaker()
        try:
            async with self._ambient_session(session):
                yield session
        except Exception:
            await close_session(session, failing=True)
            raise
        except BaseException:
            await close_session(session, failing=True, cancelled=True)
            raise
        await close_session(session, failing=False)

    async def session(self) -> AsyncIterator[AsyncSession]:
        """FastAPI dependency: one ``AsyncSession`` per request, the request's ambient session.

        It never commits: call ``await session.commit()``, write through
        ``Model.using(auto_commit=True)``, or depend on :meth:`committing_session`
        instead. It
        always closes the session, which rolls back whatever was not committed
        (as ``async with sessionmaker() as session`` does); an exception goes on
        to the app's error handlers.

        Example:
            >>> from fastapi import Depends, FastAPI
            >>> from sqlalchemy.ext.asyncio import AsyncSession
            >>> db = Database("sqlite+aiosqlite://")
            >>> app = FastAPI()
            >>> @app.get("/users/count")
            ... async def count(session: AsyncSession = Depends(db.session)) -> int:
            ...     return 0
        """
        async with self._own_session() as session:
            yield session

    get_db = session

    async def committing_session(self) -> AsyncIterator[AsyncSession]:
        """Like :meth:`session`, but commits when the route returns without error.

        Declare it with ``Depends(db.committing_session, scope="function")`` so
        that the commit happens before the response is sent: a failed commit
        then becomes an error response instead of a lost write after a 200.
        On SQLite, a request that will write should call
        :meth:`begin_write` first.

        Example:
            >>> from fastapi import Depends
            >>> db = Database("sqlite+aiosqlite://")
            >>> dependency = Depends(db.committing_session, scope="function")
        """
        async with self._own_session() as session:
            yield session
            refuse_aborted(session)
            with translate_errors():
                await session.commit()

    async def begin_write(self, session: AsyncSession) -> None:
        """Declare ``session`` a writer before its first statement (SQLite: BEGIN IMMEDIATE).

        SQLite has one writer at a time. A transaction that reads and then
        writes while another connection commits fails at once with "database
        is locked" (SQLite skips its busy timeout there to avoid a deadlock).
        Taking the write lock up front makes it wait its turn instead. Other
        databases lock rows, not the file: this does nothing there. Call it
        first thing in a request that will write; ``db.transaction()`` and
        sqlrecord's own writing sessions do it themselves.

        Example:
            >>> async def write() -> None:
            ...     async with db.sessionmaker() as session:
            ...         await db.begin_write(session)
            ...         await User.using(session, auto_commit=True).create(email="w@example.com")
            >>> run(write())
        """
        await prepare_write_session(session)

    def transaction(
        self, *, session: AsyncSession | None = None, retries: int = 0, savepoints: bool = True
    ) -> Transaction:
        """A unit of work: commit on success, roll back on error (``async with`` or decorator).

        At the top level it opens a session, makes it the ambient session for
        the block and commits at the end. Inside another transaction (or a
        request's ``db.session``) it is a SAVEPOINT on the same session: an
        error rolls back only the block, and the outer owner commits. Used as
        a decorator with ``retries=N``, a deadlock or serialization failure
        runs the function again, up to N more times.

        ``savepoints=False`` (top level only) gives up the SAVEPOINT each write
        in the unit otherwise takes: two round trips fewer per ``create()`` on
        PostgreSQL and MySQL. The price: a failed write then rolls back the
        whole unit at once, and anything the unit tries afterwards raises
        :class:`~sqlrecord.exceptions.TransactionAbortedError`. For batches that
        stand or fall together.

        Example:
            >>> async def sign_up() -> None:
            ...     async with db.transaction() as session:
            ...         assert db.current_session() is session
            ...         author = await User.create(email="kim@example.com")
            ...         await Post.create(title="Hello", author=author)
            >>> run(sign_up())
            >>> run(User.get(email="kim@example.com")) is not None
            True
        """
        return Transaction(self, session=session, retries=retries, savepoints=savepoints)

    async def run_in_transaction(
        self, function: Callable[..., Awaitable[_T]], *args: Any, retries: int = 3, **kwargs: Any
    ) -> _T:
        """Run ``function(*args, **kwargs)`` as one unit of work, retried on conflicts.

        Example:
            >>> async def add(email: str) -> str:
            ...     return (await User.create(email=email)).email
            >>> run(db.run_in_transaction(add, "lee@example.com"))
            'lee@example.com'
        """
        return await self.transaction(retries=retries)(function)(*args, **kwargs)

    @asynccontextmanager
    async def unit_of_work(
        self, *, session: AsyncSession | None = None, savepoints: bool = True
    ) -> AsyncIterator[AsyncSession]:
        """The ``async with`` form of :meth:`transaction` (no retries).

        Example:
            >>> async def count() -> int:
            ...     async with db.unit_of_work():
            ...         return await User.count()
            >>> run(count())
            0
        """
        served = session if session is not None else self.current_session()
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
        async with self._own_session() as own:
            if not savepoints:
                own.info[NO_SAVEPOINTS] = True
            with translate_errors():
                await prepare_write_session(own)
                try:
                    yield own
                except Exception:
                    await _rollback_quietly(own)
                    raise
                refuse_aborted(own)
                await own.commit()

    # -- FastAPI -------------------------------------------------------

    def init_app(
        self,
        app: FastAPI,
        url: str | URL | None = None,
        *,
        create_all: bool = False,
        **options: Any,
    ) -> None:
        """Tie this database to a FastAPI app's lifespan.

        At startup the engine is configured (when ``url`` is given) and, with
        ``create_all=True``, missing tables are created once (for development;
        never per request). At shutdown the pool is disposed.

        Example:
            >>> from fastapi import FastAPI
            >>> app = FastAPI()
            >>> db = Database()
            >>> db.init_app(app, "sqlite+aiosqlite://")
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
        from .fastapi import wrap_lifespan  # FastAPI is an optional dependency

        wrap_lifespan(app, self, create_all=create_all)
        self._apps.append(app)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None


def _secret_bytes(secret: str | bytes | None) -> bytes:
    if secret is None:
        return secrets.token_bytes(32)
    return secret.encode() if isinstance(secret, str) else bytes(secret)


async def _rollback_quietly(session: AsyncSession) -> None:
    """Roll back after an error; if the connection is gone the rollback fails too,
    and the first error is the one to report (the pool drops the connection)."""
    with contextlib.suppress(sa_exc.DBAPIError):
        await session.rollback()
