"""Which database a model works in, and which tables each database knows.

The default database is the latest one configured with ``default=True``; a
model may name its own with ``__database__``. Every mapped class that uses
the sqlrecord mixins registers its metadata, so ``create_all()`` needs no
arguments.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .exceptions import NoDatabaseError

__all__ = [
    "ModelDatabase",
    "database_for",
    "default_database",
    "metadata_for",
    "register_model",
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

    def _ambient_session(self) -> AbstractAsyncContextManager[AsyncSession]: ...

    @property
    def _autocommit_engine(self) -> AsyncEngine: ...

    #: Whether a statement can be its own transaction at no cost (``_begin.py``).
    _autocommit_is_free: bool

    #: The test's transaction that holds every session, if any (``_pinned.py``).
    @property
    def _pin(self) -> object | None: ...


_default: ModelDatabase | None = None
_metadata_by_model: dict[type[Any], MetaData] = {}


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


def database_for(model: type[Any]) -> ModelDatabase:
    """Return the database a model works in: its ``__database__`` or the default.

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
    if _default is None:
        raise NoDatabaseError.for_model(model.__name__)
    return _default


def register_model(model: type[Any]) -> None:
    """Remember a mapped model's metadata for :meth:`Database.create_all`."""
    metadata = getattr(model, "metadata", None)
    if isinstance(metadata, MetaData) and getattr(model, "__table__", None) is not None:
        _metadata_by_model[model] = metadata


def metadata_for(database: ModelDatabase) -> list[MetaData]:
    """The metadata of every registered model that works in ``database``."""
    found: list[MetaData] = []
    for model, metadata in _metadata_by_model.items():
        if metadata not in found and database_for(model) is database:
            found.append(metadata)
    return found
