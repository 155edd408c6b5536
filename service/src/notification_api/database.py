"""The service's :class:`sqlrecord.Database`, made per app and bound to the models.

sqlrecord fixes a model's database through a class attribute
(``__database__``), and a ``Database`` is configured once. An app factory
that may run more than once in a process (the tests build one app per
database) therefore makes a new ``Database`` each time and rebinds the
service's abstract base to it.
"""

from __future__ import annotations

from sqlrecord import Database

from .models import Model
from .settings import Settings

__all__ = ["bind_database", "make_database"]


def make_database(settings: Settings) -> Database:
    """A new, configured ``Database`` for ``settings.db_url`` (not the process default).

    Statement parameters are never logged (``hide_parameters``): with
    ``DB_ECHO=true`` they would include password hashes and API secrets, and
    they would appear in the text of database errors too.

    Example:
        >>> database = make_database(Settings(api_env="test", db_url="sqlite+aiosqlite://",
        ...                                   jwt_secret="s" * 32))
        >>> database.url.get_backend_name()
        'sqlite'
        >>> database.engine.sync_engine.hide_parameters
        True
    """
    return Database(
        settings.db_url,
        echo=settings.db_echo,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        engine_options={"hide_parameters": True},
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
