"""Eager loading by path, and a clear error instead of MissingGreenlet."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sqlrecord import Database
from sqlrecord.exceptions import InvalidFieldError, NotFoundError, NotLoadedError

from .fixtures_data import Sample, load_sample
from .helpers import StatementLog
from .models import Post, User


@pytest.fixture
async def sample(db: Database) -> Sample:
    return await load_sample(db)


async def test_load_paths_with_own_session(db: Database, sample: Sample) -> None:
    users = await User.filter_by(name="Kim").load("posts", "posts.comments", "posts.tags").all()
    (kim,) = users
    assert [post.title for post in kim.posts] == ["Hello World", "Again, hello"]
    assert [comment.body for comment in kim.posts[0].comments] == ["Nice x"]
    assert sorted(tag.label for tag in kim.posts[1].tags) == ["python", "sql"]
    posts = await Post.order_by("title").load("author").all()
    assert [post.author.email for post in posts] == [
        "kim@example.com",
        "kim@example.com",
        "lee@Example.org",
    ]


@pytest.mark.parametrize("strategy", ["selectin", "joined", "subquery", "immediate"])
async def test_explicit_strategies_give_the_same_rows(
    db: Database, sample: Sample, strategy: str
) -> None:
    users = (
        await User.filter_by(posts__isnull=False)
        .order_by("email")
        .load("posts", strategy=strategy)
        .all()
    )
    assert [len(user.posts) for user in users] == [2, 1]
    assert await User.filter_by(posts__isnull=False).load("posts", strategy=strategy).count() == 2


async def test_unloaded_relationship_is_a_clear_error(db: Database, sample: Sample) -> None:
    kim = await User.filter_by(name="Kim").one()  # detached, posts not loaded
    with pytest.raises(NotLoadedError, match=r"User\.posts is not loaded.*\.load\('posts'\)"):
        _ = kim.posts
    async with db.sessionmaker() as session:
        attached = (await session.scalars(select(User).where(User.name == "Kim"))).one()
        with pytest.raises(NotLoadedError, match="load_related"):
            _ = attached.posts
        post = (await session.scalars(select(Post).where(Post.title == "Other"))).one()
        # A many-to-one whose row is already in the session needs no query.
        lee = await User.using(session).get(sample.lee.id)
        assert post.author is lee


async def test_load_related_on_detached_and_attached_objects(db: Database, sample: Sample) -> None:
    kim = await User.filter_by(name="Kim").one()
    await kim.load_related("posts")
    assert len(kim.posts) == 2
    async with db.transaction():
        post = await Post.filter_by(title="Other").one()
        await post.load_related("author", "comments")
        assert post.author.name == "lee_%"
        assert [c.body for c in post.comments] == ["meh"]
    with pytest.raises(InvalidFieldError, match="no relationship 'postz'"):
        await kim.load_related("postz")
    with pytest.raises(NotFoundError, match="never saved"):
        await User(email="new@example.com").load_related("posts")


async def test_loading_costs_one_query_per_level(db: Database, sample: Sample) -> None:
    with StatementLog(db) as log:
        users = await User.filter_by().load("posts", "posts.comments").all()
    selects = [sql for sql in log.statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3
    assert sum(len(user.posts) for user in users) == 3
