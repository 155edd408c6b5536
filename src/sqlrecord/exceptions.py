"""Every error sqlrecord raises on purpose, in one hierarchy.

Each message says what went wrong and what to do about it. Driver errors are
translated once, at the point where sqlrecord talks to the database, and always
chained (``raise ... from exc``) so the original stays in the traceback::

    SQLRecordError
    ├── ConfigurationError
    │   ├── NoDatabaseError            no Database configured for a model
    │   └── NoSessionError             an object has no session to work in
    ├── InvalidFieldError (KeyError)   unknown or unsettable attribute name
    │   └── ProtectedFieldError        mass-assignment protection refused it
    ├── InvalidValueError (ValueError) a value of the wrong type or shape
    │   └── InvalidCursorError         a pagination cursor that is malformed or tampered with
    ├── NotLoadedError                 an attribute was not loaded (async cannot lazy-load)
    ├── NotFoundError (LookupError)    no row where one was required
    ├── MultipleResultsError           several rows where one was required
    ├── StaleObjectError               another writer changed the row first (optimistic lock)
    ├── TransactionConflictError       deadlock / serialization failure: run it again
    ├── TransactionAbortedError        a failed write took its unit of work with it
    ├── SelfDeadlockError              a write would wait for a lock its own task holds
    ├── DatabaseUnavailableError       connection lost or none free: try again later
    ├── ReadOnlyDatabaseError          a write reached a read replica
    └── IntegrityConstraintError       the database refused a write
        ├── DuplicateKeyError          unique / primary key violated
        ├── ForeignKeyError            reference to a missing row, or still referenced
        └── NotNullError               NULL in a NOT NULL column

Example:
    >>> from sqlrecord.exceptions import InvalidFieldError, SQLRecordError
    >>> issubclass(InvalidFieldError, KeyError) and issubclass(InvalidFieldError, SQLRecordError)
    True
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConfigurationError",
    "DatabaseUnavailableError",
    "DuplicateKeyError",
    "ForeignKeyError",
    "IntegrityConstraintError",
    "InvalidCursorError",
    "InvalidFieldError",
    "InvalidValueError",
    "MultipleResultsError",
    "NoDatabaseError",
    "NoSessionError",
    "NotFoundError",
    "NotLoadedError",
    "NotNullError",
    "ProtectedFieldError",
    "ReadOnlyDatabaseError",
    "SQLRecordError",
    "SelfDeadlockError",
    "StaleObjectError",
    "TransactionAbortedError",
    "TransactionConflictError",
]


class SQLRecordError(Exception):
    """Base class of every error sqlrecord raises on purpose.

    ``detail`` holds the human-readable message; ``str(error)`` returns it too.

    Example:
        >>> try:
        ...     raise NotFoundError("No User with id=7.")
        ... except SQLRecordError as error:
        ...     error.detail
        'No User with id=7.'
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        # KeyError would otherwise repr() the message, wrapping it in quotes.
        return self.detail


class ConfigurationError(SQLRecordError):
    """sqlrecord is set up in a way that cannot work (see the message for the fix).

    Example:
        >>> issubclass(NoDatabaseError, ConfigurationError)
        True
    """


class NoDatabaseError(ConfigurationError):
    """A model was used before any :class:`~sqlrecord.Database` was configured.

    Example:
        >>> str(NoDatabaseError.for_model("User")).startswith("User has no database")
        True
    """

    @classmethod
    def for_model(cls, model_name: str) -> NoDatabaseError:
        """Build the error for ``model_name`` with the two ways to fix it.

        Example:
            >>> "Database(" in NoDatabaseError.for_model("User").detail
            True
        """
        return cls(
            f"{model_name} has no database: create one with "
            "`db = Database('sqlite+aiosqlite:///app.db')` (a configured Database "
            "becomes the default), call `db.init(url)` on an existing one, or set "
            f"`{model_name}.__database__ = db`."
        )


class NoSessionError(ConfigurationError):
    """An object was asked for its session while it is not attached to one.

    Example:
        >>> issubclass(NoSessionError, SQLRecordError)
        True
    """


class InvalidFieldError(SQLRecordError, KeyError):
    """An attribute name that the model does not have, or that may not be set.

    It is also a :class:`KeyError`, as in the design notes, so code that caught
    ``KeyError`` keeps working.

    Attributes:
        model: the model's class name.
        field: the offending name.
        valid: the names that would have been accepted.

    Example:
        >>> error = InvalidFieldError.unknown("User", "nmae", ["email", "name"])
        >>> error.field, "name" in error.detail
        ('nmae', True)
    """

    def __init__(
        self, detail: str, *, model: str = "", field: str = "", valid: Iterable[str] = ()
    ) -> None:
        super().__init__(detail)
        self.model = model
        self.field = field
        self.valid = tuple(valid)

    @classmethod
    def no_relationship(
        cls, model: str, name: str, valid: Iterable[str], *, context: str = ""
    ) -> InvalidFieldError:
        """Build the error for a relationship name the model does not have.

        Example:
            >>> InvalidFieldError.no_relationship("User", "postz", ["posts"]).detail
            "User has no relationship 'postz'. Relationships: posts."
        """
        valid = tuple(valid)
        return cls(
            f"{context}{model} has no relationship {name!r}. "
            f"Relationships: {', '.join(valid) or '(none)'}.",
            model=model,
            field=name,
            valid=valid,
        )

    @classmethod
    def unknown(cls, model: str, field: str, valid: Iterable[str]) -> InvalidFieldError:
        """Build the error for a name that is not settable, listing the valid ones.

        Example:
            >>> InvalidFieldError.unknown("User", "id", ["email"]).detail
            "Cannot set 'id' on User: it is not a settable attribute. Settable: email."
        """
        valid = tuple(valid)
        return cls(
            f"Cannot set {field!r} on {model}: it is not a settable attribute. "
            f"Settable: {', '.join(valid) or '(none)'}.",
            model=model,
            field=field,
            valid=valid,
        )


class ProtectedFieldError(InvalidFieldError):
    """A call refused an attribute the model protects against mass assignment.

    When the value comes from trusted code rather than from a request, assign
    it (``user.is_admin = True``) or write through
    ``Model.using(allow_protected={"is_admin"})``.

    Example:
        >>> issubclass(ProtectedFieldError, InvalidFieldError)
        True
    """


class InvalidValueError(SQLRecordError, ValueError):
    """A value of the wrong type for its column, or one the database rejected.

    Example:
        >>> issubclass(InvalidValueError, ValueError)
        True
    """


class InvalidCursorError(InvalidValueError):
    """A keyset-pagination cursor that is malformed, tampered with, or from another query.

    Example:
        >>> issubclass(InvalidCursorError, ValueError)
        True
    """


class NotLoadedError(SQLRecordError):
    """An attribute that was never loaded was touched where no query can run.

    With ``AsyncSession`` a relationship, or a column ``only()``/``defer()`` left
    out, cannot load itself on access (``MissingGreenlet``). Load it up front.

    Example:
        >>> "load" in NotLoadedError.for_attribute("User", "posts").detail
        True
    """

    @classmethod
    def for_attribute(cls, model: str, name: str) -> NotLoadedError:
        """Build the error naming the attribute and the ways to load it.

        Example:
            >>> NotLoadedError.for_attribute("User", "posts").detail.startswith("User.posts")
            True
        """
        return cls(
            f"{model}.{name} is not loaded, and an async session cannot load it on access. "
            f"Load it with the query (`{model}.filter_by(...).load({name!r})`), or "
            f"`await obj.load_related({name!r})` before touching it."
        )


class NotFoundError(SQLRecordError, LookupError):
    """No row matched where exactly one was required (``get_or_fail``, ``one``).

    Example:
        >>> str(NotFoundError("No User with id=3."))
        'No User with id=3.'
    """


class MultipleResultsError(SQLRecordError, LookupError):
    """Several rows matched where at most one was expected.

    Example:
        >>> issubclass(MultipleResultsError, LookupError)
        True
    """


class StaleObjectError(SQLRecordError):
    """The row changed (or vanished) since this object was loaded; nothing was written.

    Raised for models with a version counter (:class:`~sqlrecord.VersionedMixin`):
    reload the row, re-apply the change, and save again.

    Example:
        >>> issubclass(StaleObjectError, SQLRecordError)
        True
    """


class TransactionConflictError(SQLRecordError):
    """The database aborted the whole transaction for a concurrent one (deadlock,
    serialization failure, lock timeout). Nothing of it was kept; running it
    again usually succeeds.

    Example:
        >>> issubclass(TransactionConflictError, SQLRecordError)
        True
    """


class TransactionAbortedError(SQLRecordError):
    """A write failed and took its unit of work's transaction with it, so the whole
    unit was rolled back at once; nothing of it is kept.

    That happens inside ``db.transaction(savepoints=False)``, which gives up the
    per-write SAVEPOINT that lets a served session carry on after a refused
    write; and in any unit when the database itself ends the transaction (a
    deadlock, a lost connection). The first error says what failed; this one is
    raised by anything the unit tries afterwards through sqlrecord, and when the
    block ends normally (or the request's ``committing_session`` would commit)
    although a write failed. Run the whole unit again.

    Example:
        >>> issubclass(TransactionAbortedError, SQLRecordError)
        True
    """


class SelfDeadlockError(SQLRecordError):
    """A write would wait for a lock that its own task holds in another session.

    SQLite lets one connection at a time write a file: a task that has written in
    one session and not committed, then writes through another session (an own
    session of a model call, say) would wait for itself until the busy timeout.
    The write is refused before it waits; running it again cannot help. Write
    through the session that holds the lock, or commit or close it first.

    Example:
        >>> issubclass(SelfDeadlockError, TransactionConflictError)
        False
    """


class DatabaseUnavailableError(SQLRecordError):
    """The connection broke mid-call (server restart, killed session), or no pooled
    connection came free in time. The call's transaction was rolled back; the pool
    replaces broken connections, so a later call can succeed (a service answers 503).

    Example:
        >>> issubclass(DatabaseUnavailableError, SQLRecordError)
        True
    """


class ReadOnlyDatabaseError(SQLRecordError):
    """A write reached a server that takes none: a read replica (PostgreSQL's SQLSTATE
    25006, MariaDB's read-only errors). sqlrecord sends writes to the primary; this
    comes from a write in a request's read-only session (a GET under
    ``request_session(commit="unsafe_methods")``, served by a replica) or from a
    ``Database`` whose URL names a replica. Nothing was written.

    Example:
        >>> issubclass(ReadOnlyDatabaseError, SQLRecordError)
        True
    """


class IntegrityConstraintError(SQLRecordError):
    """The database refused a write because it breaks a constraint.

    The write was rolled back (to a savepoint when the session is the
    caller's), so the session stays usable.

    Attributes:
        constraint: the constraint or column the database named, when it named one.

    Example:
        >>> IntegrityConstraintError("refused", constraint="users.email").constraint
        'users.email'
    """

    def __init__(self, detail: str, *, constraint: str | None = None) -> None:
        super().__init__(detail)
        self.constraint = constraint


class DuplicateKeyError(IntegrityConstraintError):
    """A unique or primary-key constraint was violated.

    Example:
        >>> issubclass(DuplicateKeyError, IntegrityConstraintError)
        True
    """


class ForeignKeyError(IntegrityConstraintError):
    """A foreign key points at a missing row, or a referenced row was deleted.

    Example:
        >>> issubclass(ForeignKeyError, IntegrityConstraintError)
        True
    """


class NotNullError(IntegrityConstraintError):
    """A required (NOT NULL) column got no value.

    Example:
        >>> issubclass(NotNullError, IntegrityConstraintError)
        True
    """
