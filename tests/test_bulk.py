"""bulk_create, upsert, and the find-or-write family, including real concurrent races."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from sqlrecord import Database
from sqlrecord.exceptions import (
    DuplicateKeyError,
    InvalidFieldError,
    InvalidValueError,
)

from .helpers import count_rows, fetch_column
from .models import Membership, Note, Reading, User


async def test_bulk_create_counts_and_objects(db: Database) -> None:
    rows = [{"email": f"u{n}@example.com", "age": n} for n in range(250)]
    assert await User.bulk_create(rows, batch_size=100) == 250
    created = await User.bulk_create(
        [{"email": "x@example.com", "name": "X"}, {"email": "y@example.com"}], return_objects=True
    )
    assert [user.email for user in created] == ["x@example.com", "y@example.com"]
    assert all(user.id and user.created_at and user.status == "active" for user in created)
    assert await count_rows(db, User) == 252
    assert await User.bulk_create([]) == 0


async def test_bulk_create_maps_names_fills_defaults_and_keeps_order(db: Database) -> None:
    # Rows that give different columns, an attribute stored under another column
    # name, and a Python-side default: what the ORM's bulk INSERT handles.
    rows = [{"value": 1}, {"value": 2, "unit": "cm"}, {"value": 3}, {"note": "n", "value": 4}]
    assert await Reading.bulk_create(rows) == 4
    stored = await Reading.filter_by().order_by("id").values_list("value", "unit", "note")
    assert stored == [(1, "mm", None), (2, "cm", None), (3, "mm", None), (4, "mm", "n")]


async def test_bulk_create_is_all_or_nothing(db: Database) -> None:
    await User.create(email="taken@example.com")
    rows = [{"email": "new1@example.com"}, {"email": "taken@example.com"}]
    with pytest.raises(DuplicateKeyError):
        await User.bulk_create(rows)
    assert await count_rows(db, User) == 1


@pytest.mark.parametrize("return_objects", [False, True])
async def test_bulk_create_runs_the_users_insert_and_flush_hooks(
    db: Database, return_objects: bool
) -> None:
    # An ORM bulk INSERT fires no mapper or flush hook; rows given to bulk_create must.
    flushed: list[str] = []

    def name_it(_mapper: object, _connection: object, user: User) -> None:
        user.name = user.name or f"named by hook: {user.email}"

    def note_flush(session: Session, _context: object) -> None:
        flushed.extend(o.email for o in session.new if isinstance(o, User))

    rows = [{"email": f"hooked{n}@example.com"} for n in range(3)] + [
        {"email": "given@example.com", "name": "Given"}
    ]
    event.listen(User, "before_insert", name_it)
    event.listen(Session, "after_flush", note_flush)
    try:
        result = await User.bulk_create(rows, batch_size=2, return_objects=return_objects)
    finally:
        event.remove(User, "before_insert", name_it)
        event.remove(Session, "after_flush", note_flush)
    if return_objects:
        assert isinstance(result, list)
        names = [user.name for user in result]
        assert names[-2:] == ["named by hook: hooked2@example.com", "Given"]
        assert all(user.id is not None for user in result)
    else:
        assert result == 4
    stored = await User.filter_by().order_by("email").values_list("email", "name")
    assert stored == [
        ("given@example.com", "Given"),
        *[(f"hooked{n}@example.com", f"named by hook: hooked{n}@example.com") for n in range(3)],
    ]
    assert sorted(flushed) == sorted(row["email"] for row in rows)


@pytest.mark.parametrize(
    ("rows", "error", "message"),
    [
        ([{"email": "a@b.c", "id": 5}], InvalidFieldError, "Cannot set 'id'"),
        ([{"email": "a@b.c", "is_admin": True}], InvalidFieldError, "protected"),
        ([{"email": 5}], InvalidValueError, "takes str"),
        ([{"email": "a" * 121}], InvalidValueError, "at most 120"),
        (["not a dict"], InvalidValueError, "dicts of column values"),
        # Whole columns are checked at once; a bad value anywhere in one is found.
        ([{"email": "a@b.c"}, {"email": "b@c.d", "age": True}], InvalidValueError, "got bool"),
        ([{"email": "a@b.c"}, {"email": "nul\x00@c.d"}], InvalidValueError, "NUL"),
        (
            [{"email": "a@b.c", "age": 1}, {"email": "b@c.d", "age": 2**40}],
            InvalidValueError,
            "range",
        ),
        ([{"email": "a@b.c"}, {"email": "\ud800@c.d"}], InvalidValueError, "Unicode"),
        ([{"email": "a@b.c", "posts": []}], InvalidFieldError, "Cannot set 'posts'"),
    ],
)
async def test_bulk_create_checks_rows_first(
    db: Database, rows: list[object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await User.bulk_create(rows)  # type: ignore[arg-type]
    assert await count_rows(db, User) == 0


async def test_upsert_inserts_updates_and_refreshes_updated_at(db: Database) -> None:
    old = await User.create(email="kim@example.com", name="Old", age=1)
    rows = [
        {"email": "kim@example.com", "name": "New", "age": 2},
        {"email": "lee@example.com", "name": "Lee", "age": 3},
    ]
    assert await User.upsert(rows, conflict=["email"], update=["name"]) == 2
    assert await fetch_column(db, User, "name") == ["Lee", "New"]
    assert await fetch_column(db, User, "age", email="kim@example.com") == [1]
    (kim,) = await User.filter_by(email="kim@example.com").all()
    assert kim.updated_at > old.updated_at
    # update=None: every column the rows give; return_objects reads the rows back
    result = await User.upsert(
        [{"email": "kim@example.com", "age": 9}], conflict=["email"], return_objects=True
    )
    assert [(u.email, u.age, u.name) for u in result] == [("kim@example.com", 9, "New")]
    # update=(): existing rows are left alone
    await User.upsert([{"email": "kim@example.com", "age": 100}], conflict=["email"], update=())
    assert await fetch_column(db, User, "age", email="kim@example.com") == [9]
    assert await count_rows(db, User) == 2


async def test_upsert_on_a_composite_primary_key(db: Database) -> None:
    rows = [{"group": "g", "member": 1, "role": "a"}, {"group": "g", "member": 2, "role": "b"}]
    await Membership.upsert(rows, conflict=["group", "member"])
    await Membership.upsert(
        [{"group": "g", "member": 1, "role": "owner"}], conflict=["group", "member"]
    )
    assert await fetch_column(db, Membership, "role") == ["b", "owner"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"conflict": ["name"]}, InvalidFieldError, "primary key or one unique column"),
        ({"conflict": []}, InvalidFieldError, "primary key or one unique column"),
        ({"conflict": ["email"], "update": ["id"]}, InvalidFieldError, "Cannot set 'id'"),
        ({"conflict": ["email"], "update": ["nope"]}, InvalidFieldError, "Cannot set 'nope'"),
    ],
)
async def test_upsert_checks_its_arguments(
    db: Database, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await User.upsert([{"email": "a@b.c", "name": "A"}], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="conflict key"):
        await User.upsert([{"name": "no email"}], conflict=["email"])


async def test_get_or_create_and_update_or_create(db: Database) -> None:
    user, created = await User.get_or_create({"name": "Kim"}, email="kim@example.com")
    assert created and user.name == "Kim"
    same, created = await User.get_or_create({"name": "ignored"}, email="kim@example.com")
    assert not created and same.id == user.id and same.name == "Kim"
    updated, created = await User.update_or_create({"name": "Kim J."}, email="kim@example.com")
    assert not created and updated.name == "Kim J."
    fresh, created = await User.update_or_create({"age": 3}, email="new@example.com")
    assert created and fresh.age == 3
    saved = await User.create_or_update(email="kim@example.com", age=40)
    assert saved.id == user.id and saved.age == 40
    note = await Note.create_or_update(code="N1", text="first")
    again = await Note.create_or_update(code="N1", text="second")
    assert again.id == note.id and again.text == "second"
    with pytest.raises(InvalidFieldError, match="plain field=value"):
        await User.get_or_create(email__icontains="kim")
    with pytest.raises(InvalidFieldError, match="needs a value for one of"):
        await User.create_or_update(name="no key")
    assert await count_rows(db, User) == 2


async def test_find_or_write_inside_a_transaction(db: Database) -> None:
    async with db.transaction():
        user, created = await User.get_or_create(email="tx@example.com")
        again, created_again = await User.get_or_create(email="tx@example.com")
        assert created and not created_again and again is user
    assert await count_rows(db, User) == 1


@pytest.mark.parametrize("racers", [8])
async def test_racing_get_or_create_ends_with_one_row(db: Database, racers: int) -> None:
    results = await asyncio.gather(
        *(User.get_or_create({"name": f"r{n}"}, email="race@example.com") for n in range(racers))
    )
    ids = {user.id for user, _ in results}
    assert len(ids) == 1
    assert sum(created for _, created in results) == 1
    assert await count_rows(db, User) == 1


async def test_racing_update_or_create_ends_with_one_row(db: Database) -> None:
    results = await asyncio.gather(
        *(User.update_or_create({"age": n}, email="race2@example.com") for n in range(8))
    )
    assert len({user.id for user, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await count_rows(db, User) == 1
    assert (await fetch_column(db, User, "age"))[0] in range(8)
