"""The Query object: laziness, chaining, terminals, ordering, values, bulk writes, errors."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord import Database, Query
from sqlrecord.exceptions import (
    InvalidFieldError,
    InvalidValueError,
    MultipleResultsError,
    NotFoundError,
)

from .fixtures_data import Sample, load_sample
from .helpers import StatementLog, count_rows, fetch_column
from .models import Comment, Post, User

KIM, LEE, PARK, KIMBERLY = "kim@example.com", "lee@Example.org", "park@example.com", "KIM2@test.io"


@pytest.fixture
async def sample(db: Database) -> Sample:
    return await load_sample(db)


async def test_queries_are_lazy_and_immutable(db: Database, sample: Sample) -> None:
    with StatementLog(db) as log:
        base = User.filter_by(age__isnull=False)
        older = base.filter_by(age__gt=26).order_by("-age").limit(5).offset(0)
        assert isinstance(older, Query)
        assert older is not base
    assert log.statements == []
    assert [u.email for u in await older] == [KIMBERLY, KIM]
    assert len(await base) == 3  # the base query did not change


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: User.filter_by(nmae="x"), "no field or relationship 'nmae'"),
        (lambda: User.filter_by(name__startswit="x"), "Unknown lookup operator 'startswit'"),
        (lambda: User.filter_by(posts__titel="x"), "Post has no field or relationship 'titel'"),
        (lambda: User.filter_by(name__year__eq=1), "apply to date and datetime fields"),
        (lambda: User.filter_by(created_at__year__bogus=1), "Unknown lookup operator 'bogus'"),
        (lambda: User.filter_by(posts__gt=1), "ends on a relationship"),
        (lambda: User.filter_by(**{"name__": "x"}), "empty part"),
        (lambda: User.order_by("nmae"), "Cannot sort by 'nmae'"),
        (lambda: User.order_by("posts__title"), "to-many relationship"),
        (lambda: Post.order_by("author__nmae"), "User has no field 'nmae'"),
        (lambda: User.load("post"), "has no relationship 'post'"),
        (lambda: User.load("posts.comment"), "Post has no relationship 'comment'"),
        (lambda: User.load("posts", strategy="eager"), "Unknown loading strategy"),
        (lambda: User.filter_by(**{"name; DROP TABLE x": 1}), "no field or relationship"),
    ],
)
async def test_bad_names_fail_before_any_sql(db: Database, build: object, message: str) -> None:
    with StatementLog(db) as log, pytest.raises(InvalidFieldError, match=message) as caught:
        build()  # type: ignore[operator]
    assert log.statements == []
    assert caught.value.valid  # the error lists the valid choices


@pytest.mark.parametrize(
    ("lookups", "message"),
    [
        ({"age": "thirty"}, "takes int"),
        ({"age__in": "25"}, "list of values"),
        ({"age__in": [25, "x"]}, "takes int"),
        ({"age__between": (1,)}, "pair"),
        ({"age__isnull": "yes"}, "True or False"),
        ({"name__contains": 5}, "takes a string"),
        ({"created_at__year": "2024"}, "integer"),
        ({"age__gt": None}, "__isnull"),
        ({"posts": "not a post"}, "takes Post objects"),
    ],
)
async def test_bad_values_fail_before_any_sql(
    db: Database, lookups: dict[str, object], message: str
) -> None:
    with StatementLog(db) as log, pytest.raises(InvalidValueError, match=message):
        User.filter_by(**lookups)
    assert log.statements == []


async def test_terminals(db: Database, sample: Sample) -> None:
    by_age = User.filter_by(age__isnull=False).order_by("age")
    assert (await by_age.first()).email == LEE  # type: ignore[union-attr]
    assert await User.filter_by(name="nobody").first() is None
    assert (await User.filter_by(name="Kim").one()).email == KIM
    assert await User.filter_by(name="nobody").one_or_none() is None
    with pytest.raises(NotFoundError, match="No User matches"):
        await User.filter_by(name="nobody").one()
    with pytest.raises(MultipleResultsError, match="Several User rows"):
        await User.filter_by(name__istartswith="kim").one()
    with pytest.raises(MultipleResultsError):
        await User.filter_by(name__istartswith="kim").one_or_none()
    assert await User.count() == 4
    assert await User.filter_by(age__gte=30).count() == 2
    assert await User.order_by("email").limit(2).offset(3).count() == 1
    assert await User.exists(name="Kim")
    assert not await User.exists(name="Nobody")
    assert (await User.first()).id == sample.kim.id  # type: ignore[union-attr]
    assert len(await User.all()) == 4


async def test_aggregates(db: Database, sample: Sample) -> None:
    assert await User.filter_by().sum("age") == 96
    assert await User.filter_by().min("age") == 25
    assert await User.filter_by().max("age") == 41
    assert float(await User.filter_by().avg("age")) == pytest.approx(32.0)
    assert await User.filter_by(name="nobody").sum("age") is None
    assert await Post.filter_by(author__name="Kim").max("author__age") == 30


async def test_order_by_nulls_paths_and_ties(db: Database, sample: Sample) -> None:
    ascending = await User.order_by("age").values_list("email", flat=True)
    assert ascending == [LEE, KIM, KIMBERLY, PARK]  # NULL last ascending, everywhere
    descending = await User.order_by("-age").values_list("email", flat=True)
    assert descending == [PARK, KIMBERLY, KIM, LEE]  # NULL first descending
    titles = await Post.order_by("-author__age", "title").values_list("title", flat=True)
    assert titles == ["Again, hello", "Hello World", "Other"]
    cleared = User.order_by("age").order_by()
    assert "ORDER BY" not in str(cleared.statement())


async def test_values_and_values_list(db: Database, sample: Sample) -> None:
    rows = await User.filter_by(name="Kim").values("email", "age")
    assert rows == [{"email": KIM, "age": 30}]
    everything = await User.filter_by(name="Kim").values()
    assert set(everything[0]) == set(User.column_names)
    pairs = await Post.order_by("title").values_list("title", "author__email")
    assert pairs == [("Again, hello", KIM), ("Hello World", KIM), ("Other", LEE)]
    names = (
        await Post.filter_by()
        .order_by("author__email")
        .distinct()
        .values_list("author__email", flat=True)
    )
    assert names == [KIM, LEE]
    with pytest.raises(InvalidValueError, match="exactly one field"):
        await User.filter_by().values_list("email", "name", flat=True)
    with pytest.raises(InvalidFieldError, match="Cannot select by 'posts__title'"):
        await User.filter_by().values("posts__title")


async def test_bulk_update_and_delete(db: Database, sample: Sample) -> None:
    assert await User.filter_by(name__istartswith="kim").update(age=50) == 2
    assert await fetch_column(db, User, "age", age=50) == [50, 50]
    assert await User.filter_by(posts__title__contains="Other").update(name="Writer") == 1
    with pytest.raises(InvalidFieldError, match="Cannot set 'id'"):
        await User.filter_by().update(id=5)
    with pytest.raises(InvalidValueError, match="takes int"):
        await User.filter_by().update(age="old")
    with pytest.raises(InvalidValueError, match="at least one"):
        await User.filter_by().update()
    # limit/offset narrow a bulk write to the rows the query would return
    assert await User.order_by("email").limit(1).update(name="First") == 1
    assert await fetch_column(db, User, "name", email=KIMBERLY) == ["First"]
    assert await Comment.filter_by(post__author__name="Kim").delete() == 1
    assert await count_rows(db, Comment) == 1
    assert await Post.filter_by(title="nope").delete() == 0


async def test_bulk_delete_refused_by_a_foreign_key_is_typed(db: Database, sample: Sample) -> None:
    from sqlrecord.exceptions import ForeignKeyError

    with pytest.raises(ForeignKeyError):
        await User.filter_by(email=KIM).delete()
    assert await count_rows(db, User) == 4


async def test_served_and_ambient_sessions(db: Database, sample: Sample) -> None:
    async with db.sessionmaker() as session:
        user = await User.with_session(session).filter_by(name="Kim").one()
        assert user.session is session
        assert await User.filter_by(name="Kim").with_session(session).update(age=31) == 1
        await session.rollback()
    assert await fetch_column(db, User, "age", name="Kim") == [30]
    async with db.transaction() as session:
        ambient = await User.filter_by(name="Kim").one()
        assert ambient.session is session
        await User.filter_by(name="Kim").update(age=32)
    assert await fetch_column(db, User, "age", name="Kim") == [32]


async def test_a_query_write_sends_one_statement_and_keeps_held_objects_in_step(
    db: Database, sample: Sample
) -> None:
    with StatementLog(db) as log:
        assert await User.filter_by(name="Kim").update(age=40) == 1
        assert await User.filter_by(email=KIMBERLY).delete() == 1
    # An own session holds no object to keep in step: the statements alone, no SELECT of
    # the keys first (MariaDB's UPDATE returns no rows).
    sent = [s.split()[0].upper() for s in log.statements if s.split()[0].upper() != "BEGIN"]
    assert [word for word in sent if word not in ("COMMIT", "ROLLBACK")] == ["UPDATE", "DELETE"]
    async with db.transaction() as session:
        held = await User.filter_by(name="Kim").one()
        await User.filter_by(name="Kim").update(age=41)
        assert held.age == 41 and held.session is session  # the served session's copy follows


async def test_query_inside_a_request_session(session: AsyncSession) -> None:
    await User.using(session).create(email="fixture@example.com")
    assert await User.with_session(session).count() == 1
