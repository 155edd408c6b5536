"""``BaseModel``: an abstract model with ``id`` and UTC timestamps, and its ``Base``."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ._crud import CRUDMixin
from ._database import Database
from ._model_info import model_info
from .types import UTCDateTime, utc_now

__all__ = ["Base", "BaseModel", "BaseModelMixin"]


class Base(DeclarativeBase):
    """sqlrecord's default declarative base (use your own if you prefer: mix in ``CRUDMixin``).

    Example:
        >>> Base.metadata.tables.keys() is not None
        True
    """


class BaseModelMixin(CRUDMixin):
    """``BaseModel``'s columns and behaviour, for a model on your own declarative base.

    Example:
        >>> from sqlalchemy.orm import DeclarativeBase
        >>> class LegacyBase(DeclarativeBase): ...
        >>> class Invoice(BaseModelMixin, LegacyBase):
        ...     __tablename__ = "doc_invoices"
        >>> Invoice.column_names
        ['id', 'created_at', 'updated_at']
    """

    __database__: ClassVar[Database | None] = None
    # Set by the database on every UPDATE; a request body must not forge it.
    __protected_attributes__: ClassVar[frozenset[str]] = frozenset({"updated_at"})

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-10)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), server_default=utc_now(), nullable=False, sort_order=10
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), server_default=utc_now(), onupdate=utc_now(), nullable=False, sort_order=11
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mapper = cls.__dict__.get("__mapper__")
        if mapper is not None:
            # Fetch server-set timestamps right after INSERT/UPDATE (RETURNING
            # where available): a detached object could not load them later.
            mapper.eager_defaults = True

    def __repr__(self) -> str:
        # Only values already loaded: a repr must never trigger a query.
        loaded = inspect(self).dict
        shown = [f"id={loaded.get('id')!r}"]
        for name in model_info(type(self)).settable_column_names[:3]:
            if name in loaded and name != "updated_at":
                shown.append(f"{name}={loaded[name]!r:.40}")
        return f"<{type(self).__name__} {' '.join(shown)}>"


class BaseModel(BaseModelMixin, Base):
    """Abstract model: integer ``id``, database-set ``created_at``, refreshed ``updated_at``.

    Timestamps are computed by the database in UTC and returned timezone-aware.
    After every INSERT and UPDATE their values are read back in the same round
    trip where the database allows it (``eager_defaults``), so they are
    readable on objects whose session has closed.

    Example:
        >>> from sqlalchemy import String
        >>> class Headline(BaseModel):
        ...     __tablename__ = "doc_headlines"
        ...     title: Mapped[str] = mapped_column(String(200))
        >>> Headline.settable_column_names
        ['title', 'updated_at']
        >>> Headline(title="Hello")
        <Headline id=None title='Hello'>
    """

    __abstract__ = True
