"""The service's :class:`sqlrecord.Database`, made per app.

The service's models name no database: during an app's requests and lifespan
(and in the tasks they start, the delivery worker's), they work in the app's
(``db.init_app``), and in a ``db.transaction()`` in its database; a command
line job uses ``db.as_default()``. So an app factory can run more than once in
a process (the tests build one app per database), each app with its own.
"""

from __future__ import annotations

import inspect
from typing import Any

from sqlrecord import Database
from sqlrecord.exceptions import ConfigurationError

from .settings import Settings

__all__ = ["make_database"]


def make_database(settings: Settings) -> Database:
    """A new, configured ``Database`` for ``settings.db_url`` (not the process default).

    Statement parameters are never logged (``hide_parameters``): with
    ``DB_ECHO=true`` they would include password hashes and API secrets, and
    they would appear in the text of database errors too. ``DB_REPLICA_URLS``
    become the database's read replicas.

    Example:
        >>> database = make_database(Settings(api_env="test", db_url="sqlite+aiosqlite://",
        ...                                   jwt_secret="s" * 32))
        >>> database.url.get_backend_name()
        'sqlite'
        >>> database.engine.sync_engine.hide_parameters
        True
    """
    options: dict[str, Any] = {}
    if settings.db_replica_urls:
        # TODO(replicas): sqlrecord's `Database(..., replicas=[...])` is on its way; once
        # every supported sqlrecord has it, pass `replicas=settings.replica_urls` directly.
        if "replicas" not in inspect.signature(Database).parameters:
            raise ConfigurationError(
                "DB_REPLICA_URLS is set, but the installed sqlrecord's Database takes no "
                "replicas: install a sqlrecord with Database(..., replicas=...), or unset "
                "DB_REPLICA_URLS to read from DB_URL's database only."
            )
        options["replicas"] = settings.replica_urls
    return Database(
        settings.db_url,
        echo=settings.db_echo,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        engine_options={"hide_parameters": True},
        default=False,
        **options,
    )
