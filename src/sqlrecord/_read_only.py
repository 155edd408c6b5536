"""A write that a read-only server refused (a replica), as a typed error.

Kept apart from ``_translate.py``, which calls it first for every driver error that
can carry one.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from .exceptions import ReadOnlyDatabaseError

__all__ = ["refuse_read_only"]

# PostgreSQL: 25006 read_only_sql_transaction (a standby, or default_transaction_read_only).
# MariaDB/MySQL: 1792 a statement in a READ ONLY transaction, 1290 the server runs with
# --read-only, 1836 read-only mode.
_READ_ONLY_STATES = {"25006"}
_READ_ONLY_CODES = {1792, 1290, 1836}


def refuse_read_only(error: sa_exc.DBAPIError, model: str) -> None:
    """Raise :class:`ReadOnlyDatabaseError` for a write a read-only server refused.

    Example:
        >>> refuse_read_only(sa_exc.DBAPIError("INSERT", {}, Exception("other")), "User")
    """
    orig = error.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        read_only = args[0] in _READ_ONLY_CODES and (args[0] != 1290 or "read-only" in str(orig))
    else:
        read_only = getattr(orig, "sqlstate", None) in _READ_ONLY_STATES
    if read_only:
        raise ReadOnlyDatabaseError(
            f"A write of {model} reached a read-only server, a replica ({orig}); nothing was "
            "written. Write in a unit of work that may (a request that commits, "
            "db.transaction()), or check that the Database's URL names the primary."
        ) from error
