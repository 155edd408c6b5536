"""Models of ``test_fidelity_examples.py``: a declarative base of their own (``FxBase``), so
that their tables (all prefixed ``fx_``) are created and dropped by that module's fixture
and never touch the suite's ``ALL_METADATA``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from sqlrecord import CRUDMixin

FIXED_STAMP = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


class FxBase(DeclarativeBase):
    """The fidelity examples' own base and metadata."""


class FxItem(CRUDMixin, FxBase):
    """A plain one-table model."""

    __tablename__ = "fx_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(20))


class FxVersionedItem(CRUDMixin, FxBase):
    """The same with optimistic locking (SQLAlchemy's default integer counter)."""

    __tablename__ = "fx_versioned_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class LowerOnLoad(TypeDecorator[str]):
    """Stored as given, read back lower-cased: a value the ORM holds after INSERT (the
    Python value it sent) differs from what a read of the row gives."""

    impl = String(20)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value).lower()


class FxStamped(CRUDMixin, FxBase):
    """Python-side (callable) column defaults."""

    __tablename__ = "fx_stamped"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20))
    stamp: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=lambda: FIXED_STAMP)
    code: Mapped[str] = mapped_column(LowerOnLoad(), default=lambda: "NEW")


class FxCounter(CRUDMixin, FxBase):
    """Columns with Python-side ``onupdate`` of their own, neither of them a timestamp."""

    __tablename__ = "fx_counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(20), unique=True)
    hits: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(40), default="fresh", onupdate=lambda: "edited")
    bumps: Mapped[int] = mapped_column(Integer, default=0, onupdate=lambda: 7)


class FxPet(CRUDMixin, FxBase):
    """Single-table inheritance: every pet is a row of ``fx_pets``, told apart by ``kind``.

    ``kind`` may be NULL so that a row stored without its discriminator shows up in the
    comparison (as a pet of no kind) instead of failing as a NOT NULL violation.
    """

    __tablename__ = "fx_pets"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(40), unique=True)

    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "pet"}


class FxDog(FxPet):
    __mapper_args__ = {"polymorphic_identity": "dog"}


class FxContact(CRUDMixin, FxBase):
    """An ``@validates`` normaliser."""

    __tablename__ = "fx_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(120))

    @validates("email")
    def _normalise_email(self, _key: str, value: str) -> str:
        return value.strip().lower()


class FxParent(CRUDMixin, FxBase):
    __tablename__ = "fx_parents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    kids: Mapped[list[FxKid]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", order_by="FxKid.id"
    )


class FxKid(CRUDMixin, FxBase):
    __tablename__ = "fx_kids"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int] = mapped_column(ForeignKey("fx_parents.id"))
    parent: Mapped[FxParent] = relationship(back_populates="kids")


FX_METADATA = FxBase.metadata
