"""``Database``: the engine, the session factory and units of work.

One ``Database`` per database server. The latest one configured with a URL
becomes the default for every model that does not name its own (``__database__``);
an app's database (``init_app``) or ``db.as_default()`` overrides it in a context.
Its web-app methods (``session``, ``init_app``, ``lifespan``) are in ``_requests.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Self

from sqlalchemy import MetaData
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from . import _registry
from ._begin import autocommit_bind, autocommit_is_free
from ._dialects import wait_for_given_up_work
from ._engine import build_engine, build_sessionmaker
from ._pinned import PinnableSessions
from ._read_after import tracking_session_class
from ._read_routing import ReadRouting
from ._replicas import Replicas, ReplicaSet
from ._requests import RequestSessions
from ._sqlite_pragmas import PragmaValue
from ._unit import Transaction
from .exceptions import ConfigurationError, NoDatabaseError

__all__ = ["Database"]


class Database(RequestSessions, PinnableSessions, ReadRouting):
    """An async SQLAlchemy engine with its session factory, made for FastAPI.

    Args:
        url: a SQLAlchemy async URL (``sqlite+aiosqlite:///app.db``,
            ``postgresql+asyncpg://…``, ``mysql+aiomysql://…``); one that names no
            driver (``postgresql://…``, ``mysql://…``) gets the recommended one among
            those installed (docs/drivers.md). Without it, call :meth:`init` later.
        echo: log every SQL statement.
        pool_recycle: seconds after which a pooled connection is replaced.
        pool_pre_ping: test a pooled connection before handing it out, if it has sat
            unused for over a second (a number: for over that many seconds; ``0``: on
            every checkout, SQLAlchemy's own behaviour; ``False``: never). A connection
            used a moment ago is not tested: should it have broken since, the call
            fails with ``DatabaseUnavailableError`` and the pool replaces every older
            connection.
        engine_options: more keyword arguments for ``create_async_engine``.
        sqlite_pragmas: SQLite's pragmas for each new connection, over sqlrecord's (WAL,
            ``synchronous=NORMAL``, 5 s busy timeout, foreign keys; docs/sessions.md).
        session_options: more keyword arguments for ``async_sessionmaker``
            (sqlrecord's defaults: ``expire_on_commit=False``, ``autoflush=False``).
        default: make this database the default for models (the latest
            configured one with ``default=True`` wins).
        cursor_secret: the key that signs pagination cursors. Set the same
            value in every process that serves one API; by default each
            ``Database`` makes a random one (cursors then last as long as it).
        fast_paths: let the planner take its shortcuts (docs/architecture.md):
            autocommit for an own session's read or one-statement write, the
            identity map for ``get``, a Core INSERT for ``bulk_create``. ``False``
            is the reference mode, plain session work in an ordinary transaction;
            the differential test suite checks that both store the same rows and
            fire the same events.
        autocommit_pool: MySQL/MariaDB only: keep a second pool, of the same size, whose
            connections stay in autocommit, for the calls that are one statement in a
            session of sqlrecord's own (a ``get``, a ``create``, a ``save`` of one row):
            each then needs no COMMIT or ROLLBACK round trip. ``False`` gives the pool up
            (for a server short of connections): those calls take the main pool and end
            with a COMMIT or ROLLBACK. SQLite and PostgreSQL need no second pool.
        replicas: read replicas of this database (a list of URLs, or
            :class:`~sqlrecord.Replicas` for the options). Reads sqlrecord runs in
            sessions of its own go to them, with read-your-writes; writes and units of
            work stay on the primary (docs/scaling-out.md).

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
        sqlite_pragmas: Mapping[str, PragmaValue] | None = None,
        session_options: Mapping[str, Any] | None = None,
        default: bool = True,
        cursor_secret: str | bytes | None = None,
        fast_paths: bool = True,
        autocommit_pool: bool = True,
        replicas: Sequence[str | URL] | Replicas | None = None,
    ) -> None:
        self.cursor_secret = _secret_bytes(cursor_secret)
        self.fast_paths = fast_paths
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        RequestSessions.__init__(self)
        self._autocommit: AsyncEngine | None = None
        self._autocommit_is_free = False  # until init()
        if url is not None:
            self.init(
                url,
                echo=echo,
                pool_recycle=pool_recycle,
                pool_pre_ping=pool_pre_ping,
                engine_options=engine_options,
                sqlite_pragmas=sqlite_pragmas,
                session_options=session_options,
                default=default,
                autocommit_pool=autocommit_pool,
                replicas=replicas,
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
        sqlite_pragmas: Mapping[str, PragmaValue] | None = None,
        session_options: Mapping[str, Any] | None = None,
        default: bool = True,
        autocommit_pool: bool = True,
        replicas: Sequence[str | URL] | Replicas | None = None,
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
        self._engine = engine = build_engine(
            url,
            echo=echo,
            pool_recycle=pool_recycle,
            pool_pre_ping=pool_pre_ping,
            engine_options=engine_options,
            sqlite_pragmas=sqlite_pragmas,
        )
        if replicas is not None:
            config = replicas if isinstance(replicas, Replicas) else Replicas(list(replicas))

            def replica_engine(replica: URL, connect_args: dict[str, Any]) -> AsyncEngine:
                options = dict(config.engine_options or engine_options or {})
                options["connect_args"] = {**connect_args, **options.get("connect_args", {})}
                return build_engine(
                    replica,
                    echo=echo,
                    pool_recycle=pool_recycle,
                    pool_pre_ping=pool_pre_ping,
                    engine_options=options,
                )

            self._replica_set = ReplicaSet(config, primary=engine, build_engine=replica_engine)
            # Its sessions record their committed writes, for read-your-writes.
            session_options = dict(session_options or {})
            session_options["sync_session_class"] = tracking_session_class(
                session_options.get("sync_session_class", Session), self._replica_set
            )
        self._sessionmaker = build_sessionmaker(engine, session_options)

        def own_pool() -> AsyncEngine:
            return build_engine(
                url,
                echo=echo,
                pool_recycle=pool_recycle,
                pool_pre_ping=pool_pre_ping,
                engine_options=engine_options,
                autocommit_beside=engine,
            )

        self._autocommit = autocommit_bind(engine, own_pool if autocommit_pool else None)
        self._autocommit_is_free = autocommit_is_free(engine, self._autocommit)
        if default:
            self.make_default()
        return self

    def make_default(self) -> Self:
        """Make this the database of every model that does not name its own.

        Example:
            >>> class Settings:  # a model that names no database
            ...     pass
            >>> first = Database("sqlite+aiosqlite://")
            >>> second = Database("sqlite+aiosqlite://", default=False).make_default()
            >>> _registry.database_for(Settings) is second
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
        """The ``async_sessionmaker`` behind every session this database opens (inside a
        test's transaction, ``sqlrecord.testing``, one bound to that transaction).

        Example:
            >>> Database("sqlite+aiosqlite://").sessionmaker.kw["expire_on_commit"]
            False
        """
        if self._pin is not None:  # a test's transaction: every session joins it
            return self._pin.sessionmaker
        if self._sessionmaker is None:
            raise NoDatabaseError("This Database has no URL yet: call `db.init(url)` first.")
        return self._sessionmaker

    def __repr__(self) -> str:
        where = repr(self._engine.url) if self._engine is not None else "not configured"
        return f"Database({where})"

    # -- schema and lifetime -------------------------------------------

    def metadata(self) -> list[MetaData]:
        """The metadata of every sqlrecord model that works in this database.

        Example:
            >>> sorted(table.name for metadata in db.metadata() for table in metadata.sorted_tables
            ...        if table.name.startswith("doc_"))
            ['doc_labels', 'doc_memos', 'doc_posts', 'doc_users']
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

    def checked_out(self) -> int:
        """How many connections are checked out now, from every pool of this database:
        the primary's, MySQL/MariaDB's autocommit pool and the replicas'. Once every call
        and request has ended it is 0; a test may assert that nothing leaked.

        Example:
            >>> run(User.count()) >= 0
            True
            >>> db.checked_out()
            0
        """
        engines = [] if self._engine is None else [self._engine]
        if self._autocommit is not None and self._autocommit.pool is not self.engine.pool:
            engines.append(self._autocommit)
        if self._replica_set is not None:
            engines += [replica.engine for replica in self._replica_set.replicas]
        counts = (getattr(engine.pool, "checkedout", lambda: 0)() for engine in engines)
        return sum(int(count) for count in counts)

    async def dispose(self) -> None:
        """Close every pooled connection (the replicas' too). The database can be used
        again afterwards.

        On SQLite it also waits, at most 10 s, for the statements of calls cancelled
        while they waited for the write lock: such a statement still runs if it gets
        the lock within the busy timeout, and nothing must be written after this.

        Example:
            >>> run(db.dispose())
            >>> run(User.create(email="after-dispose@example.com")).id is not None
            True
        """
        if self._engine is not None:
            await self._engine.dispose()
            if self._autocommit is not None and self._autocommit.pool is not self._engine.pool:
                await self._autocommit.dispose()  # MySQL/MariaDB's pool of its own
            await wait_for_given_up_work(self._engine)
        if self._replica_set is not None:
            await self._replica_set.dispose()

    # -- units of work ---------------------------------------------------

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


def _secret_bytes(secret: str | bytes | None) -> bytes:
    if secret is None:
        return secrets.token_bytes(32)
    return secret.encode() if isinstance(secret, str) else bytes(secret)
