"""create / save / update / delete / get on every database, own and served sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord import Database
from sqlrecord.exceptions import (
    DuplicateKeyError,
    ForeignKeyError,
    InvalidFieldError,
    InvalidValueError,
    NoSessionError,
    NotFoundError,
    NotNullError,
)

from .helpers import count_rows, fetch_column
from .models import Membership, Note, Post, User


async def test_own_session_create_is_committed_and_detached(db: Database) -> None:
    user = await User.create(email="kim@example.com", name="Kim")

    assert user.id is not None
    assert inspect(user).detached
    assert (user.email, user.name, user.status) == ("kim@example.com", "Kim", "active")
    assert await count_rows(db, User, email="kim@example.com") == 1
    with pytest.raises(NoSessionError, match="not attached to a session"):
        _ = user.session


async def test_timestamps_are_set_by_the_database_and_refreshed_on_update(db: Database) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    user = await User.using(auto_commit=True).create(email="t@example.com")
    assert user.created_at.tzinfo is not None and user.created_at >= before
    assert user.updated_at >= user.created_at
    first_update = user.updated_at

    await asyncio.sleep(0.01)
    await user.update(name="changed")

    assert user.updated_at > first_update
    assert user.created_at <= user.updated_at
    assert await fetch_column(db, User, "updated_at", id=user.id) == [user.updated_at]


async def test_design_notes_sequence_updates_the_same_row(db: Database) -> None:
    user = await User.using(auto_commit=True).create(email="abc@gmail.com", name="조재경")
    user.name = "2"
    saved = await user.save(auto_commit=True)

    assert saved is user
    assert await count_rows(db, User) == 1
    assert await fetch_column(db, User, "name", id=user.id) == ["2"]


async def test_served_write_without_commit_is_gone_after_rollback(db: Database) -> None:
    async with db.sessionmaker() as session:
        user = await User.using(session).create(email="gone@example.com")
        assert user.id is not None
        assert user.session is session
        await session.rollback()
    assert await count_rows(db, User) == 0


async def test_served_write_with_auto_commit_is_committed(db: Database) -> None:
    async with db.sessionmaker() as session:
        await User.using(session, auto_commit=True).create(email="kept@example.com")
        assert session.is_active
    assert await count_rows(db, User, email="kept@example.com") == 1


async def test_served_session_is_never_closed(db: Database) -> None:
    async with db.sessionmaker() as session:
        user = await User.using(session).create(email="open@example.com")
        await user.update(name="still open")
        assert user in session
        await session.commit()
    assert await fetch_column(db, User, "name") == ["still open"]


async def test_get_by_primary_key_unique_column_and_several(db: Database) -> None:
    kim = await User.create(email="kim@example.com")
    lee = await User.create(email="lee@example.com")

    assert (await User.get(kim.id)).email == "kim@example.com"  # type: ignore[union-attr]
    assert await User.get(kim.id + lee.id + 100) is None
    assert (await User.get(email="lee@example.com")).id == lee.id  # type: ignore[union-attr]
    assert await User.get(email="nobody@example.com") is None
    many = await User.get(lee.id, kim.id, 9999)
    assert [user.id for user in many] == [lee.id, kim.id]


async def test_get_rejects_non_unique_keyword_and_wrong_types(db: Database) -> None:
    with pytest.raises(InvalidFieldError, match="unique columns only") as caught:
        await User.get(name="Kim")
    assert "email" in caught.value.valid
    with pytest.raises(InvalidValueError, match="int"):
        await User.get("one")
    with pytest.raises(InvalidFieldError, match="needs a primary key"):
        await User.get()  # as from an empty query string: typed, not a TypeError


async def test_get_by_other_column_hint_runs_as_written(db: Database) -> None:
    kim = await User.create(email="kim@example.com", name="Kim")
    with pytest.raises(InvalidFieldError) as caught:
        await User.get(name="Kim")
    hint = re.search(r"Use (\S+) \(or \.all\(\)\)", str(caught.value))
    assert hint is not None, str(caught.value)
    assert hint.group(1) == "User.filter_by(name=...).first()"
    found = await eval(hint.group(1).replace("...", repr("Kim")), {"User": User})
    assert found.id == kim.id
    with pytest.raises(InvalidFieldError, match=r"User\.filter_by\(\.\.\.\)\.first\(\)"):
        await User.get(nickname="kim")  # not a column: no lookup to suggest


async def test_get_or_fail(db: Database) -> None:
    user = await User.create(email="x@example.com")
    assert (await User.get_or_fail(user.id)).id == user.id
    with pytest.raises(NotFoundError, match=r"No User with id=12345"):
        await User.get_or_fail(12345)
    with pytest.raises(NotFoundError, match=r"email='none@example.com'"):
        await User.get_or_fail(email="none@example.com")
    with pytest.raises(NotFoundError, match="id=777"):
        await User.get_or_fail(user.id, 777)


async def test_composite_primary_key(db: Database) -> None:
    await Membership.create(group="admins", member=1)
    await Membership.create(group="admins", member=2, role="owner")

    found = await Membership.get(("admins", 2))
    assert found is not None and found.role == "owner"
    assert await Membership.get(("admins", 3)) is None
    both = await Membership.get(("admins", 2), ("admins", 1))
    assert [m.member for m in both] == [2, 1]
    with pytest.raises(InvalidValueError, match="2 part"):
        await Membership.get("admins")


async def test_update_and_delete_own_session(db: Database) -> None:
    note = await Note.create(text="first")
    await note.update(text="second")
    assert await fetch_column(db, Note, "text") == ["second"]

    await note.delete()
    assert await count_rows(db, Note) == 0
    with pytest.raises(NotFoundError, match="no longer exists"):
        await note.delete()
    with pytest.raises(NotFoundError, match="never saved"):
        await Note(text="new").delete()


async def test_delete_served_and_cascade(db: Database) -> None:
    author = await User.create(email="a@example.com")
    await Post.create(title="p1", author_id=author.id)
    async with db.transaction():
        loaded = await User.get(author.id)
        assert loaded is not None
        await loaded.delete()
    assert await count_rows(db, User) == 0
    assert await count_rows(db, Post) == 0


async def test_duplicate_key_is_typed_and_session_keeps_working(db: Database) -> None:
    await User.create(email="dup@example.com")
    with pytest.raises(DuplicateKeyError, match="already exists") as caught:
        await User.create(email="dup@example.com")
    assert caught.value.__cause__ is not None

    async with db.sessionmaker() as session:
        keep = await User.using(session).create(email="keep@example.com")
        with pytest.raises(DuplicateKeyError):
            await User.using(session).create(email="dup@example.com")
        # The served session and its earlier work survive the failed write.
        assert keep in session and keep.email == "keep@example.com"
        await User.using(session).create(email="after@example.com")
        await session.commit()
    assert await fetch_column(db, User, "email") == [
        "after@example.com",
        "dup@example.com",
        "keep@example.com",
    ]


async def test_failed_update_restores_the_object(db: Database) -> None:
    await User.create(email="taken@example.com")
    user = await User.create(email="mine@example.com", name="Mine")

    with pytest.raises(DuplicateKeyError):
        await user.update(email="taken@example.com", name="Other")
    assert (user.email, user.name) == ("mine@example.com", "Mine")
    assert await fetch_column(db, User, "name", id=user.id) == ["Mine"]

    async with db.transaction() as session:
        served = await User.get_or_fail(user.id)
        with pytest.raises(DuplicateKeyError):
            await served.update(email="taken@example.com")
        assert served.email == "mine@example.com"  # loaded, not expired
        assert served.session is session
        await served.update(name="Fixed")
    assert await fetch_column(db, User, "name", id=user.id) == ["Fixed"]


async def test_foreign_key_and_not_null_errors(db: Database) -> None:
    with pytest.raises(ForeignKeyError, match="does not exist"):
        await Post.create(title="orphan", author_id=987654)
    with pytest.raises(NotNullError):
        await Note.create()
    assert await count_rows(db, Post) == 0
    assert await count_rows(db, Note) == 0


# What each database names in a refused write: the server's own report, read alike
# from either of its drivers (asyncpg and psycopg, aiomysql and asyncmy).
REFUSAL_NAMES = {
    "sqlite": ("test_users.email", None, "test_notes.text"),
    "postgresql": ("test_users_email_key", "test_posts_author_id_fkey", "text"),
    "mysql": ("email", None, "text"),
}


async def test_a_refused_write_names_the_constraint_the_database_names(db: Database) -> None:
    duplicate, foreign_key, not_null = REFUSAL_NAMES[db.engine.dialect.name]
    await User.create(email="dup@example.com")
    with pytest.raises(DuplicateKeyError) as caught:
        await User.create(email="dup@example.com")
    assert caught.value.constraint == duplicate
    with pytest.raises(ForeignKeyError) as refused:
        await Post.create(title="orphan", author_id=987654)
    assert refused.value.constraint == foreign_key
    with pytest.raises(NotNullError) as missing:
        await Note.create()
    assert missing.value.constraint == not_null


async def test_failed_child_create_keeps_parent_usable(db: Database) -> None:
    async with db.transaction():
        author = await User.create(email="parent@example.com")
        await Post.create(title="ok", author=author)
        with pytest.raises(InvalidValueError):
            await Post.create(title="x" * 101, author=author)
        with pytest.raises(DuplicateKeyError):
            await User.create(email="parent@example.com")
        assert author.email == "parent@example.com"
    assert await count_rows(db, Post) == 1


async def test_relationship_objects_are_saved_together(db: Database) -> None:
    async with db.transaction():
        author = await User.create(email="rel@example.com")
        post = await Post.create(title="hello", author=author)
        assert post.author_id == author.id
        assert post.author is author
    assert await count_rows(db, Post, author_id=author.id) == 1


async def test_save_detached_object_into_another_served_session(db: Database) -> None:
    user = await User.create(email="merge@example.com", name="before")
    async with db.sessionmaker() as session:
        held = await User.using(session).get(user.id)
        user.name = "after"
        await user.save(session=session, auto_commit=True)
        assert held is not None and held.name == "after"
    assert await fetch_column(db, User, "name") == ["after"]


async def test_hundred_concurrent_own_session_creates(db: Database) -> None:
    users = await asyncio.gather(*(User.create(email=f"user{n}@example.com") for n in range(100)))
    assert len({user.id for user in users}) == 100
    assert await count_rows(db, User) == 100


async def test_served_session_fixture_is_rolled_back(session: AsyncSession) -> None:
    user = await User.using(session).create(email="rollback@example.com")
    assert await User.using(session).get(user.id) is user


async def test_save_new_object_linked_to_a_served_object(db: Database) -> None:
    async with db.transaction():
        author = await User.create(email="linked@example.com")
        post = Post(title="linked", author=author)  # the backref touches author.posts
        await post.save()
        with pytest.raises(InvalidValueError):
            await Post.create(title="y" * 200, author=author)
        assert post.id is not None
        assert author.email == "linked@example.com"
    assert await count_rows(db, Post) == 1


async def test_values_assigned_directly_are_checked_on_save(db: Database) -> None:
    user = User(email="direct@example.com", name="n" * 51)
    with pytest.raises(InvalidValueError, match="at most 50"):
        await user.save()
    saved = await User.create(email="fine@example.com")
    saved.age = "forty"  # type: ignore[assignment]
    with pytest.raises(InvalidValueError, match="takes int"):
        await saved.save()
    assert await count_rows(db, User) == 1
    assert await fetch_column(db, User, "age") == [None]


async def test_database_set_timestamps_compare_equal_to_bound_values(db: Database) -> None:
    user = await User.create(email="stamp@example.com")
    assert await User.filter_by(created_at=user.created_at).count() == 1
    assert await User.filter_by(created_at__lt=user.created_at).count() == 0
