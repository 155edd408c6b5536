"""Offset pages and keyset cursors: complete, stable under ties and NULLs, tamper-evident."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel as Schema
from pydantic import ConfigDict, TypeAdapter

from sqlrecord import CursorPage, Database, Page
from sqlrecord.exceptions import InvalidCursorError, InvalidValueError

from .models import Post, User


@pytest.fixture
async def people(db: Database) -> list[User]:
    # Ties on age (three 30s), NULL ages, and equal names to test stable order.
    ages = [30, None, 25, 30, None, 41, 30, 25, 19, None, 30, 52]
    rows = [
        {"email": f"p{n:02}@example.com", "name": f"N{n % 3}", "age": age}
        for n, age in enumerate(ages)
    ]
    return await User.bulk_create(rows, return_objects=True)


async def test_paginate(db: Database, people: list[User]) -> None:
    query = User.order_by("email")
    first = await query.paginate(page=1, per_page=5)
    assert [u.email for u in first.items] == [f"p{n:02}@example.com" for n in range(5)]
    assert (first.total, first.pages, first.has_next, first.has_prev) == (12, 3, True, False)
    last = await query.paginate(page=3, per_page=5)
    assert [u.email for u in last.items] == ["p10@example.com", "p11@example.com"]
    assert (last.has_next, last.has_prev) == (False, True)
    beyond = await query.paginate(page=9, per_page=5)
    assert beyond.items == [] and beyond.total == 12
    filtered = await User.filter_by(age=30).paginate(per_page=2)
    assert (filtered.total, filtered.pages) == (4, 2)


@pytest.mark.parametrize(
    ("page", "per_page"), [(0, 10), (1, 0), (-1, 5), (1, 10_001), ("1", 5), (True, 5)]
)
async def test_bad_page_arguments(db: Database, page: object, per_page: object) -> None:
    with pytest.raises(InvalidValueError):
        await User.filter_by().paginate(page=page, per_page=per_page)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "order",
    [
        ("age",),
        ("-age",),
        ("name", "-age"),
        ("-name", "age", "email"),
        ("-created_at",),
        ("email",),
    ],
)
async def test_cursor_walks_every_row_once_in_order(
    db: Database, people: list[User], order: tuple[str, ...]
) -> None:
    query = User.order_by(*order)
    # The cursor breaks ties by primary key; so does the reference order.
    expected = [user.id for user in await User.order_by(*order, "id").all()]
    seen: list[int] = []
    after: str | None = None
    for _ in range(20):
        page = await query.cursor(limit=5, after=after)
        seen += [user.id for user in page.items]
        if not page.has_next:
            assert page.next_cursor is None
            break
        after = page.next_cursor
    assert seen == expected
    assert len(set(seen)) == 12


async def test_cursor_through_a_relationship_and_filters(db: Database) -> None:
    authors = [await User.create(email=f"a{n}@example.com", age=n % 2) for n in range(3)]
    for n in range(7):
        await Post.create(title=f"t{n % 3}", author=authors[n % 3])
    query = Post.filter_by(title__in=["t0", "t1", "t2"]).order_by("-author__age", "title")
    expected = [post.id for post in await query.order_by("-author__age", "title", "id").all()]
    first = await query.cursor(limit=4)
    rest = await query.cursor(limit=4, after=first.next_cursor)
    assert [p.id for p in first.items + rest.items] == expected
    assert not rest.has_next


async def test_tampered_foreign_and_malformed_cursors(db: Database, people: list[User]) -> None:
    page = await User.order_by("age").cursor(limit=3)
    token = page.next_cursor
    assert token is not None
    body, signature = token.split(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    for bad in [forged, token + "x", "garbage", "a.b.c", "", "é.é", "." * 3]:
        with pytest.raises(InvalidCursorError, match="not valid for this query"):
            await User.order_by("age").cursor(limit=3, after=bad)
    with pytest.raises(InvalidCursorError):  # a cursor of another ordering
        await User.order_by("-age").cursor(limit=3, after=token)
    with pytest.raises(InvalidValueError, match="field names"):
        await User.order_by(User.age.desc()).cursor(limit=3)
    with pytest.raises(InvalidValueError, match=">= 1"):
        await User.order_by("age").cursor(limit=0)


class UserOut(Schema):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    age: int | None
    created_at: dt.datetime


async def test_pages_serialise_with_pydantic_and_fastapi(db: Database, people: list[User]) -> None:
    page = await User.order_by("email").paginate(per_page=2)
    dumped = TypeAdapter(Page[UserOut]).dump_python(
        TypeAdapter(Page[UserOut]).validate_python(page, from_attributes=True), mode="json"
    )
    assert dumped["total"] == 12 and dumped["items"][0]["email"] == "p00@example.com"

    app = FastAPI()

    @app.get("/users", response_model=Page[UserOut])
    async def list_users() -> Page[User]:
        return await User.order_by("email").paginate(per_page=3)

    @app.get("/users/cursor", response_model=CursorPage[UserOut])
    async def cursor_users(after: str | None = None) -> CursorPage[User]:
        return await User.order_by("email").cursor(limit=5, after=after)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = (await client.get("/users")).json()
        assert body["pages"] == 4
        assert body["items"][0]["email"] == "p00@example.com"
        cursor_body = (await client.get("/users/cursor")).json()
        following = (
            await client.get("/users/cursor", params={"after": cursor_body["next_cursor"]})
        ).json()
    assert following["items"][0]["email"] == "p05@example.com"
