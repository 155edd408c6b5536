"""Which database a model works in, and which tables each database knows.

A model works in the database it names (``__database__``); one that names none
works in the *context's* database, when one is set (``db.as_default()``, or an
app's database during its requests and lifespan, ``db.init_app``), and otherwise
in the default database, the latest one configured with ``default=True``. The
context comes first so that two apps with two databases can share one set of
models in one process. Every mapped class that uses
the sqlrecord mixins registers its metadata, so ``create_all()`` needs no
arguments.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, Protocol

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .exceptions import NoDatabaseError

__all__ = [
    "ModelDatabase",
    "context_database",
    "database_for",
    "database_in_context",
    "default_database",
    "metadata_for",
    "register_model",
    "served_session",
    "set_default",
]


class ModelDatabase(Protocol):
    """What a model's calls need of the ``Database`` it works in (which is one).

    Example:
        >>> from sqlrecord import Database
        >>> database: ModelDatabase = Database("sqlite+aiosqlite://", default=False)
        >>> database.fast_paths
        True
    """

    fast_paths: bool
    cursor_secret: bytes

    def current_session(self) -> AsyncSession | None: ...

    def _open_session(self, *, autocommit: bool) -> AsyncSession: ...

    def _model_session(self, *, autocommit: bool) -> AsyncSession: ...

    def _ambient_session(self) -> AbstractAsyncContextManager[AsyncSession]: ...

    @property
    def _autocommit_engine(self) -> AsyncEngine: ...

    #: Its read replicas (``_replicas.ReplicaSet``), if it has any.
    _replica_set: Any

    #: The engine of a read a replica may serve, and that replica (``_read_routing``).
    async def _read_bind(self, *, autocommit: bool) -> tuple[AsyncEngine, Any] | None: ...

    #: Whether a statement can be its own transaction at no cost (``_begin.py``).
    _autocommit_is_free: bool

    #: The test's transaction that holds every session, if any (``_pinned.py``).
    @property
    def _pin(self) -> object | None: ...


_default: ModelDatabase | None = None
_metadata_by_model: dict[type[Any], MetaData] = {}
# A context variable, not a global: each request and each task started from it
# carries its own (tasks copy the context they were started in).
_context: contextvars.ContextVar[ModelDatabase | None] = contextvars.ContextVar(
    "sqlrecord_context_database", default=None
)


@contextmanager
def context_database(database: ModelDatabase) -> Iterator[None]:
    """Make ``database`` the one of models that name none, in this context and the
    tasks started from it, until the block ends.

    Example:
        >>> from sqlrecord import Database
        >>> other = Database("sqlite+aiosqlite://", default=False)
        >>> class Note:
        ...     __database__ = None
        >>> with context_database(other):
        ...     database_for(Note) is other
        True
        >>> database_for(Note) is other
        False
    """
    token = _context.set(database)
    try:
        yield
    finally:
        try:
            _context.reset(token)
        except ValueError:  # left in another context (an async generator closed elsewhere)
            _context.set(None)


def set_default(database: ModelDatabase | None) -> None:
    """Make ``database`` the default (``None``: no default)."""
    global _default
    _default = database


def default_database() -> ModelDatabase:
    """Return the default ``Database``, or raise :class:`NoDatabaseError`.

    Example:
        >>> from sqlrecord import Database
        >>> db = Database("sqlite+aiosqlite://")
        >>> default_database() is db
        True
    """
    if _default is None:
        raise NoDatabaseError.for_model("This model")
    return _default


def database_in_context() -> ModelDatabase | None:
    """The database set for this context (``context_database``), if any.

    Example:
        >>> database_in_context() is None
        True
    """
    return _context.get()


def database_for(model: type[Any]) -> ModelDatabase:
    """Return the database a model works in: its ``__database__``, the context's, or
    the default.

    Example:
        >>> from sqlrecord import Database
        >>> class Settings:
        ...     __database__ = Database("sqlite+aiosqlite://", default=False)
        >>> database_for(Settings) is Settings.__database__
        True
    """
    database = getattr(model, "__database__", None)
    if database is not None:
        return database  # type: ignore[no-any-return]
    database = _context.get()
    if database is not None:
        return database
    if _default is None:
        raise NoDatabaseError.for_model(model.__name__)
    return _default


def register_model(model: type[Any]) -> None:
    """Remember a mapped model's metadata for :meth:`Database.create_all`."""
    metadata = getattr(model, "metadata", None)
    if isinstance(metadata, MetaData) and getattr(model, "__table__", None) is not None:
        _metadata_by_model[model] = metadata


def metadata_for(database: ModelDatabase) -> list[MetaData]:
    """The metadata of every registered model that works in ``database`` (here: in
    this context)."""
    found: list[MetaData] = []
    for model, metadata in _metadata_by_model.items():
        if metadata not in found and _works_in(model, database):
            found.append(metadata)
    return found


def _works_in(model: type[Any], database: ModelDatabase) -> bool:
    try:
        return database_for(model) is database
    except NoDatabaseError:  # a model of no database at all is nobody's
        return False


def served_session(model: type[Any], session: AsyncSession | None) -> AsyncSession | None:
    """The caller's session for a call on ``model``: the one given, else the ambient one
    of ``model``'s database; ``None`` when the call needs a session of its own.

    Example:
        >>> served_session(User, None) is None
        True
    """
    if session is not None:
        return session
    return database_for(model).current_session()
