"""The differential harness's catalogue: plain SQLAlchemy 2 models a team would write.

Own declarative base and MetaData, tables prefixed ``dh_``, so the catalogue never
meets the suite's tables. Each model carries at least one mapping feature whose
behaviour under sqlrecord must match the ORM's. Hooks (mapper events, validators)
append to ``HOOK_LOG``, which the harness reads as part of what happened.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    event,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    column_property,
    mapped_column,
    relationship,
    validates,
)
from sqlalchemy.sql import ColumnElement

from sqlrecord import BaseModelMixin, CRUDMixin, SoftDeleteMixin, VersionedMixin

#: What the catalogue's own hooks saw, in order: ("validate", "Item.email") and
#: ("mapper", "before_insert", "Ticket"). The harness clears it per side.
HOOK_LOG: list[tuple[str, ...]] = []


class DhSession(Session):
    """The team's session class (``sync_session_class``); the harness listens on it."""


class DhBase(DeclarativeBase):
    metadata = MetaData()


class ShoutedText(TypeDecorator[str]):
    """Stored upper case, read back lower case: bind and result processing both run."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else value.upper()

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else value.lower()


def aware_now() -> dt.datetime:
    # Microseconds included: whether they survive is part of what is compared (so never
    # 0, which the clock gives once in a million calls and the comparison would take for
    # microseconds lost).
    now = dt.datetime.now(dt.UTC)
    return now if now.microsecond else now.replace(microsecond=1)


class Priority(enum.Enum):
    low = "low"
    high = "high"


class Item(BaseModelMixin, DhBase):
    """Python defaults and onupdate, a TypeDecorator, server default, Computed, Numeric,
    an aware datetime default, a validator and a hybrid: the column-level features."""

    __tablename__ = "dh_items"

    email: Mapped[str] = mapped_column(String(120), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="new")
    code: Mapped[str] = mapped_column(ShoutedText(), default="NEW")
    note: Mapped[str] = mapped_column(String(40), default="fresh", onupdate=lambda: "edited")
    hits: Mapped[int] = mapped_column(server_default="0")
    price: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2))
    stamped_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=aware_now)
    doubled: Mapped[int | None] = mapped_column(Computed("hits * 2", persisted=True))

    @validates("email")
    def _lower_email(self, key: str, value: str) -> str:
        HOOK_LOG.append(("validate", "Item.email"))
        return value.lower()

    @hybrid_property
    def label(self) -> str:
        return f"{self.state}:{self.email}"

    @label.inplace.expression
    @classmethod
    def _label_expression(cls) -> ColumnElement[str]:
        return cls.state + ":" + cls.email


class Ticket(BaseModelMixin, DhBase):
    """Mapper events, an Enum, JSON, a deferred column and a column_property."""

    __tablename__ = "dh_tickets"

    title: Mapped[str] = mapped_column(String(60), unique=True)
    priority: Mapped[Priority] = mapped_column(Enum(Priority, name="dh_priority"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text, deferred=True)


Ticket.title_length = column_property(func.length(Ticket.title))  # type: ignore[attr-defined]


def _ticket_hook(name: str) -> None:
    def hook(mapper: Any, connection: Any, target: Ticket) -> None:
        HOOK_LOG.append(("mapper", name, type(target).__name__))
        if name in ("before_insert", "before_update"):
            target.summary = target.title[:20].upper()

    event.listen(Ticket, name, hook)


for _name in (
    "before_insert",
    "after_insert",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
):
    _ticket_hook(_name)


class Account(VersionedMixin, BaseModelMixin, DhBase):
    """version_id_col (through VersionedMixin) and a CheckConstraint."""

    __tablename__ = "dh_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="dh_ck_balance"),)

    owner: Mapped[str] = mapped_column(String(60), unique=True)
    balance: Mapped[int] = mapped_column(default=0)


class Token(CRUDMixin, DhBase):
    """A Uuid primary key with a Python default; CRUDMixin on the team's own columns."""

    __tablename__ = "dh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    label: Mapped[str] = mapped_column(String(40), unique=True)
    # No default, and left out of every profile's rows: after the flush of a new token,
    # neither loaded nor expired.
    memo: Mapped[str | None] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(20), server_default="read")


class Membership(CRUDMixin, DhBase):
    """A composite natural primary key."""

    __tablename__ = "dh_memberships"

    org: Mapped[str] = mapped_column(String(20), primary_key=True)
    member: Mapped[str] = mapped_column(String(40), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), default="member")


class Animal(BaseModelMixin, DhBase):
    """Single-table inheritance (Dog)."""

    __tablename__ = "dh_animals"
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "animal"}

    name: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(20))


class Dog(Animal):
    __mapper_args__ = {"polymorphic_identity": "dog"}

    good: Mapped[bool | None] = mapped_column(default=True)


class Vehicle(BaseModelMixin, DhBase):
    """Joined-table inheritance (Truck)."""

    __tablename__ = "dh_vehicles"
    __mapper_args__ = {"polymorphic_on": "type", "polymorphic_identity": "vehicle"}

    plate: Mapped[str] = mapped_column(String(20), unique=True)
    type: Mapped[str] = mapped_column(String(20))


class Truck(Vehicle):
    __tablename__ = "dh_trucks"
    __mapper_args__ = {"polymorphic_identity": "truck"}

    id: Mapped[int] = mapped_column(ForeignKey("dh_vehicles.id"), primary_key=True)
    capacity: Mapped[decimal.Decimal] = mapped_column(Numeric(8, 3))


class Parent(BaseModelMixin, DhBase):
    """One-to-many with delete-orphan, deleted by the database (passive_deletes)."""

    __tablename__ = "dh_parents"

    name: Mapped[str] = mapped_column(String(40), unique=True)
    kids: Mapped[list[Kid]] = relationship(
        back_populates="parent",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Kid.id",
    )


class Kid(BaseModelMixin, DhBase):
    __tablename__ = "dh_kids"
    __table_args__ = (UniqueConstraint("parent_id", "name", name="dh_uq_kid_name"),)

    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int] = mapped_column(ForeignKey("dh_parents.id", ondelete="CASCADE"))
    parent: Mapped[Parent] = relationship(back_populates="kids")


post_tags = Table(
    "dh_post_tags",
    DhBase.metadata,
    Column("post_id", ForeignKey("dh_posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("dh_tags.id", ondelete="CASCADE"), primary_key=True),
)


class Post(SoftDeleteMixin, BaseModelMixin, DhBase):
    """Many-to-many, and soft delete."""

    __tablename__ = "dh_posts"

    title: Mapped[str] = mapped_column(String(60), unique=True)
    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, order_by="Tag.name")


class Tag(CRUDMixin, DhBase):
    __tablename__ = "dh_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)


MODELS: tuple[type[Any], ...] = (
    Item,
    Ticket,
    Account,
    Token,
    Membership,
    Animal,
    Dog,
    Vehicle,
    Truck,
    Parent,
    Kid,
    Post,
    Tag,
)
