"""A new object's ``create``/``save`` in an own session inserts its row by Core
(``Route.CORE_INSERT``, ``_row_insert.py``) when nothing could tell that from
``session.add`` and a flush; the object then ends as the flush and the own session's
close leave it. Anything that could tell them apart keeps the flush. The differential
harness compares every catalogue model's create with plain ``AsyncSession``'s
(tests/differential); these tests pin the planner's choices and the object's state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Mapper, Session

from sqlrecord import Database
from sqlrecord._plan import Route
from sqlrecord._plan_rules import FAST_PATHS_OFF, SERVED_WRITE
from sqlrecord._unwatched import why_row_insert_differs
from sqlrecord.exceptions import DuplicateKeyError

from .models import Dog, Invoice, Membership, Note, Oddity, Reading, User
from .test_one_statement import autocommits, plans_logged


def _own_route(db: Database) -> Route:
    """An own session's INSERT: on a connection of its own in autocommit, where that is
    free (every database by default), else through the session, in its transaction."""
    return Route.CONNECTION_INSERT if autocommits(db) else Route.CORE_INSERT


def _own_update_route(db: Database) -> Route:
    """An own session's UPDATE of a loaded object: on a connection of its own in
    autocommit, where that is free; else the flush, in the session's transaction."""
    return Route.CONNECTION_UPDATE if autocommits(db) else Route.ORM_FLUSH


def _left(obj: Any) -> dict[str, Any]:
    """The object's state as a flush and a closed session leave it, its key by shape."""
    state = inspect(obj)
    values = {key: value for key, value in state.dict.items() if not key.startswith("_")}
    for column in state.mapper.primary_key:
        key = state.mapper.get_property_by_column(column).key
        values[key] = type(values.get(key)).__name__
    return {
        "detached": state.detached,
        "keyed": state.key is not None and None not in state.key[1],
        "modified": state.modified,
        "unloaded": sorted(state.unloaded),
        "expired": sorted(state.expired_attributes),
        "history": [attr.key for attr in state.attrs if attr.history.has_changes()],
        "values": values,
    }


async def _with_the_orm(db: Database, model: type[Any], values: dict[str, Any]) -> Any:
    """The same object through plain ``AsyncSession``: add, commit, close."""
    async with db.sessionmaker() as session:
        obj = model(**values)
        session.add(obj)
        await session.commit()
    return obj


CASES = [
    pytest.param(Note, {"text": "hi", "code": None}, id="plain"),
    # An attribute stored under another column name, a Python-side default, a None left out.
    pytest.param(Reading, {"value": 3}, id="renamed-and-default"),
    # Column names a bound parameter cannot carry; processed types (date-time, decimal).
    pytest.param(
        Oddity,
        {
            "full_name": "Kim",
            "rate": decimal.Decimal("1.25"),
            "seen_at": dt.datetime(2026, 1, 2, 3, 4, 5),
        },
        id="escaped-and-processed",
    ),
    pytest.param(Membership, {"group": "a", "member": 1}, id="composite-key-given"),
]


@pytest.mark.parametrize(("model", "values"), CASES)
async def test_a_create_is_one_core_insert_and_leaves_the_object_as_the_flush(
    db: Database, caplog: pytest.LogCaptureFixture, model: type[Any], values: dict[str, Any]
) -> None:
    with plans_logged(caplog, model) as plans:
        created = await model.create(**values)
    assert [plan.route for plan in plans] == [_own_route(db)]
    # The ORM's twin, on another key where the key is given.
    twin_values = {**values, "member": 2} if model is Membership else values
    twin = await _with_the_orm(db, model, twin_values)
    assert _left(created) == _left(twin)
    # The row stored is the ORM's too: read back, both rows alike but for their keys.
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(model))).scalars().all()
        stored = [_left(row)["values"] for row in rows]
    assert len(stored) == 2
    assert stored[0] == stored[1] or model is Membership
    given = {key: value for key, value in values.items() if key not in ("group", "member")}
    assert {key: stored[0][key] for key in given} == given


async def test_save_of_a_new_object_takes_it_too(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    reading = Reading(value=4)
    with plans_logged(caplog, Reading) as plans:
        assert await reading.save() is reading
    assert [plan.route for plan in plans] == [_own_route(db)]
    assert (
        reading.unit,
        await Reading.filter_by(id=reading.id).values_list("unit", flat=True),
    ) == (
        "mm",
        ["mm"],
    )
    reading.note = "changed after"  # a detached object with a key: its row is updated
    with plans_logged(caplog, Reading) as plans:
        await reading.save()
    assert [plan.route for plan in plans] == [_own_update_route(db)]
    assert (await Reading.get(reading.id)).note == "changed after"


@contextmanager
def _listening(target: Any, name: str) -> Iterator[list[Any]]:
    heard: list[Any] = []

    def hear(*args: Any) -> None:
        heard.append(args)

    event.listen(target, name, hear)
    try:
        yield heard
    finally:
        event.remove(target, name, hear)


async def test_a_flush_listener_keeps_the_flush_and_hears_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    mapper: Mapper[Any] = inspect(Note)
    with _listening(mapper, "before_insert") as heard, plans_logged(caplog, Note) as plans:
        await Note.create(text="heard")
    assert len(heard) == 1
    assert [(plan.route, plan.why) for plan in plans] == [
        (Route.ORM_FLUSH, "a 'before_insert' listener may write")
    ]


@pytest.mark.parametrize(
    ("model", "values", "twin_values"),
    [
        # A relationship set on the object: the ORM writes through it.
        pytest.param(
            User,
            {"email": "kim@example.com", "name": "Kim", "posts": []},
            {"email": "lee@example.com", "name": "Kim", "posts": []},
            id="relationship-set",
        ),
        # A version counter: the ORM sets it.
        pytest.param(Invoice, {"number": "A-1"}, {"number": "A-2"}, id="version-counter"),
        # Joined-table inheritance: a row in each table.
        pytest.param(
            Dog, {"name": "Rex", "licence": "L-1"}, {"name": "Rex", "licence": "L-2"}, id="joined"
        ),
    ],
)
async def test_what_the_flush_could_do_otherwise_keeps_it(
    db: Database,
    caplog: pytest.LogCaptureFixture,
    model: type[Any],
    values: dict[str, Any],
    twin_values: dict[str, Any],
) -> None:
    with plans_logged(caplog, model) as plans:
        created = await model.create(**values)
    assert plans and {plan.route for plan in plans} == {Route.ORM_FLUSH}
    twin = await _with_the_orm(db, model, twin_values)
    left, twin_left = _left(created), _left(twin)
    assert left.pop("values").keys() == twin_left.pop("values").keys()
    assert left == twin_left


async def test_without_fast_paths_the_flush_inserts(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "fast_paths", False)
    with plans_logged(caplog, Note) as plans:
        await Note.create(text="plain")
    assert [(plan.route, plan.why) for plan in plans] == [(Route.ORM_FLUSH, FAST_PATHS_OFF)]


async def test_in_a_served_session_the_object_ends_persistent_as_after_the_flush(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with plans_logged(caplog, Note) as plans:
        async with db.transaction() as session:
            note = await Note.create(text="served", code="s1")
            assert inspect(note).persistent and note in session and not session.new
            assert await Note.get(note.id) is note  # from the identity map
            left = _left(note)
    async with db.sessionmaker() as orm_session, orm_session.begin():
        twin = Note(text="served", code="s2")
        orm_session.add(twin)
        await orm_session.flush()
        twin_left = _left(twin)
    assert [(plan.route, plan.why) for plan in plans if plan.operation == "create"] == [
        (Route.CORE_INSERT, SERVED_WRITE)
    ]
    assert left.pop("values").keys() == twin_left.pop("values").keys()
    assert left == twin_left
    assert await Note.filter_by().values_list("text", flat=True) == ["served", "served"]


async def test_a_rolled_back_unit_leaves_the_created_object_transient_as_the_orm(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with plans_logged(caplog, Note) as plans, pytest.raises(RuntimeError):
        async with db.transaction(savepoints=False):
            note = await Note.create(text="gone")
            raise RuntimeError("the unit fails")
    assert [plan.route for plan in plans] == [Route.CORE_INSERT]
    async with db.sessionmaker() as orm_session:
        twin = Note(text="gone")
        orm_session.add(twin)
        await orm_session.flush()
        await orm_session.rollback()
    assert _left(note) == _left(twin)
    assert inspect(note).transient and note.id is not None  # the ORM keeps the value
    assert await Note.filter_by().count() == 0


async def test_a_failed_insert_in_a_served_session_leaves_the_unit_usable(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await Note.create(text="first", code="same")
    with plans_logged(caplog, Note) as plans:
        async with db.transaction() as session:
            clash = Note(text="clash", code="same")
            with pytest.raises(DuplicateKeyError):
                await clash.save()
            assert inspect(clash).transient and clash not in session
            kept = await Note.create(text="kept", code="other")
    assert [plan.route for plan in plans if plan.operation != "get"] == [Route.CORE_INSERT] * 2
    assert inspect(kept).detached  # the unit committed and closed its session
    texts = await Note.filter_by().order_by("text").values_list("text", flat=True)
    assert texts == ["first", "kept"]


async def test_a_failed_insert_raises_typed_and_leaves_the_object_new(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await Note.create(text="first", code="same")
    second = Note(text="second", code="same")
    with plans_logged(caplog, Note) as plans, pytest.raises(DuplicateKeyError):
        await second.save()
    assert [plan.route for plan in plans] == [_own_route(db)]
    state = inspect(second)
    assert (state.transient, second.id, second.text) == (True, None, "second")
    assert await Note.filter_by().values_list("text", flat=True) == ["first"]
    # Fixed, it goes in.
    second.code = "other"
    await second.save()
    assert inspect(second).detached and second.id is not None


async def test_a_session_listener_keeps_the_session_and_hears_its_life(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A listener of any session event sees an own session's begin, commit and close: the
    # INSERT then goes through the session (and the object through it, as after a flush).
    held_at_commit: list[list[Any]] = []

    def committed(session: Session) -> None:
        held_at_commit.append(list(session.identity_map.values()))

    event.listen(Session, "after_commit", committed)
    try:
        with plans_logged(caplog, Note) as plans:
            note = await Note.create(text="heard")
    finally:
        event.remove(Session, "after_commit", committed)
    assert [plan.route for plan in plans] == [Route.CORE_INSERT]
    # Other tests' tasks in this process may commit meanwhile: ours held the note.
    assert sum(note in held for held in held_at_commit) == 1
    twin = await _with_the_orm(db, Note, {"text": "heard"})
    assert _left(note) == _left(twin)


async def test_a_cancelled_insert_on_its_own_connection_leaves_no_connection_out(
    server_db: Database,
) -> None:
    # The INSERT waits on another transaction's row of the same unique code; cancelled
    # while it waits, its connection is discarded (it may still be busy), never handed
    # back to the pool; the fixture checks that none is left out.
    table = inspect(Note).local_table
    async with server_db.engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(table.insert().values(text="held", code="same"))
        task = asyncio.ensure_future(Note.create(text="cancelled", code="same"))
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting on the held row
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await blocker.rollback()
    assert server_db.checked_out() == 0
    # Whether the server still ran the INSERT is the driver's: asyncpg and psycopg cancel
    # the statement, aiomysql and asyncmy only close the connection (so in autocommit the
    # waiting INSERT may still go in once the lock is gone). The pool is sound either way.
    assert (await Note.create(text="after", code="other")).code == "other"
    assert server_db.checked_out() == 0


@pytest.mark.parametrize("url", ["mysql+aiomysql://root@localhost/none", "sqlite+aiosqlite://"])
def test_a_dialect_not_yet_connected_is_asked_nothing(url: str) -> None:
    # Found by the benchmark's smoke run on MariaDB: reading the dialect's memoized
    # insert_executemany_returning before its first connection kept "False" for good, and
    # the ORM's flush of many new objects then lost their keys (a NULL identity key).
    dialect = create_async_engine(url).dialect
    why, row_insert = why_row_insert_differs(Note(text="first"), Session(), dialect)
    assert (why, row_insert) == ("no connection yet: what the database returns is not known", None)
    assert "insert_executemany_returning" not in vars(dialect)
