"""Translate driver errors into sqlrecord's typed errors, once, for all dialects.

SQLite, PostgreSQL (asyncpg, psycopg) and MySQL/MariaDB (aiomysql, asyncmy) each
report a broken constraint differently: SQLite by message and extended error name,
PostgreSQL by SQLSTATE, MySQL by a numeric error code. This module reads all three,
and each driver of a database the same way: the two MySQL drivers raise errors of
the same shape, and the two PostgreSQL drivers carry the same SQLSTATEs, with the
server's details where each driver keeps them (:func:`_postgres_field`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc

from ._read_only import refuse_read_only as _refuse_read_only
from ._sqlite_locks import waited_for_own_lock, writer_elsewhere
from .exceptions import (
    DatabaseUnavailableError,
    DuplicateKeyError,
    ForeignKeyError,
    IntegrityConstraintError,
    InvalidValueError,
    NotNullError,
    SelfDeadlockError,
    StaleObjectError,
    TransactionConflictError,
)

__all__ = [
    "is_connection_loss",
    "is_transaction_conflict",
    "is_unwrapped_connection_loss",
    "translate_errors",
    "translate_integrity_error",
]

_DUPLICATE, _FOREIGN_KEY, _NOT_NULL = "duplicate", "foreign_key", "not_null"

_POSTGRES_STATES = {"23505": _DUPLICATE, "23503": _FOREIGN_KEY, "23502": _NOT_NULL}
# 1062 duplicate entry, 1586 duplicate in a unique index (older servers),
# 1451/1452 parent row still referenced / missing, 1048/1364 NULL or no default.
_MYSQL_CODES = {
    1062: _DUPLICATE,
    1586: _DUPLICATE,
    1451: _FOREIGN_KEY,
    1452: _FOREIGN_KEY,
    1216: _FOREIGN_KEY,
    1217: _FOREIGN_KEY,
    1048: _NOT_NULL,
    1364: _NOT_NULL,
}
_SQLITE_MESSAGES = (
    ("UNIQUE constraint failed", _DUPLICATE),
    ("PRIMARY KEY", _DUPLICATE),
    ("FOREIGN KEY constraint failed", _FOREIGN_KEY),
    ("NOT NULL constraint failed", _NOT_NULL),
)
_SQLITE_NAMED = re.compile(r"constraint failed: (?P<name>[\w.,\s]+)")
_MYSQL_KEY = re.compile(r"for key '(?P<name>[^']+)'|column '(?P<column>[^']+)'", re.IGNORECASE)
_MYSQL_FIELD = re.compile(r"(?:column|Field) '(?P<name>[^']+)'", re.IGNORECASE)
_POSTGRES_KEY = re.compile(r"Key \((?P<name>[^)]+)\)")


def _classify(error: sa_exc.IntegrityError) -> tuple[str | None, str | None]:
    """Return (kind, constraint name) for an IntegrityError from any dialect."""
    orig = error.orig
    message = str(orig)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # MySQL/MariaDB: (code, message)
        match = _MYSQL_KEY.search(message)
        name = (match.group("name") or match.group("column")) if match else None
        return _MYSQL_CODES.get(args[0]), name
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str):  # PostgreSQL: SQLSTATE
        name = _postgres_field(orig, "constraint_name") or _postgres_field(orig, "column_name")
        if name is None and (match := _POSTGRES_KEY.search(message)):
            name = match.group("name")
        return _POSTGRES_STATES.get(state), name
    for needle, kind in _SQLITE_MESSAGES:
        if needle in message:
            match = _SQLITE_NAMED.search(message)
            return kind, match.group("name").strip() if match else None
    return None, None


def _postgres_field(orig: BaseException | None, field: str) -> str | None:
    """A field of PostgreSQL's error report (the constraint, the column): asyncpg keeps
    it on its own exception, the cause of SQLAlchemy's adapted one; psycopg on the
    error's ``diag``."""
    for source in (getattr(orig, "__cause__", None), getattr(orig, "diag", None)):
        value = getattr(source, field, None)
        if isinstance(value, str):
            return value
    return None


def translate_integrity_error(
    error: sa_exc.IntegrityError, *, model: str = "row"
) -> IntegrityConstraintError:
    """Map a SQLAlchemy ``IntegrityError`` to the matching sqlrecord error.

    Example:
        >>> translate_integrity_error  # doctest: +ELLIPSIS
        <function translate_integrity_error at ...>
    """
    kind, name = _classify(error)
    where = f" ({name})" if name else ""
    if kind == _DUPLICATE:
        return DuplicateKeyError(
            f"A {model} with the same unique value already exists{where}. "
            "Use a different value, or fetch the existing row and update it.",
            constraint=name,
        )
    if kind == _FOREIGN_KEY:
        return ForeignKeyError(
            f"The {model} refers to a row that does not exist, or is still referenced "
            f"by other rows{where}. Create the referenced row first, or remove the "
            "rows that point at it.",
            constraint=name,
        )
    if kind == _NOT_NULL:
        return _not_null(model, name)
    return IntegrityConstraintError(
        f"The database refused the {model}: it breaks a constraint{where} ({error.orig}).",
        constraint=name,
    )


def _not_null(model: str, name: str | None) -> NotNullError:
    where = f" ({name})" if name else ""
    return NotNullError(
        f"A required column of {model} got no value{where}. Pass a value for it.",
        constraint=name,
    )


@contextmanager
def translate_errors(*, model: str = "row") -> Iterator[None]:
    """Re-raise driver errors from the block as typed sqlrecord errors.

    Example:
        >>> with translate_errors(model="User"):
        ...     pass
    """
    try:
        yield
    except sa_exc.IntegrityError as error:
        raise translate_integrity_error(error, model=model) from error
    except orm_exc.StaleDataError as error:
        raise StaleObjectError(
            f"The {model} was changed or deleted by someone else since it was loaded; nothing "
            "was written. Load it again, re-apply the change and save."
        ) from error
    except sa_exc.PendingRollbackError as error:
        if "reconnect" not in str(error):
            raise
        # The session's connection broke earlier in this transaction.
        raise DatabaseUnavailableError(
            f"The database connection was lost earlier in this transaction, so {model} "
            "cannot be read or written in it. Roll the transaction back (a request's "
            "session does this when the error reaches it) and try again."
        ) from error
    except sa_exc.TimeoutError as error:
        raise DatabaseUnavailableError(
            f"No database connection came free in time for {model} ({error}). The pool is "
            "exhausted: raise pool_size/max_overflow, or shorten what holds connections."
        ) from error
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.InternalError) as error:
        _refuse_read_only(error, model)
        # An interface or internal error is the connection's, unless the server named
        # another state for it: psycopg's 25P02 (a statement in a failed transaction) is
        # an InternalError, and asyncpg passes the same state on as a plain DBAPIError.
        if error.connection_invalidated or (
            not isinstance(error, sa_exc.OperationalError) and not _names_other_state(error.orig)
        ):
            raise DatabaseUnavailableError(
                f"The database connection was lost while working on {model} "
                f"({error.orig}). Nothing of the transaction was kept; try again."
            ) from error
        if not isinstance(error, sa_exc.OperationalError):
            raise  # the database's own error, as asyncpg passes it on
        if _is_check_violation(error):
            match = _MYSQL_CHECK_NAME.search(str(error.orig))
            name = match.group("name") if match else None
            where = f" ({name})" if name else ""
            raise IntegrityConstraintError(
                f"The database refused the {model}: it breaks a CHECK constraint{where} "
                f"({error.orig}). Give values the constraint allows.",
                constraint=name,
            ) from error
        args = getattr(error.orig, "args", ())
        if args and _MYSQL_CODES.get(args[0]) == _NOT_NULL:
            # pymysql and asyncmy report "no default for a NOT NULL column" (1364) as operational.
            match = _MYSQL_FIELD.search(str(error.orig))
            raise _not_null(model, match.group("name") if match else None) from error
        if _is_connection_failure(error):
            raise DatabaseUnavailableError(
                f"The database could not be reached for {model} ({error.orig}). Nothing "
                "was written. Check that the server is up and the URL is right, then try again."
            ) from error
        if not is_transaction_conflict(error):
            raise
        raise _sqlite_self_deadlock(error, model) or TransactionConflictError(
            f"The database aborted the transaction writing {model} because it conflicted with "
            f"a concurrent one ({error.orig}). Nothing of it was kept: run the whole "
            f"transaction again (db.transaction(retries=3) does this for you).{_holder(error)}"
        ) from error
    except (sa_exc.DataError, sa_exc.ProgrammingError) as error:
        _refuse_read_only(error, model)
        if isinstance(error, sa_exc.ProgrammingError) and not _is_value_problem(error):
            raise
        raise InvalidValueError(
            f"The database rejected a value of {model}: {error.orig}. "
            "Check the value's type and length against the column."
        ) from error
    except sa_exc.DBAPIError as error:
        # Drivers that report a deadlock or a dropped connection with their
        # base error class (asyncpg does) land here, and so does a server that
        # is shutting down or starting (57P03) when the connection is opened.
        _refuse_read_only(error, model)
        if is_connection_loss(error):
            raise DatabaseUnavailableError(
                f"The database connection was lost while working on {model} "
                f"({error.orig}). Nothing of the transaction was kept; try again."
            ) from error
        state = getattr(error.orig, "sqlstate", None)
        if isinstance(state, str) and state.startswith("22"):  # PostgreSQL: data exception
            raise InvalidValueError(
                f"The database rejected a value of {model}: {error.orig}. "
                "Check the value's type, length and characters against the column."
            ) from error
        if is_transaction_conflict(error):
            raise TransactionConflictError(
                f"The database aborted the transaction writing {model} because it conflicted "
                f"with a concurrent one ({error.orig}). Nothing of it was kept: run the whole "
                "transaction again (db.transaction(retries=3) does this for you)."
            ) from error
        raise
    except sa_exc.StatementError as error:
        if isinstance(error, sa_exc.DBAPIError) or not isinstance(
            error.orig, TypeError | ValueError | OverflowError
        ):
            raise
        # A bind-time failure (the driver could not convert a Python value).
        raise InvalidValueError(
            f"A value of {model} could not be sent to the database: {error.orig}. "
            "Check the value's type against the column."
        ) from error
    except Exception as error:
        if not is_unwrapped_connection_loss(error):
            raise
        raise DatabaseUnavailableError(
            f"The database could not be reached, or dropped the connection while it was "
            f"being opened, for {model} ({error!r}). Nothing was written; try again."
        ) from error


def _sqlite_self_deadlock(error: sa_exc.DBAPIError, model: str) -> SelfDeadlockError | None:
    # SQLite's lock timed out while the task itself held it (_sqlite_locks.py): a
    # retry would meet the same lock, so say what holds it instead.
    if "database is locked" not in str(error.orig):
        return None
    return waited_for_own_lock(model=model)


def _holder(error: sa_exc.DBAPIError) -> str:
    # Which task of this process held SQLite's write lock, when one did: a task that
    # waits for this one (asyncio.gather of writes inside its db.transaction()) would
    # hold it until it gives up, whatever the retries.
    holder = writer_elsewhere() if "database is locked" in str(error.orig) else None
    if holder is None:
        return ""
    return (
        f" The SQLite write lock was held by the task {holder!r} of this process: if it "
        "waits for this one, write in its session or after it commits instead."
    )


# MySQL client errors: 2002/2003 cannot connect, 2005 unknown host, 2006 server
# gone, 2013 lost during query, 2055 lost at handshake; server: 1053 shutdown in
# progress, 1927 connection killed.
_MYSQL_CONNECTION_CODES = {2002, 2003, 2005, 2006, 2013, 2055, 1053, 1927}


# MariaDB reports a broken CHECK constraint as 4025, MySQL 8 as 3819: both as an
# OperationalError, where the other databases raise an IntegrityError.
_MYSQL_CHECK_CODES = {3819, 4025}
_MYSQL_CHECK_NAME = re.compile(
    r"constraint [`']?(?P<name>[^`' ]+)[`']? (?:failed|is violated)", re.I
)


def _is_check_violation(error: sa_exc.OperationalError) -> bool:
    args: tuple[object, ...] = getattr(error.orig, "args", ())
    return bool(args) and isinstance(args[0], int) and args[0] in _MYSQL_CHECK_CODES


def _is_connection_failure(error: sa_exc.OperationalError) -> bool:
    """A connection that could not be opened, or broke, without SQLAlchemy marking it."""
    orig = error.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_CONNECTION_CODES
    if getattr(orig, "pgconn", None) is not None and getattr(orig, "sqlstate", None) is None:
        # psycopg: a connection attempt that failed carries the attempt's connection and
        # no SQLSTATE (libpq gives none for it), whether the server was unreachable or
        # refused the login. (asyncpg's refused connection arrives unwrapped:
        # is_unwrapped_connection_loss.)
        return True
    return "unable to open database file" in str(orig)  # SQLite


# PostgreSQL (asyncpg and psycopg alike): connection exceptions (class 08) and
# operator intervention such as pg_terminate_backend (57P01-57P03).
_LOST_CONNECTION_STATES = ("08", "57P")


def is_connection_loss(error: BaseException) -> bool:
    """Whether ``error`` says the connection is gone, and its transaction with it.

    Example:
        >>> is_connection_loss(ConnectionResetError())
        True
        >>> is_connection_loss(ValueError("a value"))
        False
    """
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or _is_lost_connection_state(error.orig)
    return is_unwrapped_connection_loss(error)


def is_unwrapped_connection_loss(error: BaseException) -> bool:
    """A failed or dropped connection that reached us without SQLAlchemy's wrapping.

    SQLAlchemy wraps errors of the DBAPI it adapts, but not the socket errors of a
    refused connection, nor asyncpg's own exceptions raised while a new connection
    is set up (its type codecs): a server that kills the connection at that moment
    raises ``asyncpg.InterfaceError('connection is closed')``.
    """
    if isinstance(error, ConnectionError):
        return True
    if not type(error).__module__.startswith("asyncpg"):
        return False
    if any(cls.__name__ == "InterfaceError" for cls in type(error).__mro__):
        return True
    return _is_lost_connection_state(error)


def _names_other_state(error: BaseException | None) -> bool:
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and not state.startswith(_LOST_CONNECTION_STATES)


def _is_lost_connection_state(error: BaseException | None) -> bool:
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_LOST_CONNECTION_STATES)


# MySQL: 1213 deadlock, 1205 lock wait timeout (also a NOWAIT lock on MariaDB).
# PostgreSQL: 40P01 deadlock, 40001 serialization failure, 55P03 lock not available
# (lock_timeout, NOWAIT), which aborts the transaction there as well. SQLite reports
# its lock conflicts as "locked".
_CONFLICT_CODES = {1213, 1205}
_CONFLICT_STATES = {"40P01", "40001", "55P03"}


def is_transaction_conflict(error: sa_exc.DBAPIError) -> bool:
    """Whether the database aborted the transaction because of a concurrent one."""
    orig = error.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _CONFLICT_CODES
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str):
        return state in _CONFLICT_STATES
    return "database is locked" in str(orig)


# PostgreSQL: 42883 no such operator for these types, 42804 datatype mismatch.
_TYPE_MISMATCH_STATES = {"42883", "42804"}


def _is_value_problem(error: sa_exc.ProgrammingError) -> bool:
    # SQLite reports unsupported parameter types as ProgrammingError.
    if getattr(error.orig, "sqlstate", None) in _TYPE_MISMATCH_STATES:
        return True
    return "Error binding parameter" in str(error.orig) or "type" in str(error.orig).lower()
