"""What an HTTP API answers for each sqlrecord error: the one table that decides it.

The mapping needs no web framework, so it is kept apart from ``fastapi.py``,
which turns a :class:`Problem` into a response. Each kind has a status, a short
title and a sentence a client may read. The error's own ``detail`` is not among
them: it is written for the developer who called sqlrecord and names tables,
columns, constraints and options, so it goes to the log instead.
"""

from __future__ import annotations

from typing import NamedTuple

from .exceptions import (
    DatabaseUnavailableError,
    DuplicateKeyError,
    ForeignKeyError,
    IntegrityConstraintError,
    InvalidCursorError,
    InvalidFieldError,
    InvalidValueError,
    NotFoundError,
    NotNullError,
    ProtectedFieldError,
    SQLRecordError,
    StaleObjectError,
    TransactionConflictError,
)

__all__ = ["Problem", "problem_for"]


class Problem(NamedTuple):
    """An sqlrecord error as an HTTP API answers it (RFC 9457's members and more).

    Attributes:
        status: the HTTP status code.
        kind: a stable, machine-readable name (``"duplicate-key"``); ``type`` is
            the URI made from it.
        title: a short summary of the kind, the same for every occurrence.
        detail: a sentence for the client; it names nothing of the schema.
        retry_after: seconds for a ``Retry-After`` header (503s), else ``None``.
        error: the exception itself, with the developer's ``detail``.

    Example:
        >>> from sqlrecord.exceptions import DuplicateKeyError
        >>> problem = problem_for(DuplicateKeyError("users.email exists", constraint="email"))
        >>> problem.status, problem.kind, problem.type
        (409, 'duplicate-key', 'urn:sqlrecord:problem:duplicate-key')
    """

    status: int
    kind: str
    title: str
    detail: str
    retry_after: int | None
    error: SQLRecordError

    @property
    def type(self) -> str:
        """The problem type's URI (RFC 9457 ``type``), one per kind.

        Example:
            >>> from sqlrecord.exceptions import NotFoundError
            >>> problem_for(NotFoundError("No User with id=3.")).type
            'urn:sqlrecord:problem:not-found'
        """
        return f"urn:sqlrecord:problem:{self.kind}"


_BUSY = "The service is busy; try again in a moment."

# Most specific class first: the first match decides.
_TABLE: tuple[tuple[type[SQLRecordError], int, str, str, str], ...] = (
    (InvalidCursorError, 400, "invalid-cursor", "Invalid cursor",
     "The page cursor is malformed, expired or belongs to another query."),
    (ProtectedFieldError, 422, "protected-field", "Protected field",
     "The request sets a field it may not set."),
    (InvalidFieldError, 422, "invalid-field", "Invalid field",
     "The request names a field that does not exist or may not be used here."),
    (InvalidValueError, 422, "invalid-value", "Invalid value",
     "A value does not fit its field."),
    (NotFoundError, 404, "not-found", "Not found", "The resource does not exist."),
    (StaleObjectError, 409, "stale-object", "Changed meanwhile",
     "The record changed meanwhile: read it again and retry."),
    (DuplicateKeyError, 409, "duplicate-key", "Duplicate",
     "A record with these values exists already."),
    (ForeignKeyError, 409, "foreign-key", "Reference conflict",
     "The request refers to a record that does not exist, or one that others still use."),
    (NotNullError, 422, "missing-value", "Missing value", "A required value is missing."),
    (IntegrityConstraintError, 409, "constraint", "Constraint violated",
     "The request breaks a rule of the stored data."),
    (TransactionConflictError, 503, "transaction-conflict", "Busy", _BUSY),
    (DatabaseUnavailableError, 503, "database-unavailable", "Unavailable", _BUSY),
)  # fmt: skip


def problem_for(error: SQLRecordError, *, retry_after: int = 1) -> Problem:
    """The problem an API answers for ``error``; anything not in the table (a
    configuration mistake, a relationship not loaded, several rows where one was
    expected) is a bug of the app, a 500 ``internal`` problem.

    ``retry_after`` is the ``Retry-After`` of the momentary kinds (503).

    Example:
        >>> from sqlrecord.exceptions import NotLoadedError, TransactionConflictError
        >>> problem_for(TransactionConflictError("deadlock")).retry_after
        1
        >>> problem_for(NotLoadedError.for_attribute("User", "posts")).status
        500
    """
    for kind, status, name, title, detail in _TABLE:
        if isinstance(error, kind):
            wait = retry_after if status == 503 else None
            return Problem(status, name, title, detail, wait, error)
    return Problem(
        500, "internal", "Internal error", "Internal server error; it has been logged.",
        None, error,
    )  # fmt: skip
