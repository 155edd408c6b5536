"""Every use of a private name of SQLAlchemy or aiosqlite, in one package, checked at import.

Private names change between releases. sqlrecord uses a few, each for a
guarantee the public API cannot give; they live in this package and nowhere else
(``tests/test_internals.py`` checks the rest of sqlrecord for them), and
importing sqlrecord with a SQLAlchemy or aiosqlite outside the range CI tests
fails at once with a message that names that range, instead of failing later
inside a user's write.

The versions are checked before the submodules are imported, since those import
private names that another release may not have:

- :mod:`.sqlalchemy_orm`: session transactions, relationship loaders, loader symbols,
  column attribute implementations.
- :mod:`.sqlalchemy_events`: who listens to an event of a mapper, class, attribute or
  session, read without making anything on a session just made.
- :mod:`.sqlalchemy_core`: the traversal declaration of a custom SQL construct, the
  result columns a compiler records.
- :mod:`.sqlalchemy_engine`: what a ``Connection`` does to one statement (its compiled
  form, defaults, parameters, inserted key, returned values).
- :mod:`.sqlalchemy_connection`: what happens around it (asyncpg's adapter, the driver's
  errors, the pool's invalidation, the listeners a ``Connection`` calls, its log).
- :mod:`.direct`: a statement sent by the driver (aiomysql, asyncmy, asyncpg, aiosqlite),
  without SQLAlchemy's ``Connection`` around it, doing what the ``Connection`` would do
  with the names above; :mod:`.direct_held`: the same on the connection a session holds,
  inside its transaction.
- :mod:`.sqlalchemy_loading`: the ORM's loading of one object by its key (the SELECT,
  the object it builds, the mappings and sessions for which that is all it does).
- :mod:`.sqlalchemy_pool`: the queue pool's checkout, the dialect's default pool, an
  engine that lends another engine's pool.
- :mod:`.aiosqlite`: SQLAlchemy's aiosqlite adapter and aiosqlite's connection.
"""

from __future__ import annotations

import importlib.metadata

import sqlalchemy

__all__ = [
    "NO_VALUE",
    "SUPPORTED_AIOSQLITE",
    "SUPPORTED_SQLALCHEMY",
    "AloneResult",
    "DirectResult",
    "OneHopConnection",
    "OneHopCursor",
    "WatchfulQueuePool",
    "call_sync_api",
    "check_aiosqlite_version",
    "check_sqlalchemy_version",
    "configure_for_load",
    "connection_creator_of",
    "connections_opened_by",
    "default_pool_class",
    "engine_on_pool_of",
    "event_listeners",
    "execute_held",
    "first_listened",
    "forget_result_columns",
    "guard_column_loads",
    "guard_relationship_loads",
    "has_checked_out_connection",
    "held_connection",
    "key_select",
    "listener_count",
    "loaded_rows",
    "loaded_value_unchanged",
    "mark_deleted",
    "mark_inserted",
    "mark_updated",
    "read_alone",
    "register_inserted",
    "release_sqlite_lock",
    "released_threads_ended",
    "savepoint_hidden",
    "sqlite3_connection_of",
    "tables_from_attributes",
    "traversed_attributes",
    "use_one_hop_cursors",
    "why_engine_watched",
    "why_not_direct",
    "why_not_plain_load",
    "why_select_loads_otherwise",
    "why_session_loads_otherwise",
    "why_statements_watched",
    "write_alone",
]

#: The SQLAlchemy releases CI runs the suite on: lowest first, upper bound excluded.
SUPPORTED_SQLALCHEMY = ((2, 0, 46), (2, 2))

#: The aiosqlite releases CI runs the suite on: the lowest, and no upper bound.
SUPPORTED_AIOSQLITE = ((0, 20), None)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(char for char in piece if char.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_sqlalchemy_version(version: str = sqlalchemy.__version__) -> None:
    """Refuse a SQLAlchemy release outside the tested range, naming the range.

    Example:
        >>> check_sqlalchemy_version("2.1.9")
        >>> check_sqlalchemy_version("1.4.54")
        Traceback (most recent call last):
        ...
        ImportError: sqlrecord needs SQLAlchemy >=2.0.46,<2.2 ...
    """
    lowest, above = SUPPORTED_SQLALCHEMY
    found = _version_tuple(version)
    if lowest <= found < above:
        return
    raise ImportError(
        f"sqlrecord needs SQLAlchemy >=2.0.46,<2.2 (the releases its test suite runs on); "
        f"{version} is installed. Install a release in that range: "
        "pip install 'SQLAlchemy[asyncio]>=2.0.46,<2.2'."
    )


def check_aiosqlite_version(version: str | None = _installed("aiosqlite")) -> None:
    """Refuse an aiosqlite release older than the tested ones, or none, naming the range.

    aiosqlite is a dependency of sqlrecord's own (SQLite is the default database,
    and the SQLite adapter reads aiosqlite's connection), so a missing one is
    refused too. Read from the installed distribution: aiosqlite is not imported.

    Example:
        >>> check_aiosqlite_version("0.22.1")
        >>> check_aiosqlite_version("0.19.0")
        Traceback (most recent call last):
        ...
        ImportError: sqlrecord needs aiosqlite >=0.20 ...
        >>> check_aiosqlite_version(None)
        Traceback (most recent call last):
        ...
        ImportError: sqlrecord needs aiosqlite >=0.20 ...; it is not installed. ...
    """
    lowest, _ = SUPPORTED_AIOSQLITE
    if version is not None and _version_tuple(version) >= lowest:
        return
    found = "it is not installed" if version is None else f"{version} is installed"
    raise ImportError(
        f"sqlrecord needs aiosqlite >=0.20 (the releases its test suite runs on); "
        f"{found}. Install a release in that range: pip install 'aiosqlite>=0.20'."
    )


check_sqlalchemy_version()
check_aiosqlite_version()

# Only now: these import private names that an unsupported release may lack.
from .aiosqlite import (  # noqa: E402
    OneHopConnection,
    OneHopCursor,
    release_sqlite_lock,
    released_threads_ended,
    sqlite3_connection_of,
    use_one_hop_cursors,
)
from .direct import (  # noqa: E402
    AloneResult,
    DirectResult,
    read_alone,
    why_not_direct,
    why_statements_watched,
    write_alone,
)
from .direct_held import execute_held, held_connection, why_engine_watched  # noqa: E402
from .greenlets import call_sync_api  # noqa: E402
from .sqlalchemy_connection import event_listeners  # noqa: E402
from .sqlalchemy_core import (  # noqa: E402
    forget_result_columns,
    tables_from_attributes,
    traversed_attributes,
)
from .sqlalchemy_events import first_listened, listener_count  # noqa: E402
from .sqlalchemy_loading import (  # noqa: E402
    configure_for_load,
    key_select,
    loaded_rows,
    why_not_plain_load,
    why_select_loads_otherwise,
    why_session_loads_otherwise,
)
from .sqlalchemy_orm import (  # noqa: E402
    NO_VALUE,
    connections_opened_by,
    guard_column_loads,
    guard_relationship_loads,
    has_checked_out_connection,
    loaded_value_unchanged,
    mark_deleted,
    mark_inserted,
    mark_updated,
    register_inserted,
    savepoint_hidden,
)
from .sqlalchemy_pool import (  # noqa: E402
    WatchfulQueuePool,
    connection_creator_of,
    default_pool_class,
    engine_on_pool_of,
)
