"""``Model.using(...)``: the only way options reach the calls that take field values."""

from __future__ import annotations

import pytest

from sqlrecord import Database
from sqlrecord.exceptions import InvalidFieldError, InvalidValueError, ProtectedFieldError

from .helpers import fetch_column
from .models import Article, User


async def test_session_and_auto_commit(db: Database) -> None:
    async with db.sessionmaker() as session:
        draft = await User.using(session).create(email="draft@example.com")
        assert await User.using(session).get(draft.id) is draft  # flushed in that session
        await session.rollback()
    assert await fetch_column(db, User, "email") == []
    async with db.sessionmaker() as session:
        await User.using(session, auto_commit=True).create(email="kept@example.com")
        kept = User.using(session, auto_commit=True).filter_by(email="kept@example.com")
        assert await kept.update(name="Kept") == 1
    assert await fetch_column(db, User, "name") == ["Kept"]


async def test_allow_protected_is_checked_and_scoped(db: Database) -> None:
    admin = await User.using(allow_protected="is_admin").create(
        email="a@example.com", is_admin=True
    )
    assert admin.is_admin is True
    with pytest.raises(ProtectedFieldError, match="status"):
        await User.using(allow_protected={"is_admin"}).create(email="b@example.com", status="x")
    with pytest.raises(InvalidFieldError, match="'email' is not one"):
        User.using(allow_protected=["email"])  # a typo or a non-protected name fails loudly
    with pytest.raises(InvalidValueError, match="allow_protected takes"):
        User.using(allow_protected=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="auto_commit takes"):
        User.using(auto_commit="yes")  # type: ignore[arg-type]
    # The query-level UPDATE honours protection the same way.
    with pytest.raises(ProtectedFieldError):
        await User.filter_by(id=admin.id).update(is_admin=False)
    assert await User.using(allow_protected=True).filter_by(id=admin.id).update(is_admin=False)
    assert await fetch_column(db, User, "is_admin") == [False]


async def test_bulk_writes_take_options_from_using(db: Database) -> None:
    rows = [{"email": "x@example.com", "is_admin": True}]
    with pytest.raises(ProtectedFieldError):
        await User.bulk_create(rows)
    assert await User.using(allow_protected=True).bulk_create(rows) == 1
    upserted = await User.using(allow_protected={"is_admin"}).upsert(
        [{"email": "x@example.com", "is_admin": False}], conflict=["email"], return_objects=True
    )
    assert [user.is_admin for user in upserted] == [False]


async def test_a_shaped_query_is_refused_for_model_calls(db: Database) -> None:
    for shaped in (User.filter_by(name="x"), User.order_by("id"), User.using().limit(1)):
        with pytest.raises(TypeError, match="does not use a query's"):
            await shaped.create(email="never@example.com")
        with pytest.raises(TypeError, match="does not use a query's"):
            await shaped.get(1)
    assert await fetch_column(db, User, "email") == []


async def test_with_deleted_get(db: Database) -> None:
    article = await Article.create(slug="old")
    await article.delete()
    assert await Article.get(article.id) is None
    found = await Article.with_deleted().get_or_fail(article.id)
    assert found.is_deleted
