"""The query-form benchmark's tables, declared for the SQLAlchemy ORM, sqlrecord and Tortoise
(on the same table names), their sizes, and the reset that fills them before every round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from tortoise import fields
from tortoise.models import Model as TortoiseModel

from sqlrecord import CRUDMixin

__all__ = [
    "CONTESTANTS",
    "ORM",
    "QUICK",
    "RECORD",
    "SMOKE",
    "Sizes",
    "TAuthor",
    "TBook",
    "TCounter",
    "reset",
]

CONTESTANTS = ("sqlrecord", "orm", "tortoise")


@dataclass(frozen=True)
class Sizes:
    """How many rows each form works on."""

    counters: int = 300  # increment: single-row calls
    bulk: int = 1000  # bulk_update: objects written back (also the counter table's rows)
    authors: int = 300  # annotate, group_by: authors, each with books_each books
    books_each: int = 5
    reads: int = 50  # annotate, group_by: calls per round (one call is mostly its first)


QUICK = Sizes()
#: --smoke: a few rows, to keep the harness working (CI).
SMOKE = Sizes(counters=10, bulk=20, authors=10, books_each=2, reads=2)


def _declare(base: Any) -> dict[str, Any]:
    class Counter(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_q_counter"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(40))
        views: Mapped[int]

    class Author(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_q_author"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(40))
        books: Mapped[list[Book]] = relationship(back_populates="author")

    class Book(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_q_book"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("bench_q_author.id"), index=True)
        pages: Mapped[int]
        author: Mapped[Author] = relationship(back_populates="books")

    return {"Counter": Counter, "Author": Author, "Book": Book}


class _OrmBase(DeclarativeBase):
    pass


class _Declarative(DeclarativeBase):
    pass


class _RecordBase(CRUDMixin, _Declarative):
    __abstract__ = True


ORM = _declare(_OrmBase)
RECORD = _declare(_RecordBase)


class TCounter(TortoiseModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40)
    views = fields.IntField()

    class Meta:
        table = "bench_q_counter"


class TAuthor(TortoiseModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40)
    books: fields.ReverseRelation[TBook]

    class Meta:
        table = "bench_q_author"


class TBook(TortoiseModel):
    id = fields.IntField(primary_key=True)
    author: fields.ForeignKeyRelation[TAuthor] = fields.ForeignKeyField(
        "models.TAuthor", related_name="books"
    )
    pages = fields.IntField()

    class Meta:
        table = "bench_q_book"


async def reset(url: str, sizes: Sizes) -> None:
    """The three tables, made afresh and filled, through a Core engine of its own."""
    engine = create_async_engine(url)
    metadata = _OrmBase.metadata
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
            await connection.run_sync(metadata.create_all)
            tables = metadata.tables
            await connection.execute(
                tables["bench_q_counter"].insert(),
                [{"id": n, "name": f"c{n}", "views": 0} for n in range(1, sizes.bulk + 1)],
            )
            await connection.execute(
                tables["bench_q_author"].insert(),
                [{"id": n, "name": f"a{n}"} for n in range(1, sizes.authors + 1)],
            )
            await connection.execute(
                tables["bench_q_book"].insert(),
                [
                    {"author_id": 1 + n % sizes.authors, "pages": 100 + n % 37}
                    for n in range(sizes.authors * sizes.books_each)
                ],
            )
    finally:
        await engine.dispose()
