"""annotate, aggregate, group_by and having on every database: the same rows and the same
Python types everywhere, related rows never multiplied, soft-deleted related rows never
counted, and every bad name or value refused before any SQL."""

from __future__ import annotations

import decimal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Numeric, String, Table, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlrecord import (
    Avg,
    BaseModelMixin,
    Coalesce,
    Count,
    Database,
    F,
    GroupedQuery,
    Max,
    Min,
    Q,
    SoftDeleteMixin,
    Sum,
)
from sqlrecord.exceptions import InvalidFieldError, InvalidValueError

from .helpers import StatementLog


class AnBase(DeclarativeBase):
    """This module's own tables (``an_``), created on first use per database."""


an_author_tags = Table(
    "an_author_tags",
    AnBase.metadata,
    Column("author_id", ForeignKey("an_authors.id"), primary_key=True),
    Column("tag_id", ForeignKey("an_tags.id"), primary_key=True),
)


class AnAuthor(BaseModelMixin, AnBase):
    __tablename__ = "an_authors"
    email: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str | None] = mapped_column(String(40))
    age: Mapped[int | None]
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("an_authors.id"))
    mentor: Mapped[AnAuthor | None] = relationship(
        remote_side="AnAuthor.id", back_populates="mentees"
    )
    mentees: Mapped[list[AnAuthor]] = relationship(back_populates="mentor")
    books: Mapped[list[AnBook]] = relationship(back_populates="author")
    awards: Mapped[list[AnAward]] = relationship()
    tags: Mapped[list[AnTag]] = relationship(secondary=an_author_tags)


class AnBook(SoftDeleteMixin, BaseModelMixin, AnBase):
    __tablename__ = "an_books"
    title: Mapped[str] = mapped_column(String(40))
    pages: Mapped[int]
    qty: Mapped[int] = mapped_column(default=1)
    price: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2))
    author_id: Mapped[int] = mapped_column(ForeignKey("an_authors.id"))
    author: Mapped[AnAuthor] = relationship(back_populates="books")
    reviews: Mapped[list[AnReview]] = relationship()


class AnReview(BaseModelMixin, AnBase):
    __tablename__ = "an_reviews"
    stars: Mapped[int]
    book_id: Mapped[int] = mapped_column(ForeignKey("an_books.id"))


class AnAward(BaseModelMixin, AnBase):
    __tablename__ = "an_awards"
    year: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("an_authors.id"))


class AnTag(BaseModelMixin, AnBase):
    __tablename__ = "an_tags"
    label: Mapped[str] = mapped_column(String(20))


_created: set[str] = set()


@pytest.fixture
async def shop(db: Database) -> AsyncIterator[Database]:
    """Kim: books A, B and C (C soft-deleted), two awards, two tags, mentor of Lee and Ann.
    Lee: book D, one tag. Ann: no name, no age, no books, one award."""
    url = db.url.render_as_string(hide_password=False)
    if url not in _created:
        async with db.engine.begin() as connection:
            await connection.run_sync(AnBase.metadata.drop_all)
            await connection.run_sync(AnBase.metadata.create_all)
        _created.add(url)
    try:
        async with db.transaction():
            t1, t2 = await AnTag.create(label="t1"), await AnTag.create(label="t2")
            kim = await AnAuthor.create(email="kim@x", name="Kim", age=41, tags=[t1, t2])
            lee = await AnAuthor.create(email="lee@x", name="Lee", age=29, mentor=kim, tags=[t1])
            ann = await AnAuthor.create(email="ann@x", name=None, age=None, mentor=kim)
            a = await AnBook.create(
                title="A", pages=100, qty=2, price=decimal.Decimal("10.50"), author=kim
            )
            await AnBook.create(title="B", pages=200, price=decimal.Decimal("5.25"), author=kim)
            c = await AnBook.create(
                title="C", pages=50, qty=3, price=decimal.Decimal("1.00"), author=kim
            )
            d = await AnBook.create(title="D", pages=300, qty=4, price=None, author=lee)
            for book, stars in ((a, 5), (a, 4), (c, 3), (d, 2)):
                await AnReview.create(stars=stars, book_id=book.id)
            for author, year in ((kim, 2020), (kim, 2021), (ann, 2022)):
                await AnAward.create(year=year, author_id=author.id)
        await c.delete()
        yield db
    finally:
        async with db.engine.begin() as connection:
            # Mentors first: MariaDB checks the self-reference row by row.
            await connection.execute(AnAuthor.__table__.update().values(mentor_id=None))
            for table in reversed(AnBase.metadata.sorted_tables):
                await connection.execute(table.delete())


def by_email(objects: list[Any], name: str) -> dict[str, Any]:
    return {obj.email: getattr(obj, name) for obj in objects}


# -- annotate -----------------------------------------------------------------------


async def test_count_related_filters_sorts_and_never_repeats_rows(shop: Database) -> None:
    query = AnAuthor.annotate(n=Count("books")).filter_by(n__gt=0).order_by("-n", "email")
    authors = await query.all()
    assert [(author.email, author.n) for author in authors] == [("kim@x", 2), ("lee@x", 1)]
    assert type(authors[0].n) is int
    assert await query.count() == 2 and await query.exists()
    assert (await query.first()).email == "kim@x"  # type: ignore[union-attr]
    page = await query.paginate(page=1, per_page=1)
    assert (page.total, [author.n for author in page.items]) == (2, [2])


async def test_annotations_combine_with_only_in_bulk_and_distinct(shop: Database) -> None:
    query = AnAuthor.annotate(n=Count("books"))
    found = await query.in_bulk([*(await AnAuthor.filter_by().values_list("id", flat=True)), 0])
    assert sorted((author.email, author.n) for author in found.values()) == [
        ("ann@x", 0),
        ("kim@x", 2),
        ("lee@x", 1),
    ]
    assert all(isinstance(key, int) for key in found)  # the key, not an annotation value
    narrow = await query.only("email").order_by("email").all()
    assert [(author.email, author.n) for author in narrow] == [
        ("ann@x", 0),
        ("kim@x", 2),
        ("lee@x", 1),
    ]
    assert await query.distinct().filter_by(n__gte=1).count() == 2


async def test_two_to_many_annotations_do_not_multiply(shop: Database) -> None:
    authors = await AnAuthor.annotate(
        n=Count("books"), a=Count("awards"), r=Count("books__reviews"), t=Count("tags")
    ).all()
    assert {a.email: (a.n, a.a, a.r, a.t) for a in authors} == {
        "kim@x": (2, 2, 2, 2),  # C (soft-deleted) and its review are not counted
        "lee@x": (1, 0, 1, 1),
        "ann@x": (0, 1, 0, 0),
    }


async def test_empty_related_rows_give_zero_count_and_none_sum(shop: Database) -> None:
    authors = await AnAuthor.annotate(
        pages=Sum("books__pages"),
        pages0=Coalesce(Sum("books__pages"), 0),
        longest=Max("books__pages"),
        mean=Avg("books__pages"),
        spent=Sum("books__price"),
        distinct_stars=Count("books__reviews__stars", distinct=True),
    ).all()
    found = {a.email: (a.pages, a.pages0, a.longest, a.mean, a.spent) for a in authors}
    assert found == {
        "kim@x": (300, 300, 200, 150.0, decimal.Decimal("15.75")),
        "lee@x": (300, 300, 300, 300.0, None),
        "ann@x": (None, 0, None, None, None),
    }
    kim = next(a for a in authors if a.email == "kim@x")
    assert [type(value) for value in found["kim@x"]] == [int, int, int, float, decimal.Decimal]
    assert kim.distinct_stars == 2


async def test_self_referential_many_to_many_and_to_one_paths(shop: Database) -> None:
    authors = (
        await AnAuthor.annotate(
            mentees_n=Count("mentees"),
            mentor_name=F("mentor__name"),
            label=Coalesce(F("name"), F("email")),
        )
        .order_by("email")
        .all()
    )
    assert [(a.email, a.mentees_n, a.mentor_name, a.label) for a in authors] == [
        ("ann@x", 0, "Kim", "ann@x"),
        ("kim@x", 2, None, "Kim"),
        ("lee@x", 0, "Kim", "Lee"),
    ]


async def test_arithmetic_and_to_one_annotations_on_books(shop: Database) -> None:
    books = (
        await AnBook.annotate(
            total=F("price") * F("qty"), double=F("pages") * 2, who=F("author__name")
        )
        .order_by("title")
        .all()
    )
    assert [(b.title, b.total, b.double, b.who) for b in books] == [
        ("A", decimal.Decimal("21.00"), 200, "Kim"),
        ("B", decimal.Decimal("5.25"), 400, "Kim"),
        ("D", None, 600, "Lee"),
    ]
    assert await AnBook.annotate(double=F("pages") * 2).filter_by(double__gte=500).count() == 1


async def test_annotation_in_values_exclude_q_and_earlier_annotations(shop: Database) -> None:
    query = AnAuthor.annotate(n=Count("books")).annotate(m=F("n") * 10).order_by("email")
    assert await query.values("email", "n", "m") == [
        {"email": "ann@x", "n": 0, "m": 0},
        {"email": "kim@x", "n": 2, "m": 20},
        {"email": "lee@x", "n": 1, "m": 10},
    ]
    assert await query.values_list("n", flat=True) == [0, 2, 1]
    assert await query.exclude(n=0).values_list("email", flat=True) == ["kim@x", "lee@x"]
    either = query.filter(Q(n__gte=2) | Q(name=None))
    assert await either.values_list("email", flat=True) == ["ann@x", "kim@x"]
    assert await query.filter(Q(n__lt=F("age"))).count() == 2  # ann's age is NULL
    everything = await AnAuthor.annotate(n=Count("books")).filter_by(email="kim@x").values()
    assert everything[0]["n"] == 2 and everything[0]["email"] == "kim@x"


async def test_sort_on_annotation_puts_nulls_last_ascending(shop: Database) -> None:
    query = AnAuthor.annotate(pages=Max("books__pages"))
    assert await query.order_by("pages", "email").values_list("email", flat=True) == [
        "kim@x",
        "lee@x",
        "ann@x",
    ]
    assert await query.order_by("-pages", "email").values_list("email", flat=True) == [
        "ann@x",
        "lee@x",
        "kim@x",
    ]


async def test_sqlalchemy_expressions_as_annotations(shop: Database) -> None:
    correlated = (
        select(func.count(AnBook.id))
        .where(AnBook.author_id == AnAuthor.id, AnBook.deleted_at.is_(None))
        .scalar_subquery()
    )
    authors = await AnAuthor.annotate(n=correlated, years=AnAuthor.age + 1).order_by("email").all()
    assert [(a.n, a.years) for a in authors] == [(0, None), (2, 42), (1, 30)]


async def test_bulk_writes_with_annotation_filters(shop: Database) -> None:
    query = AnAuthor.annotate(n=Count("books")).order_by("email")
    assert await query.filter_by(n=0).update(age=1) == 1
    assert await AnAuthor.filter_by(age=1).values_list("email", flat=True) == ["ann@x"]
    assert await AnBook.annotate(r=Count("reviews")).filter_by(r=0).delete() == 1  # book B
    assert await AnBook.order_by("title").values_list("title", flat=True) == ["A", "D"]


# -- aggregate, group_by, having ---------------------------------------------------------


async def test_aggregate_over_matching_rows_without_soft_deleted(shop: Database) -> None:
    found = await AnBook.filter_by(pages__gte=100).aggregate(
        total=Sum("pages"),
        n=Count("id"),
        mean=Avg("pages"),
        cheapest=Min("price"),
        last=Max("title"),
    )
    assert found == {
        "total": 600,
        "n": 3,
        "mean": 200.0,
        "cheapest": decimal.Decimal("5.25"),
        "last": "D",
    }
    assert [type(found[key]) for key in ("total", "n", "mean")] == [int, int, float]
    assert await AnBook.aggregate(n=Count("id"), oldest=Max("author__age")) == {
        "n": 3,
        "oldest": 41,
    }
    assert await AnBook.with_deleted().aggregate(n=Count("id")) == {"n": 4}
    empty = await AnBook.filter_by(pages__gt=1000).aggregate(total=Sum("pages"), n=Count("id"))
    assert empty == {"total": None, "n": 0}
    assert await AnAuthor.annotate(n=Count("books")).aggregate(total=Sum("n"), most=Max("n")) == {
        "total": 3,
        "most": 2,
    }
    ratio = await AnBook.aggregate(per_book=Sum("pages") / Count("id"), raw=func.count(AnBook.id))
    assert ratio["raw"] == 3 and ratio["per_book"] == 200


async def test_group_by_keys_paths_having_order_and_limits(shop: Database) -> None:
    rows = (
        await AnBook.group_by("author_id")
        .order_by("-total")
        .aggregate(total=Sum("pages"), n=Count("id"))
    )
    authors = {a.email: a.id for a in await AnAuthor.all()}
    assert rows == [
        {"author_id": authors["kim@x"], "total": 300, "n": 2},
        {"author_id": authors["lee@x"], "total": 300, "n": 1},
    ] or rows == [
        {"author_id": authors["lee@x"], "total": 300, "n": 1},
        {"author_id": authors["kim@x"], "total": 300, "n": 2},
    ]
    grouped = AnBook.group_by("author__name").order_by("author__name")
    assert await grouped.having(n__gt=1).aggregate(n=Count("id")) == [
        {"author__name": "Kim", "n": 2}
    ]
    assert await grouped.having(Q(n=1) | Q(author__name="Kim")).aggregate(n=Count("id")) == [
        {"author__name": "Kim", "n": 2},
        {"author__name": "Lee", "n": 1},
    ]
    assert await grouped.having(func.count(AnBook.id) > 1).aggregate(n=Count("id")) == [
        {"author__name": "Kim", "n": 2}
    ]
    assert await grouped.offset(1).limit(1).aggregate(mean=Avg("price")) == [
        {"author__name": "Lee", "mean": None}
    ]
    typed = (
        await AnBook.group_by(AnBook.author_id)
        .order_by("-n")
        .limit(1)
        .aggregate(n=Count("id"), pages=Sum("pages"))
    )
    assert typed == [{"author_id": authors["kim@x"], "n": 2, "pages": 300}]
    assert isinstance(AnBook.group_by("author_id"), GroupedQuery)


async def test_group_by_annotation_and_aggregate_of_annotation(shop: Database) -> None:
    by_count = (
        await AnAuthor.annotate(n=Count("books"))
        .group_by("n")
        .order_by("n")
        .aggregate(authors=Count("id"))
    )
    assert by_count == [{"n": 0, "authors": 1}, {"n": 1, "authors": 1}, {"n": 2, "authors": 1}]
    by_mentor = (
        await AnAuthor.annotate(n=Count("books"))
        .group_by("mentor__name")
        .order_by("mentor__name")
        .aggregate(books=Sum("n"), people=Count("id"))
    )
    assert by_mentor == [
        {"mentor__name": "Kim", "books": 1, "people": 2},
        {"mentor__name": None, "books": 2, "people": 1},
    ]


# -- refused before any SQL -----------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: AnAuthor.annotate(email=Count("books")), InvalidFieldError),
        (lambda: AnAuthor.annotate(books=Count("books")), InvalidFieldError),
        (lambda: AnAuthor.annotate(save=Count("books")), InvalidFieldError),
        (lambda: AnAuthor.annotate(a__b=Count("books")), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Count("bookz")), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Count("books__pagez")), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Sum("books")), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Sum("books__title")), InvalidValueError),
        (lambda: AnAuthor.annotate(n=Avg("name")), InvalidValueError),
        (lambda: AnAuthor.annotate(n=F("books__title")), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Sum(F("books__pages") + Count("awards"))), InvalidValueError),
        (
            lambda: AnAuthor.annotate(n=Sum(F("books__pages") * F("awards__year"))),
            InvalidValueError,
        ),
        (lambda: AnAuthor.annotate(n="books"), InvalidValueError),
        (
            lambda: AnAuthor.annotate(n=Count("books")).annotate(n=Count("awards")),
            InvalidFieldError,
        ),
        (lambda: AnAuthor.annotate(n=Count("books")).filter_by(n__gt="2"), InvalidValueError),
        (lambda: AnAuthor.annotate(n=Count("books")).filter_by(n__gt=2.5), InvalidValueError),
        (lambda: AnAuthor.annotate(n=Count("books")).filter_by(n__contains="1"), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Count("books")).filter_by(n__bogus=1), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Count("books")).filter_by(m=1), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Count("books")).order_by("-m"), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Count("books")).filter(Q(n__in="12")), InvalidValueError),
        (lambda: AnBook.group_by("reviews__stars"), InvalidFieldError),
        (lambda: AnBook.group_by(func.count(AnBook.id)), InvalidValueError),
        (lambda: AnBook.filter_by().limit(2).group_by("author_id"), InvalidValueError),
    ],
)
async def test_refused_when_built(shop: Database, build: Any, error: type[Exception]) -> None:
    with StatementLog(shop) as log, pytest.raises(error):
        build()
    assert log.statements == []


def by_author() -> GroupedQuery[AnBook]:
    return AnBook.group_by("author_id")


N = Count("id")


@pytest.mark.parametrize(
    ("run", "error"),
    [
        (lambda: AnBook.aggregate(n=Count("reviews")), InvalidFieldError),
        (lambda: AnBook.aggregate(n=F("pages")), InvalidValueError),
        (lambda: AnBook.aggregate(), InvalidValueError),
        (lambda: AnBook.aggregate(n=Sum("title")), InvalidValueError),
        (lambda: AnBook.filter_by().limit(1).aggregate(n=Count("id")), InvalidValueError),
        (lambda: by_author().aggregate(n=Sum("pages") + F("pages")), InvalidValueError),
        (lambda: by_author().having(m__gt=1).aggregate(n=N), InvalidFieldError),
        (lambda: by_author().having(title="A").aggregate(n=N), InvalidFieldError),
        (lambda: by_author().having(n__gt="1").aggregate(n=N), InvalidValueError),
        (lambda: by_author().order_by("title").aggregate(n=N), InvalidFieldError),
        (lambda: by_author().aggregate(author_id=N), InvalidFieldError),
        (lambda: AnAuthor.annotate(n=Count("books")).order_by("n").cursor(), InvalidValueError),
        (lambda: anext(AnAuthor.annotate(n=Count("books")).stream()), InvalidValueError),
        (lambda: AnAuthor.annotate(n=Count("books")).get(1), TypeError),
    ],
)
async def test_refused_when_run(shop: Database, run: Any, error: type[Exception]) -> None:
    with StatementLog(shop) as log, pytest.raises(error):
        await run()
    assert log.statements == []


async def test_request_keys_and_values_never_reach_sql(shop: Database) -> None:
    query = AnAuthor.annotate(n=Count("books"))
    hostile = [
        {"n__gt": "1 OR 1=1"},
        {"n": "0; DROP TABLE an_authors"},
        {"n__gt) OR (1=1": 1},
        {"n__in": ["1", "2"]},
        {"n__isnull": "yes"},
        {"n__between": [1]},
        {"n__gt": 2**70},
        {"n__year": 2020},
    ]
    for params in hostile:
        with StatementLog(shop) as log, pytest.raises((InvalidFieldError, InvalidValueError)):
            query.filter_by(**params)
        assert log.statements == []
        with pytest.raises((InvalidFieldError, InvalidValueError)):
            await AnBook.group_by("author_id").having(**params).aggregate(n=Count("id"))
    assert await AnAuthor.count() == 3
