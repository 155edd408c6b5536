"""Doctest namespace for the examples in sqlrecord's docstrings.

Docstring examples see ``db`` (a SQLite file database), the models ``User``,
``Post`` and ``Memo`` (BaseModelMixin's, with their timestamps) and ``Label`` (a
plain one: nothing the database computes), with their tables, and ``run`` to await
a coroutine (doctest has no top-level ``await`` on Python 3.11). Tables are emptied
before each example.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from _pytest.doctest import DoctestItem
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.pool import NullPool

from sqlrecord import BaseModelMixin, CRUDMixin, Database, Q, SoftDeleteMixin

_T = TypeVar("_T")
doc_db = Database(default=False)


class DocBase(DeclarativeBase):
    """The examples' own registry, apart from the test suite's models."""


class User(BaseModelMixin, DocBase):
    __tablename__ = "doc_users"
    __database__ = doc_db
    __protected_attributes__ = frozenset({"is_admin"})

    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str | None] = mapped_column(String(60))
    is_admin: Mapped[bool] = mapped_column(default=False)
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="Post.id")


class Post(BaseModelMixin, DocBase):
    __tablename__ = "doc_posts"
    __database__ = doc_db

    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int] = mapped_column(ForeignKey("doc_users.id"))
    author: Mapped[User] = relationship(back_populates="posts")


class Memo(SoftDeleteMixin, BaseModelMixin, DocBase):
    __tablename__ = "doc_memos"
    __database__ = doc_db

    text: Mapped[str] = mapped_column(String(100))


class Label(CRUDMixin, DocBase):
    __tablename__ = "doc_labels"
    __database__ = doc_db

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


def run(awaitable: Awaitable[_T]) -> _T:
    """Await one coroutine or query to completion (a fresh event loop; NullPool keeps none)."""

    async def wait() -> _T:
        return await awaitable

    return asyncio.run(wait())


async def _reset() -> None:
    tables = [User.__table__, Post.__table__, Memo.__table__, Label.__table__]
    async with doc_db.engine.begin() as connection:
        await connection.run_sync(lambda sync: DocBase.metadata.create_all(sync, tables=tables))
        for table in reversed(tables):
            await connection.execute(table.delete())


@pytest.fixture(autouse=True)
def _doctest_namespace(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    if not isinstance(request.node, DoctestItem):
        yield
        return
    if not doc_db.is_configured:
        path = Path(tmp_path_factory.mktemp("doctest")) / "doc.db"
        doc_db.init(
            f"sqlite+aiosqlite:///{path}", default=False, engine_options={"poolclass": NullPool}
        )
    run(_reset())
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(db=doc_db, User=User, Post=Post, Memo=Memo, Label=Label, Q=Q, run=run)
    yield
