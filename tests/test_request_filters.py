"""RequestFilters: query-string filters through an allow-list (issue 16, part 2)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlrecord import Database, RequestFilters
from sqlrecord.exceptions import InvalidFieldError, InvalidValueError, SQLRecordError

from .models import Post, User

USERS = RequestFilters(
    User,
    fields={
        "name": {"exact", "icontains"},
        "age": {"exact", "gte", "lt", "in", "between", "isnull"},
        "created_at": {"gte"},
    },
    order_by={"id", "age", "name"},
    default_order=("id",),
    ignore={"page", "per_page"},
)
POSTS = RequestFilters(Post, fields={"author__email": {"exact"}}, order_by={"author__email"})


@pytest.fixture
async def people(db: Database) -> dict[str, int]:
    rows = [("Kim", 31), ("Lee", 25), ("Park", None), ("kimura", 40)]
    made = [
        await User.create(email=f"{name}@example.com", name=name, age=age) for name, age in rows
    ]
    await Post.create(title="hello", author_id=made[0].id)
    return {user.name: user.id for user in made if user.name is not None}


async def _names(params: Any) -> list[str | None]:
    return await USERS.apply(params).values_list("name", flat=True)


async def test_values_are_converted_to_the_column_types(people: dict[str, int]) -> None:
    assert await _names({"age__gte": "30"}) == ["Kim", "kimura"]
    assert await _names({"age": "25"}) == ["Lee"]
    assert await _names([("age__in", "25, 40")]) == ["Lee", "kimura"]
    assert await _names({"age__between": "24,31"}) == ["Kim", "Lee"]
    assert await _names({"age__isnull": "true"}) == ["Park"]
    assert await _names({"name__icontains": "KIM", "order_by": "-age"}) == ["kimura", "Kim"]
    assert await _names({"created_at__gte": "2000-01-01T00:00:00"}) == [
        "Kim",
        "Lee",
        "Park",
        "kimura",
    ]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert await _names({"created_at__gte": future}) == []
    assert await _names({"page": "2", "per_page": "5"}) == ["Kim", "Lee", "Park", "kimura"]


async def test_paths_through_to_one_relationships(people: dict[str, int]) -> None:
    titles = await POSTS.apply({"author__email": "Kim@example.com"}).values_list("title", flat=True)
    assert titles == ["hello"]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"is_admin": "true"}, InvalidFieldError, "filters allowed here are age, age__between"),
        ({"status": "active"}, InvalidFieldError, "Cannot filter User by 'status'"),
        ({"name__startswith": "K"}, InvalidFieldError, "Cannot filter"),
        ({"email": "x"}, InvalidFieldError, "Cannot filter"),
        ({"order_by": "email"}, InvalidFieldError, "Cannot sort User by 'email'"),
        ({"order_by": "-is_admin"}, InvalidFieldError, "sort by one of age, id, name"),
        ({"age": "thirty"}, InvalidValueError, "age takes int"),
        ({"age": "1e3"}, InvalidValueError, "age takes int"),
        ({"age": "9" * 30}, InvalidValueError, "age takes int"),
        ({"age__between": "1"}, InvalidValueError, "two values"),
        ({"age__isnull": "maybe"}, InvalidValueError, "true or false"),
        ({"created_at__gte": "yesterday"}, InvalidValueError, "takes datetime"),
        ([("age", "1"), ("age", "2")], InvalidValueError, "more than once"),
        ({"session": "x"}, InvalidFieldError, "Cannot filter"),
        ({"age__gte": "1'; DROP TABLE test_users; --"}, InvalidValueError, "takes int"),
    ],
)
async def test_everything_else_is_refused_before_any_sql(
    people: dict[str, int], params: Any, error: type[SQLRecordError], message: str
) -> None:
    with pytest.raises(error, match=message):
        USERS.apply(params)  # refused while building: no SQL was sent


def test_the_allow_list_is_checked_when_built() -> None:
    with pytest.raises(InvalidFieldError, match="no field 'nope'"):
        RequestFilters(User, fields={"nope": {"exact"}})
    with pytest.raises(InvalidValueError, match="not a lookup operator"):
        RequestFilters(User, fields={"age": {"sounds_like"}})
    with pytest.raises(InvalidFieldError):
        RequestFilters(User, fields={}, order_by={"nope"})


HOSTILE = settings(
    max_examples=int(200 * float(os.environ.get("HOSTILE_EXAMPLES", "1.0"))) or 10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
query_keys = st.one_of(
    st.sampled_from([*USERS.allowed_keys, "order_by", "page", "is_admin", "status", "email"]),
    st.text(max_size=15),
)
query_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["1", "-1", "1,2", "true", "2026-01-01", "-age", "id,-name", "%", "'"]),
)


@pytest.mark.reliability
@HOSTILE
@given(params=st.lists(st.tuples(query_keys, query_values), max_size=4))
async def test_hostile_query_strings_give_rows_or_a_typed_error(
    people: dict[str, int], params: list[tuple[str, str]]
) -> None:
    try:
        query = USERS.apply(params)
    except SQLRecordError:
        return
    rows = await query.values("name", "is_admin", "status")
    # Whatever was asked, only allowed columns were compared: every row is a seeded one.
    assert {row["name"] for row in rows} <= set(people)
