"""The service's :class:`sqlrecord.Database`, made per app.

The service's models name no database: during an app's requests and lifespan
(and in the tasks they start, the delivery worker's), they work in the app's
(``db.init_app``), and in a ``db.transaction()`` in its database; a command
line job uses ``db.as_default()``. So an app factory can run more than once in
a process (the tests build one app per database), each app with its own.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlrecord import Database

from .settings import Settings

__all__ = ["make_database"]


def make_database(settings: Settings) -> Database:
    """A new, configured ``Database`` for ``settings.db_url`` (not the process default).

    Statement parameters are never logged (``hide_parameters``): with
    ``DB_ECHO=true`` they would include password hashes and API secrets, and
    they would appear in the text of database errors too. ``DB_REPLICA_URLS``
    become the database's read replicas (sqlrecord's reads in its own sessions and
    GET requests go to them, with read-your-writes: docs/scaling-out.md).

    Example:
        >>> database = make_database(Settings(api_env="test", db_url="sqlite+aiosqlite://",
        ...                                   jwt_secret="s" * 32))
        >>> database.url.get_backend_name()
        'sqlite'
        >>> database.engine.sync_engine.hide_parameters
        True
    """
    # Pagination cursors and read-after tokens are signed with the database's secret:
    # one derived from JWT_SECRET is the same in every API process, so a cursor or a
    # token one process gave is honoured by the others.
    cursor_secret = hmac.new(
        settings.jwt_key.encode(), b"notification-api sqlrecord cursor secret", hashlib.sha256
    ).digest()
    return Database(
        settings.db_url,
        echo=settings.db_echo,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        engine_options={"hide_parameters": True},  # the replicas' engines take them too
        default=False,
        cursor_secret=cursor_secret,
        replicas=settings.replica_urls or None,
    )
