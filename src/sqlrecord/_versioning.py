"""``VersionedMixin``: optimistic locking with a version counter.

Every UPDATE (and DELETE) says ``WHERE id = ? AND version = ?`` and bumps the
counter. When another writer got there first no row matches, nothing is
written, and :class:`~sqlrecord.exceptions.StaleObjectError` says to reload
and retry.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy.orm import Mapped, declared_attr, mapped_column

__all__ = ["VersionedMixin"]


class VersionedMixin:
    """Add a ``version`` column that SQLAlchemy checks and increments on every write.

    Put it before the base (``class Invoice(VersionedMixin, BaseModel)``). A
    model that declares its own ``__mapper_args__`` must add
    ``"version_id_col": cls.__table__.c.version`` to them.

    Example:
        >>> VersionedMixin.__readonly_attributes__ >= {"version", "created_at"}
        True
    """

    __readonly_attributes__: ClassVar[frozenset[str]] = frozenset({"created_at", "version"})

    version: Mapped[int] = mapped_column(nullable=False, sort_order=13)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - a declared_attr gets the class
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]
