"""Every use of a private name of SQLAlchemy, in one module, checked at import.

SQLAlchemy's private names change between minor versions. sqlrecord uses a few,
each for a guarantee the public API cannot give; they live here, and importing
sqlrecord with a SQLAlchemy outside the range CI tests fails at once with a
message that names that range, instead of failing later inside a user's write.

The drivers' private names (aiosqlite's) live with the SQLite adapter in
``_sqlite_connection.py`` and ``_dialects.release_sqlite_lock``, each with a
fallback when the name is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

__all__ = [
    "SUPPORTED_SQLALCHEMY",
    "check_sqlalchemy_version",
    "connections_opened_by",
    "savepoint_commit_events_muted",
]

#: The SQLAlchemy releases CI runs the suite on: lowest first, upper bound excluded.
SUPPORTED_SQLALCHEMY = ((2, 0, 30), (2, 2))


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(char for char in piece if char.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_sqlalchemy_version(version: str = sqlalchemy.__version__) -> None:
    """Refuse a SQLAlchemy release outside the tested range, naming the range.

    Example:
        >>> check_sqlalchemy_version("2.1.9")
        >>> check_sqlalchemy_version("1.4.54")
        Traceback (most recent call last):
        ...
        ImportError: sqlrecord needs SQLAlchemy >=2.0.30,<2.2 ...
    """
    lowest, above = SUPPORTED_SQLALCHEMY
    found = _version_tuple(version)
    if lowest <= found < above:
        return
    raise ImportError(
        f"sqlrecord needs SQLAlchemy >=2.0.30,<2.2 (the releases its test suite runs on); "
        f"{version} is installed. Install a release in that range: "
        "pip install 'SQLAlchemy[asyncio]>=2.0.30,<2.2'."
    )


check_sqlalchemy_version()


def connections_opened_by(session: Session) -> list[Connection]:
    """The connections ``session``'s transaction checked out itself (not ones it was
    bound to), as ``Session.close`` finds them, so that closing them first ends each
    transaction once instead of twice (``_session_close``).

    Example:
        >>> from sqlalchemy import create_engine
        >>> connections_opened_by(Session(create_engine("sqlite://")))
        []
    """
    transaction = session.get_transaction()
    if transaction is None:
        return []
    entries: Any = transaction._connections.values()
    return [connection for connection, _, _, opened_here in set(entries) if opened_here]


# Events that tell a listener the unit of work committed or rolled back. SQLAlchemy
# fires them for a SAVEPOINT's release and rollback too (``SessionTransaction.commit``
# and ``rollback`` do so for nested transactions), where a user's ``after_commit``
# ("send the e-mail now") would run before the real COMMIT, or even in a unit that
# is rolled back later.
_COMMIT_EVENTS = ("before_commit", "after_commit", "after_rollback", "after_soft_rollback")


class _Silent:
    """Stands in for a listener collection: called, does nothing; tested, is empty."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __bool__(self) -> bool:
        return False


_SILENT = _Silent()


@contextmanager
def savepoint_commit_events_muted(
    session: Session, savepoint: SessionTransaction
) -> Iterator[None]:
    """Within the block, ``savepoint`` (a SAVEPOINT of sqlrecord's own, the session's
    innermost transaction) is released or rolled back without the session's commit
    and rollback events: to a listener, sqlrecord's per-write SAVEPOINT is no commit.

    The session's listener collections are swapped for the block only; its other
    events (flush, state changes, ``after_transaction_end``) fire as usual.

    Example:
        >>> from sqlalchemy import create_engine, event
        >>> session = Session(create_engine("sqlite://"))
        >>> seen = []
        >>> event.listen(session, "after_commit", lambda s: seen.append("commit"))
        >>> savepoint = session.begin_nested()
        >>> with savepoint_commit_events_muted(session, savepoint):
        ...     savepoint.commit()
        >>> session.commit(); seen
        ['commit']
    """
    if not savepoint.nested or session.get_transaction() is None:
        raise ValueError("Only a SAVEPOINT (a nested transaction) commits silently.")
    dispatch: Any = session.dispatch
    saved = [(name, getattr(dispatch, name)) for name in _COMMIT_EVENTS]
    for name, _ in saved:
        setattr(dispatch, name, _SILENT)
    try:
        yield
    finally:
        for name, listeners in saved:
            setattr(dispatch, name, listeners)
