"""Soft delete, optimistic locking, to_dict and Pydantic, streaming."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from pydantic import BaseModel as Schema
from pydantic import ConfigDict, ValidationError

from sqlrecord import Database
from sqlrecord.exceptions import (
    InvalidFieldError,
    InvalidValueError,
    NotFoundError,
    NotLoadedError,
    StaleObjectError,
)

from .helpers import count_rows, fetch_column
from .models import Article, Invoice, Post, User

# -- soft delete ---------------------------------------------------------------


async def test_soft_delete_hides_rows_everywhere(db: Database) -> None:
    writer = await User.create(email="w@example.com")
    first = await Article.create(slug="first", writer=writer)
    second = await Article.create(slug="second", writer=writer)
    await first.delete()
    assert first.is_deleted
    assert await count_rows(db, Article) == 2  # the row is still there
    assert [a.slug for a in await Article.all()] == ["second"]
    assert await Article.count() == 1
    assert await Article.get(first.id) is None
    assert [a.slug for a in await Article.get(first.id, second.id)] == ["second"]
    assert await Article.get(slug="first") is None
    assert (await Article.with_deleted().get(first.id)).is_deleted  # type: ignore[union-attr]
    assert await Article.filter_by().with_deleted().count() == 2
    with pytest.raises(NotFoundError):
        await Article.get_or_fail(first.id)
    loaded = await User.filter_by(email="w@example.com").load("articles").one()
    assert [a.slug for a in loaded.articles] == ["second"]
    assert await User.filter_by(articles__slug="second").count() == 1
    with pytest.raises(NotFoundError, match="deleted already"):
        await first.delete()


async def test_soft_delete_restore_hard_delete_and_bulk(db: Database) -> None:
    article = await Article.create(slug="a")
    await article.delete()
    await article.restore()
    assert not article.is_deleted and await Article.count() == 1
    await Article.bulk_create([{"slug": f"b{n}", "score": n} for n in range(4)])
    assert await Article.filter_by(score__gte=2).delete() == 2  # marks
    assert await count_rows(db, Article) == 5
    assert await Article.count() == 3
    assert await Article.filter_by(score__gte=2).with_deleted().hard_delete() == 2
    assert await count_rows(db, Article) == 3
    await article.hard_delete()
    assert await count_rows(db, Article) == 2


# -- optimistic locking --------------------------------------------------------


async def test_stale_update_is_refused_and_writes_nothing(db: Database) -> None:
    invoice = await Invoice.create(number="I-1", amount=10)
    assert invoice.version == 1
    mine = await Invoice.get_or_fail(invoice.id)
    theirs = await Invoice.get_or_fail(invoice.id)
    await theirs.update(amount=20)
    assert theirs.version == 2
    with pytest.raises(StaleObjectError, match="changed or deleted by someone else"):
        await mine.update(amount=30)
    assert (mine.amount, mine.version) == (10, 1)  # the object is as it was
    assert await fetch_column(db, Invoice, "amount") == [20]
    fresh = await Invoice.get_or_fail(invoice.id)
    await fresh.update(amount=30)
    assert (fresh.version, await fetch_column(db, Invoice, "amount")) == (3, [30])
    with pytest.raises(StaleObjectError):
        await mine.delete()
    with pytest.raises(InvalidFieldError, match="'version'"):
        fresh.fill(version=99)


async def test_stale_update_in_a_served_session(db: Database) -> None:
    invoice = await Invoice.create(number="I-2")
    async with db.sessionmaker() as session:
        held = await Invoice.using(session).get_or_fail(invoice.id)
        await session.commit()  # end the read (SQLite lets no writer commit past a reader)
        other = await Invoice.get_or_fail(invoice.id)  # another writer, its own session
        await other.update(amount=5)
        with pytest.raises(StaleObjectError):
            await held.update(amount=7)  # in the session it is attached to
        assert held.amount == 0
        await session.refresh(held)
        await held.update(amount=8)
        await session.commit()
    assert await fetch_column(db, Invoice, "amount") == [8]


# -- to_dict and Pydantic ------------------------------------------------------


class PostOut(Schema):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str


class UserOut(Schema):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    created_at: dt.datetime
    posts: list[PostOut]


async def test_to_dict(db: Database) -> None:
    author = await User.create(email="d@example.com", name="D")
    await Post.create(title="T", author=author)
    plain = author.to_dict(exclude={"created_at", "updated_at"})
    assert plain == {
        "id": author.id,
        "email": "d@example.com",
        "name": "D",
        "status": "active",
        "is_admin": False,
        "age": None,
    }
    assert author.to_dict(include={"display_name", "nickname"})["display_name"] == "D"
    with pytest.raises(NotLoadedError):
        author.to_dict(include={"posts"})
    with pytest.raises(InvalidFieldError, match="does not have"):
        author.to_dict(include={"password"})
    loaded = await User.filter_by(id=author.id).load("posts.author").one()
    nested = loaded.to_dict(nested=True)
    assert nested["posts"][0]["title"] == "T"
    assert "author" not in nested["posts"][0]  # the path back to the user is not repeated


async def test_pydantic_reads_loaded_objects(db: Database) -> None:
    author = await User.create(email="p@example.com")
    await Post.create(title="P", author=author)
    loaded = await User.filter_by(id=author.id).load("posts").one()
    out = UserOut.model_validate(loaded, from_attributes=True)
    assert out.posts[0].title == "P"
    detached = await User.get_or_fail(author.id)
    with pytest.raises(ValidationError, match=r"NotLoadedError: User\.posts is not loaded"):
        UserOut.model_validate(detached, from_attributes=True)


# -- streaming -----------------------------------------------------------------


async def test_stream_yields_every_row_and_closes_its_session(db: Database) -> None:
    await User.bulk_create([{"email": f"s{n:03}@example.com"} for n in range(250)])
    emails = [user.email async for user in User.order_by("email").stream(batch_size=64)]
    assert emails == [f"s{n:03}@example.com" for n in range(250)]
    async with contextlib.aclosing(User.order_by("email").stream(batch_size=10)) as rows:
        async for user in rows:
            if user.email == "s005@example.com":
                break
    assert db.checked_out() == 0  # type: ignore[attr-defined]
    with pytest.raises(InvalidValueError, match=">= 1"):
        async for _ in User.filter_by().stream(batch_size=0):
            pass
