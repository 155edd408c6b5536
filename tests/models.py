"""Models the test suite runs against: sqlrecord's BaseModel and a user's own base."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import Column, ForeignKey, Numeric, String, Table, Text, func
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import ColumnElement

from sqlrecord import Base, BaseModel, CRUDMixin, SoftDeleteMixin, VersionedMixin

post_tags = Table(
    "test_post_tags",
    Base.metadata,
    Column("post_id", ForeignKey("test_posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("test_tags.id", ondelete="CASCADE"), primary_key=True),
)


class User(BaseModel):
    __tablename__ = "test_users"
    __protected_attributes__ = frozenset({"status", "is_admin"})

    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="active")
    is_admin: Mapped[bool] = mapped_column(default=False)
    age: Mapped[int | None]

    posts: Mapped[list[Post]] = relationship(
        back_populates="author", cascade="all, delete-orphan", order_by="Post.id"
    )
    articles: Mapped[list[Article]] = relationship(back_populates="writer", order_by="Article.id")
    titled_posts: Mapped[list[Post]] = relationship(
        viewonly=True, primaryjoin="and_(User.id == Post.author_id, Post.title != '')"
    )

    @hybrid_property
    def display_name(self) -> str:
        return self.name or self.email

    @display_name.inplace.setter
    def _display_name_setter(self, value: str) -> None:
        self.name = value

    @display_name.inplace.expression
    @classmethod
    def _display_name_expression(cls) -> ColumnElement[str]:
        return func.coalesce(cls.name, cls.email)

    @hybrid_method
    def is_older_than(self, years: int) -> bool:
        return self.age is not None and self.age > years

    @is_older_than.inplace.expression
    @classmethod
    def _is_older_than_expression(cls, years: int) -> ColumnElement[bool]:
        return cls.age > years

    @hybrid_property
    def email_domain(self) -> str:  # read-only: no setter
        return self.email.split("@")[-1]

    @property
    def nickname(self) -> str | None:
        return self.name

    @nickname.setter
    def nickname(self, value: str) -> None:
        self.name = value.lower()

    @property
    def shout(self) -> str:  # a property without setter
        return (self.name or "").upper()


class Post(BaseModel):
    __tablename__ = "test_posts"

    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("test_users.id"))
    author: Mapped[User] = relationship(back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, back_populates="posts")
    comments: Mapped[list[Comment]] = relationship(
        back_populates="post", cascade="all, delete-orphan", order_by="Comment.id"
    )


class Comment(BaseModel):
    __tablename__ = "test_comments"

    body: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[int] = mapped_column(ForeignKey("test_posts.id"))
    post: Mapped[Post] = relationship(back_populates="comments")


class Article(SoftDeleteMixin, BaseModel):
    """Soft-deleted rows stay in the table."""

    __tablename__ = "test_articles"

    slug: Mapped[str] = mapped_column(String(40), unique=True)
    score: Mapped[int] = mapped_column(default=0)
    writer_id: Mapped[int | None] = mapped_column(ForeignKey("test_users.id"))
    writer: Mapped[User | None] = relationship(back_populates="articles")


class Invoice(VersionedMixin, BaseModel):
    """Optimistic locking."""

    __tablename__ = "test_invoices"

    number: Mapped[str] = mapped_column(String(20), unique=True)
    amount: Mapped[int] = mapped_column(default=0)


class Tag(BaseModel):
    __tablename__ = "test_tags"

    label: Mapped[str] = mapped_column(String(40), unique=True)
    posts: Mapped[list[Post]] = relationship(secondary=post_tags, back_populates="tags")


class PlainBase(DeclarativeBase):
    """A user's own declarative base, with the mixins added per model."""


class Note(CRUDMixin, PlainBase):
    __tablename__ = "test_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(20), unique=True)


class Membership(CRUDMixin, PlainBase):
    """Composite primary key."""

    __tablename__ = "test_memberships"

    group: Mapped[str] = mapped_column(String(20), primary_key=True)
    member: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(20), default="member")


class Reading(CRUDMixin, PlainBase):
    """An attribute stored under another column name, and a Python-side default."""

    __tablename__ = "test_readings"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column("reading_value")
    unit: Mapped[str] = mapped_column(String(10), default="mm")
    note: Mapped[str | None] = mapped_column(String(50))


class Animal(CRUDMixin, PlainBase):
    """Joined-table inheritance: a Dog is a row here and a row in ``test_dogs``."""

    __tablename__ = "test_animals"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(40))

    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "animal"}


class Dog(Animal):
    __tablename__ = "test_dogs"

    id: Mapped[int] = mapped_column(
        ForeignKey("test_animals.id", ondelete="CASCADE"), primary_key=True
    )
    licence: Mapped[str] = mapped_column(String(20), unique=True)

    __mapper_args__ = {"polymorphic_identity": "dog"}


class Oddity(CRUDMixin, PlainBase):
    """Column names a bound parameter cannot carry as they are (SQLAlchemy escapes them),
    and types with bind and result processing: a date-time, a decimal, a boolean."""

    __tablename__ = "test_oddities"

    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column("full name", String(40))
    rate: Mapped[decimal.Decimal | None] = mapped_column("rate%", Numeric(8, 2))
    seen_at: Mapped[dt.datetime | None] = mapped_column("seen.at")
    active: Mapped[bool] = mapped_column(default=True)


def _no_serial_left() -> str:
    raise ValueError("no serial left")


class Ticket(CRUDMixin, PlainBase):
    """A Python-side default that raises: a write that gives no serial fails before its
    statement is sent."""

    __tablename__ = "test_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), default=_no_serial_left)


ALL_METADATA = (Base.metadata, PlainBase.metadata)


def table_names() -> list[str]:
    return [table.name for metadata in ALL_METADATA for table in metadata.sorted_tables]


__all__: list[Any] = []
