"""The service's :class:`sqlrecord.Database`, made per app and bound to the models.

sqlrecord fixes a model's database through a class attribute
(``__database__``), and a ``Database`` is configured once. An app factory
that may run more than once in a process (the tests build one app per
database) therefore makes a new ``Database`` each time and rebinds the
service's abstract base to it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord import Database

from .models import Model
from .settings import Settings

__all__ = ["bind_database", "make_database", "take_write_lock"]


def make_database(settings: Settings) -> Database:
    """A new, configured ``Database`` for ``settings.db_url`` (not the process default).

    Example:
        >>> database = make_database(Settings(api_env="test", db_url="sqlite+aiosqlite://",
        ...                                   jwt_secret="s" * 32))
        >>> database.url.get_backend_name()
        'sqlite'
    """
    return Database(
        settings.db_url,
        echo=settings.db_echo,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        default=False,
    )


def bind_database(database: Database) -> None:
    """Make every service model work in ``database``.

    Example:
        >>> database = Database("sqlite+aiosqlite://", default=False)
        >>> bind_database(database)
        >>> from notification_api.models import User
        >>> User.__database__ is database
        True
    """
    Model.__database__ = database


async def take_write_lock(session: AsyncSession) -> None:
    """On SQLite, make the session's transaction a writer from its first statement.

    sqlrecord begins SQLite transactions with a plain (deferred) ``BEGIN``. A
    transaction that reads and then writes while another connection is
    committing fails at once with "database is locked": SQLite skips its busy
    timeout there to avoid a deadlock. A no-op UPDATE first takes the write lock
    the way ``BEGIN IMMEDIATE`` would, waiting politely for the other writer.
    Other databases lock rows, not the file: nothing to do.

    Example:
        >>> import asyncio
        >>> async def demo() -> None:
        ...     database = Database("sqlite+aiosqlite://", default=False)
        ...     async with database.engine.begin() as connection:
        ...         await connection.exec_driver_sql("CREATE TABLE users (id INTEGER)")
        ...     async with database.transaction() as session:
        ...         await take_write_lock(session)
        ...     await database.dispose()
        >>> asyncio.run(demo())
    """
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        await session.execute(text("UPDATE users SET id = id WHERE 0"))
