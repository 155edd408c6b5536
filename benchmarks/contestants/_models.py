"""The benchmark tables as SQLAlchemy declarative classes, declared on any base.

SQLAlchemy ORM, sqlrecord and sqlactive each call :func:`declare` with their own declarative
base (sqlrecord's and sqlactive's carry their mixins), so all three map the same columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..schema import WIDE

__all__ = ["declare"]


def declare(base: Any) -> dict[str, Any]:
    """Declare Narrow, Wide, Parent, Child and Upsert on ``base``; return them by model name."""

    class Narrow(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_narrow"
        id: Mapped[int] = mapped_column(primary_key=True)
        timestamp: Mapped[dt.datetime]
        level: Mapped[int] = mapped_column(SmallInteger, index=True)
        text: Mapped[str] = mapped_column(String(255), index=True)

    class Wide(base):  # type: ignore[misc,valid-type]
        __table__ = WIDE.to_metadata(base.metadata)

    class Parent(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        children: Mapped[list[Child]] = relationship(back_populates="parent")

    class Child(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_child"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[int] = mapped_column(ForeignKey("bench_parent.id"), index=True)
        name: Mapped[str] = mapped_column(String(50))
        parent: Mapped[Parent] = relationship(back_populates="children")

    class Upsert(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_upsert"
        id: Mapped[int] = mapped_column(primary_key=True)
        key: Mapped[str] = mapped_column(String(64), unique=True)
        level: Mapped[int]
        text: Mapped[str] = mapped_column(String(255))

    return {"narrow": Narrow, "wide": Wide, "parent": Parent, "child": Child, "upsert": Upsert}
