"""Wide rows, distinct objects, plans and the soft-deleted rows alone: ``only()``/``defer()``
(and the ``NotLoadedError`` for what they leave out), ``distinct()`` for objects,
``explain()``, ``only_deleted()`` and the refusal of both soft-delete calls elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import JSON, ForeignKey, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    joinedload,
    load_only,
    mapped_column,
    relationship,
)

from sqlrecord import CRUDMixin, Database
from sqlrecord.exceptions import (
    ConfigurationError,
    InvalidFieldError,
    InvalidValueError,
    NotLoadedError,
)

from .fixtures_data import Sample, load_sample
from .helpers import StatementLog, count_rows, fetch_column
from .models import Animal, Article, Dog, Invoice, Post, Tag, User, post_tags


class ShapeBase(DeclarativeBase):
    pass


class Sheet(CRUDMixin, ShapeBase):
    """A wide row: JSON (PostgreSQL has no equality for it) and a column deferred by the mapping."""

    __tablename__ = "shape_sheets"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str | None] = mapped_column(Text, deferred=True)
    lines: Mapped[list[Line]] = relationship(order_by="Line.id")


class Line(CRUDMixin, ShapeBase):
    __tablename__ = "shape_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("shape_sheets.id"))
    n: Mapped[int]


@pytest.fixture
async def sample(db: Database) -> Sample:
    return await load_sample(db)


@pytest.fixture
async def sheets(db: Database) -> AsyncIterator[list[Sheet]]:
    """Three sheets (the first two with two lines each), in tables made for the test."""
    async with db.engine.begin() as connection:
        await connection.run_sync(ShapeBase.metadata.drop_all)
        await connection.run_sync(ShapeBase.metadata.create_all)
    try:
        made = []
        for n, title in enumerate(("a", "b", "c")):
            lines = [Line(n=1), Line(n=2)] if n < 2 else []
            made.append(
                await Sheet.create(title=title, payload={"n": n}, body=f"body {title}", lines=lines)
            )
        yield made
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(ShapeBase.metadata.drop_all)


def selected_columns(log: StatementLog) -> str:
    """The column list of the last SELECT the log saw."""
    selects = [statement for statement in log.statements if statement.startswith("SELECT")]
    return selects[-1].split("FROM")[0]


# -- only / defer ------------------------------------------------------------------


async def test_only_loads_the_named_columns_and_the_key(db: Database, sample: Sample) -> None:
    with StatementLog(db) as log:
        users = await User.only("email").order_by("email").all()
    columns = selected_columns(log)
    assert "email" in columns and "id" in columns
    assert "name" not in columns and "age" not in columns
    assert (len(users), users[0].email) == (4, "KIM2@test.io")
    assert set(users[0].to_dict()) == {"id", "email"}  # to_dict skips what is not loaded


async def test_reading_a_left_out_column_is_not_loaded_error(db: Database, sample: Sample) -> None:
    kim = await User.filter_by(email="kim@example.com").only("email").one()  # own session: closed
    with pytest.raises(NotLoadedError) as caught:
        _ = kim.name
    message = str(caught.value)
    assert "User.name is not loaded" in message
    assert "only(..., 'name')" in message and "await obj.refresh('name')" in message
    assert (await kim.refresh("name")).name == "Kim"


async def test_in_a_served_session_too(db: Database, sample: Sample) -> None:
    async with db.transaction() as session:
        kim = await User.using(session).filter_by(email="kim@example.com").defer("age").one()
        with pytest.raises(NotLoadedError, match=r"User\.age is not loaded"):
            _ = kim.age
        # The plain ORM's own load_only leaves the same column: the same clear error
        # instead of MissingGreenlet.
        statement = select(User).where(User.id == sample.lee.id).options(load_only(User.email))
        lee = (await session.scalars(statement)).one()
        with pytest.raises(NotLoadedError, match=r"User\.name is not loaded"):
            _ = lee.name
        # Inside SQLAlchemy's greenlet the load runs as before.
        assert await session.run_sync(lambda _: lee.name) == "lee_%"
        await kim.refresh("age")
        assert kim.age == 30


async def test_defer_loads_all_but_the_named(db: Database, sample: Sample) -> None:
    with StatementLog(db) as log:
        kim = await User.filter_by(email="kim@example.com").defer("name", User.age).one()
    columns = selected_columns(log)
    assert "email" in columns and "status" in columns
    assert ".name" not in columns and ".age" not in columns
    assert kim.status == "active"
    with pytest.raises(NotLoadedError):
        _ = kim.age


async def test_column_attributes_are_the_typed_alternative(db: Database, sample: Sample) -> None:
    by_name = await User.only("email", "age").order_by("email").values_list("email")
    users = await User.only(User.email, User.age).order_by("email").all()
    assert [(user.email,) for user in users] == by_name
    assert users[0].age == 41


async def test_only_replaces_and_defer_narrows(db: Database, sample: Sample) -> None:
    kim = await User.filter_by(name="Kim").only("name").only("age").one()
    assert kim.age == 30
    with pytest.raises(NotLoadedError):
        _ = kim.name
    kim = await User.filter_by(name="Kim").only("name", "age").defer("age").one()
    assert kim.name == "Kim"
    with pytest.raises(NotLoadedError):
        _ = kim.age
    kim = await User.filter_by(name="Kim").defer("age").only("age").one()  # only() replaces
    assert kim.age == 30


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: User.only("nmae"), InvalidFieldError, "User has no column 'nmae'. Columns: id"),
        (lambda: User.defer("posts"), InvalidFieldError, r"relationship.*`load\('posts'\)`"),
        (lambda: User.only(Post.title), InvalidFieldError, "Post.title is not a column of User"),
        (lambda: User.only(User.posts), InvalidFieldError, r"`load\('posts'\)`"),
        (lambda: User.only("email__icontains"), InvalidFieldError, "no column"),
        (lambda: User.only(3), InvalidValueError, "got int"),
        (lambda: User.only(None), InvalidValueError, "got NoneType"),
        (lambda: User.only(User.id > 1), InvalidValueError, "column names"),
        (lambda: User.only(), InvalidValueError, "at least one column"),
        (lambda: User.defer("id"), InvalidValueError, r"User\.id is always loaded .*primary key"),
        (lambda: Invoice.defer("version"), InvalidValueError, "version column"),
        (lambda: Animal.defer(Animal.kind), InvalidValueError, "discriminator"),
    ],
)
async def test_wrong_names_are_refused_before_any_sql(
    db: Database, call: Any, error: type[Exception], message: str
) -> None:
    with StatementLog(db) as log, pytest.raises(error, match=message):
        await call().all()
    assert log.statements == []


async def test_an_invalid_field_error_lists_the_columns(db: Database) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        User.only("password")
    assert caught.value.field == "password"
    assert "email" in caught.value.valid and "posts" not in caught.value.valid


@pytest.mark.parametrize(
    "hostile",
    ["__class__", "_sa_instance_state", "email FROM test_users; --", "metadata", "query", "id "],
)
async def test_names_from_a_request_never_reach_sql(db: Database, hostile: str) -> None:
    requested = ["email", hostile]  # e.g. a "fields" query parameter, split
    with StatementLog(db) as log, pytest.raises(InvalidFieldError):
        await User.only(*requested).all()
    assert log.statements == []


async def test_the_objects_own_columns_are_always_loaded(db: Database) -> None:
    invoice = await Invoice.create(number="I-1", amount=5)
    await Dog.create(name="Rex", licence="L-1")
    slim = await Invoice.filter_by(number="I-1").only("amount").one()
    assert slim.version == 1
    slim.amount = 6
    with StatementLog(db) as log:
        await slim.save()
    # The version came with the object: no SELECT reads it before the UPDATE.
    assert not [s for s in log.statements if s.startswith("SELECT") and "version" in s]
    assert (await Invoice.get_or_fail(invoice.id)).version == 2
    (rex,) = await Animal.only("name").all()
    assert isinstance(rex, Dog) and rex.kind == "dog"


async def test_a_subclass_column_a_base_query_did_not_read(db: Database) -> None:
    await Dog.create(name="Rex", licence="L-1")
    (rex,) = await Animal.all()
    with pytest.raises(
        NotLoadedError, match=r"Dog\.licence is not loaded.*a query of a base class"
    ):
        _ = rex.licence  # the plain ORM: DetachedInstanceError
    assert isinstance(rex, Dog) and (await rex.refresh("licence")).licence == "L-1"
    (rex,) = await Dog.only("licence").all()
    assert rex.licence == "L-1"


async def test_saving_writes_the_changes_only(db: Database, sample: Sample) -> None:
    kim = await User.filter_by(email="kim@example.com").only("email").one()
    kim.email = "kim@new.example.com"
    with StatementLog(db) as log:
        await kim.save()
    (update,) = [s for s in log.statements if s.startswith("UPDATE")]
    assert "email" in update and "name" not in update and "age" not in update
    stored = await User.get_or_fail(sample.kim.id)
    assert (stored.email, stored.name, stored.age, stored.status) == (
        "kim@new.example.com",
        "Kim",
        30,
        "active",
    )
    kim.age = 31  # a left-out column set without reading it is written too
    await kim.save()
    assert await fetch_column(db, User, "age", id=sample.kim.id) == [31]


async def test_a_column_deferred_by_the_model(db: Database, sheets: list[Sheet]) -> None:
    sheet = await Sheet.filter_by(title="a").one()
    assert "body" not in sheet.to_dict()
    with pytest.raises(NotLoadedError, match=r"Sheet\.body is not loaded"):
        _ = sheet.body
    assert (await Sheet.filter_by(title="a").only("title", "body").one()).body == "body a"
    assert (await sheet.refresh("body")).body == "body a"
    async with db.transaction() as session:
        held = await Sheet.using(session).filter_by(title="b").one()
        with pytest.raises(NotLoadedError):
            _ = held.body
        held.title = "b2"
        await held.save()
    assert await Sheet.filter_by(title="b2").only("body").values_list("body", flat=True) == [
        "body b"
    ]


async def test_refresh_checks_its_names(db: Database, sample: Sample) -> None:
    with StatementLog(db) as log, pytest.raises(InvalidFieldError, match="not a column"):
        await sample.kim.refresh("nmae")
    assert log.statements == []
    assert (await sample.kim.refresh("posts")).posts[0].title == "Hello World"


async def test_only_with_loads_pages_and_model_calls(db: Database, sample: Sample) -> None:
    posts = await Post.only("title").order_by("title").load("author", "tags").all()
    assert [(post.title, post.author.name) for post in posts] == [
        ("Again, hello", "Kim"),
        ("Hello World", "Kim"),
        ("Other", "lee_%"),
    ]
    assert len(posts[0].tags) == 2
    page = await Post.only("title").order_by("title").paginate(1, 2)
    assert [post.title for post in page.items] == ["Again, hello", "Hello World"]
    first = await Post.only("title").order_by("title").cursor(limit=1)
    assert first.items[0].title == "Again, hello"
    with pytest.raises(NotLoadedError):
        _ = first.items[0].body
    with pytest.raises(TypeError, match=r"does not use a query's only\(\)/defer\(\)"):
        await User.only("email").get(sample.kim.id)


# -- distinct objects --------------------------------------------------------------

TAGGED = (Post.id == post_tags.c.post_id, post_tags.c.tag_id == Tag.id)


async def test_distinct_gives_each_object_once(db: Database, sample: Sample) -> None:
    tagged = Post.filter(*TAGGED).order_by("title")
    assert [post.title for post in await tagged.all()] == [
        "Again, hello",
        "Again, hello",
        "Hello World",
    ]
    distinct = tagged.distinct()
    assert [post.title for post in await distinct.all()] == ["Again, hello", "Hello World"]
    assert [post.title for post in await distinct.offset(1).limit(1).all()] == ["Hello World"]
    assert await distinct.count() == 2 and await tagged.count() == 3
    assert await distinct.limit(1).count() == 1
    assert (await distinct.first()).title == "Again, hello"  # type: ignore[union-attr]
    assert await distinct.values_list("title", flat=True) == ["Again, hello", "Hello World"]
    page = await distinct.paginate(1, 1)
    assert (page.total, [post.title for post in page.items]) == (2, ["Again, hello"])
    assert await distinct.sum("id") == sample.hello.id + sample.again.id


async def test_distinct_without_another_table_keeps_the_plain_select(
    db: Database, sample: Sample
) -> None:
    query = Post.filter_by(title__icontains="hello").distinct()
    assert " IN (SELECT" not in str(query.statement())
    assert await query.count() == 2


async def test_distinct_with_a_json_column(db: Database, sheets: list[Sheet]) -> None:
    """PostgreSQL cannot compare json values: the SELECT never asks it to."""
    query = Sheet.filter(Sheet.id == Line.sheet_id, Line.n > 0).order_by("-title")
    assert len(await query.all()) == 4
    found = await query.distinct().limit(5).all()
    assert [(sheet.title, sheet.payload) for sheet in found] == [("b", {"n": 1}), ("a", {"n": 0})]
    assert await query.distinct().count() == 2


async def test_joined_collections_give_each_object_once(db: Database, sample: Sample) -> None:
    query = User.filter_by(posts__isnull=False).order_by("email")
    joined = await query.options(joinedload(User.posts)).limit(1).all()
    assert [(user.email, len(user.posts)) for user in joined] == [("kim@example.com", 2)]
    loaded = await query.load("posts", strategy="joined").offset(1).all()
    assert [(user.email, len(user.posts)) for user in loaded] == [("lee@Example.org", 1)]
    both = await Post.filter(*TAGGED).distinct().order_by("title").load("tags", strategy="joined")
    assert [(post.title, len(post.tags)) for post in both] == [
        ("Again, hello", 2),
        ("Hello World", 1),
    ]


# -- explain -----------------------------------------------------------------------


async def test_explain_names_the_table_and_index(db: Database, sample: Sample) -> None:
    plan = await User.filter_by(email="kim@example.com").explain()
    assert "test_users" in plan
    if db.engine.dialect.name == "sqlite":
        assert "USING INDEX" in plan
    elif db.engine.dialect.name == "mysql":
        assert plan.splitlines()[0].startswith("id | select_type | table")
        assert "email" in plan  # the unique key, among the possible ones
    else:
        assert "Scan" in plan


async def test_explain_keeps_values_bound(db: Database, sample: Sample) -> None:
    hostile = "x'; DROP TABLE test_users; --"
    with StatementLog(db) as log:
        plan = await User.filter_by(name=hostile).explain()
    assert "test_users" in plan
    (sent,) = [statement for statement in log.statements if "EXPLAIN" in statement]
    assert "DROP" not in sent
    assert await User.count() == 4


async def test_explain_analyze(db: Database, sample: Sample) -> None:
    query = User.filter_by(name__startswith="K").order_by("email")
    if db.engine.dialect.name == "sqlite":
        with StatementLog(db) as log, pytest.raises(InvalidValueError, match="SQLite has no"):
            await query.explain(analyze=True)
        assert log.statements == []
        return
    plan = await query.explain(analyze=True)
    assert ("actual time" if db.engine.dialect.name == "postgresql" else "r_rows") in plan
    with pytest.raises(InvalidValueError, match="True or False"):
        await query.explain(analyze="yes")  # type: ignore[arg-type]


async def test_explain_in_a_served_session(db: Database, sample: Sample) -> None:
    async with db.transaction() as session:
        await User.using(session).create(email="new@example.com")
        plan = await Post.using(session).filter(*TAGGED).distinct().explain()
        # The SELECT's own column types never read the plan's rows (MariaDB's ten columns
        # were once taken for a joined load's, a date-time among them).
        joined = await Post.using(session).load("tags", strategy="joined").limit(1).explain()
        dogs = await Dog.using(session).filter_by(name="Rex").only("name").explain()
    assert "test_posts" in plan and "test_tags" in plan
    assert "test_post_tags" in joined
    assert "test_dogs" in dogs and "test_animals" in dogs


# -- soft delete -------------------------------------------------------------------


@pytest.fixture
async def articles(db: Database) -> list[Article]:
    made = [await Article.create(slug=slug, score=n) for n, slug in enumerate("abc")]
    await made[1].delete()
    return made


async def test_only_deleted_reads(db: Database, articles: list[Article]) -> None:
    a, b, c = articles
    assert [article.slug for article in await Article.only_deleted().all()] == ["b"]
    assert await Article.only_deleted().count() == 1
    assert await Article.filter_by(score__gte=0).only_deleted().values_list("slug") == [("b",)]
    assert (await Article.only_deleted().get_or_fail(b.id)).is_deleted
    assert await Article.only_deleted().get(a.id) is None
    assert [x.slug for x in await Article.only_deleted().get(a.id, b.id, c.id)] == ["b"]
    assert (await Article.only_deleted().get(slug="b")) is not None
    assert await Article.only_deleted().get(slug="a") is None
    assert await Article.filter_by().only_deleted().with_deleted().count() == 3
    assert await Article.with_deleted().only_deleted().count() == 1
    async with db.transaction() as session:  # the identity map answers get(): still checked
        held = await Article.using(session).get_or_fail(a.id)
        assert await Article.using(session).only_deleted().get(held.id) is None


async def test_only_deleted_writes(db: Database, articles: list[Article]) -> None:
    assert await Article.only_deleted().update(score=9) == 1
    assert await fetch_column(db, Article, "score") == [0, 2, 9]
    restored = await Article.only_deleted().update(deleted_at=None)
    assert restored == 1 and await Article.count() == 3
    await articles[0].delete()
    # delete() of the deleted rows removes them for good (a purge).
    assert await Article.only_deleted().delete() == 1
    assert await count_rows(db, Article) == 2
    assert await Article.only_deleted().count() == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: User.with_deleted(),
        lambda: User.only_deleted(),
        lambda: User.filter_by(name="Kim").with_deleted(),
        lambda: Post.filter_by().only_deleted(),
    ],
)
async def test_soft_delete_calls_refuse_other_models(db: Database, call: Any) -> None:
    with StatementLog(db) as log, pytest.raises(ConfigurationError) as caught:
        await call().all()
    assert "SoftDeleteMixin" in str(caught.value)
    assert log.statements == []


async def test_plain_orm_errors_do_not_leak(db: Database, sample: Sample) -> None:
    """What the plain ORM would raise for an unloaded column is never what a user sees."""
    kim = await User.filter_by(name="Kim").only("email").one()
    for name in ("name", "age", "status", "created_at"):
        with pytest.raises(NotLoadedError):
            getattr(kim, name)
    try:
        _ = kim.is_admin
    except SQLAlchemyError as error:  # pragma: no cover - the failure this test is about
        pytest.fail(f"SQLAlchemy's {type(error).__name__} leaked")
    except NotLoadedError:
        pass
