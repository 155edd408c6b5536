"""A loaded object's ``save``/``update``/``delete`` in an own session writes its row by a
Core UPDATE or DELETE by its key, on a connection of its own (``Route.CONNECTION_UPDATE``,
``Route.CONNECTION_DELETE``, ``_row_by_key.py``), when nothing could tell that from adding
it to the session and a flush; the object then ends as the flush and the own session's
close leave it. Anything that could tell them apart keeps the flush. The differential
harness compares the catalogue models' saves and deletes with plain ``AsyncSession``'s
(tests/differential); these tests pin the planner's choices, the rows and the object.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import Mapper, Session

from sqlrecord import Database
from sqlrecord._plan import Route
from sqlrecord.exceptions import DuplicateKeyError, StaleObjectError

from .helpers import StatementLog
from .models import Invoice, Membership, Note, Oddity, Reading, User
from .test_one_statement import autocommits, plans_logged, verbs_of
from .test_row_insert import _left, _listening


def _update_route(db: Database) -> Route:
    """An own session's UPDATE of a loaded object: on a connection of its own, in
    autocommit where that is free (every database by default); else the flush."""
    return Route.CONNECTION_UPDATE if autocommits(db) else Route.ORM_FLUSH


async def _loaded(model: type[Any], values: dict[str, Any]) -> Any:
    """A row created, then loaded by an own session: detached, as an application holds it."""
    created = await model.create(**values)
    key = inspect(created).identity
    assert key is not None
    return await model.get_or_fail(key if len(key) > 1 else key[0])


async def _saved_by_the_orm(db: Database, obj: Any) -> Any:
    """``obj`` saved through plain ``AsyncSession``: add, commit, close."""
    async with db.sessionmaker() as session:
        session.add(obj)
        await session.commit()
    return obj


CASES = [
    pytest.param(Note, {"text": "hi", "code": None}, {"text": "hello"}, id="plain"),
    # An attribute stored under another column name; a None written.
    pytest.param(Reading, {"value": 3, "note": "n"}, {"value": 4, "note": None}, id="renamed"),
    # Column names a bound parameter cannot carry; processed types.
    pytest.param(
        Oddity,
        {"full_name": "Kim", "rate": decimal.Decimal("1.25")},
        {"rate": decimal.Decimal("2.50"), "seen_at": dt.datetime(2026, 1, 2, 3, 4, 5)},
        id="escaped-and-processed",
    ),
    pytest.param(Membership, {"group": "a", "member": 1}, {"role": "owner"}, id="composite-key"),
]


@pytest.mark.parametrize(("model", "values", "change"), CASES)
async def test_a_save_is_one_core_update_and_leaves_the_object_as_the_flush(
    db: Database,
    caplog: pytest.LogCaptureFixture,
    model: type[Any],
    values: dict[str, Any],
    change: dict[str, Any],
) -> None:
    ours = await _loaded(model, values)
    twin = await _loaded(model, {**values, "member": 2} if model is Membership else values)
    for obj in (ours, twin):
        for name, value in change.items():
            setattr(obj, name, value)
    with plans_logged(caplog, model) as plans, StatementLog(db) as log:
        assert await ours.save() is ours
    assert [plan.route for plan in plans] == [_update_route(db)]
    assert verbs_of(log).count("UPDATE") == 1
    await _saved_by_the_orm(db, twin)
    assert _left(ours) == _left(twin)
    # The rows stored are alike too, but for their keys.
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(model))).scalars().all()
        stored = [_left(row)["values"] for row in rows]
    assert len(stored) == 2 and stored[0] == stored[1]


async def test_update_writes_only_what_changed(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await _loaded(Note, {"text": "hi", "code": "c1"})
    with plans_logged(caplog, Note) as plans, StatementLog(db) as log:
        await note.update(text="hello", code="c1")  # the code is what it was
    assert [plan.route for plan in plans] == [_update_route(db)]
    updates = [statement for statement in log.statements if "UPDATE" in statement]
    assert len(updates) == 1 and "code" not in updates[0].split("WHERE")[0]
    assert (await Note.get_or_fail(note.id)).text == "hello"


async def test_a_save_that_changes_nothing_is_the_flushs(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # The flush sends nothing either, but takes a connection and ends its transaction,
    # which an engine's listeners see: the planner leaves it to the flush.
    note = await _loaded(Note, {"text": "hi", "code": None})
    note.text = "hi"  # the same value
    with plans_logged(caplog, Note) as plans, StatementLog(db) as log:
        await note.save()
    assert [plan.route for plan in plans] == [Route.ORM_FLUSH]
    assert "UPDATE" not in verbs_of(log)
    assert inspect(note).modified is False


async def test_a_row_gone_meanwhile_is_refused_as_the_flush_refuses_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await _loaded(Note, {"text": "hi", "code": None})
    await Note.filter_by(id=note.id).delete()
    note.text = "hello"
    with plans_logged(caplog, Note) as plans, pytest.raises(StaleObjectError):
        await note.save()
    assert [plan.route for plan in plans] == [_update_route(db)]
    # The object keeps its change, as after the flush's failure: saving again is the
    # caller's decision.
    assert (note.text, inspect(note).modified, inspect(note).detached) == ("hello", True, True)
    assert await Note.filter_by().count() == 0


async def test_a_refused_update_raises_typed_and_changes_nothing(db: Database) -> None:
    await Note.create(text="other", code="taken")
    note = await _loaded(Note, {"text": "hi", "code": "mine"})
    note.code = "taken"
    with pytest.raises(DuplicateKeyError):
        await note.save()
    assert (note.code, inspect(note).modified) == ("taken", True)
    assert (await Note.get_or_fail(note.id)).code == "mine"
    note.code = "free"
    await note.save()  # and the object can be saved again
    assert (await Note.get_or_fail(note.id)).code == "free"


@pytest.mark.parametrize(
    ("model", "values", "change", "why"),
    [
        # BaseModel's timestamps: an onupdate, and eager_defaults (the flush reads them).
        pytest.param(
            User,
            {"email": "kim@example.com", "name": "Kim"},
            {"name": "Lee"},
            "eager_defaults",
            id="timestamps",
        ),
        # A version counter: the flush sets it and checks it.
        pytest.param(Invoice, {"number": "A-1"}, {"amount": 5}, "version counter", id="version"),
    ],
)
async def test_what_the_flush_could_do_otherwise_keeps_it(
    db: Database,
    caplog: pytest.LogCaptureFixture,
    model: type[Any],
    values: dict[str, Any],
    change: dict[str, Any],
    why: str,
) -> None:
    obj = await _loaded(model, values)
    for name, value in change.items():
        setattr(obj, name, value)
    with plans_logged(caplog, model) as plans:
        await obj.save()
    assert plans and {plan.route for plan in plans} == {Route.ORM_FLUSH}
    assert inspect(obj).modified is False


async def test_an_update_listener_keeps_the_flush_and_hears_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await _loaded(Note, {"text": "hi", "code": None})
    note.text = "heard"
    mapper: Mapper[Any] = inspect(Note)
    with _listening(mapper, "before_update") as heard, plans_logged(caplog, Note) as plans:
        await note.save()
    assert len(heard) == 1
    assert [plan.route for plan in plans] == [Route.ORM_FLUSH]


async def test_a_session_listener_keeps_the_session(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await _loaded(Note, {"text": "hi", "code": None})
    note.text = "heard"
    with _listening(Session, "after_flush") as heard, plans_logged(caplog, Note) as plans:
        await note.save()
    assert [plan.route for plan in plans] == [Route.ORM_FLUSH]
    assert heard  # the flush of our note among them (other tasks may flush meanwhile)


async def test_in_a_served_session_the_flush_updates(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await _loaded(Note, {"text": "hi", "code": None})
    note.text = "served"
    async with db.transaction() as session:
        with plans_logged(caplog, Note) as plans:
            await note.save(session=session)
    assert [plan.route for plan in plans] == [Route.ORM_FLUSH]
    assert (await Note.get_or_fail(note.id)).text == "served"


async def test_a_cancelled_update_on_its_own_connection_leaves_no_connection_out(
    server_db: Database,
) -> None:
    # The UPDATE waits on another transaction's lock of its row; cancelled while it
    # waits, its connection is discarded (it may still be busy), never handed back.
    note = await _loaded(Note, {"text": "hi", "code": None})
    table = inspect(Note).local_table
    async with server_db.engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(table.update().where(table.c.id == note.id).values(text="held"))
        note.text = "cancelled"
        task = asyncio.ensure_future(note.save())
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting on the locked row
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await blocker.rollback()
    assert server_db.checked_out() == 0
    assert inspect(note).modified  # not settled: the change is still to be saved
    note.text = "after"
    await note.save()
    assert (await Note.get_or_fail(note.id)).text == "after"
    assert server_db.checked_out() == 0


# -- delete ------------------------------------------------------------------


def _delete_route(db: Database) -> Route:
    return Route.CONNECTION_DELETE if autocommits(db) else Route.ORM_FLUSH


async def _deleted_by_the_orm(db: Database, obj: Any) -> Any:
    """``obj`` deleted through plain ``AsyncSession``: add, delete, commit, close."""
    async with db.sessionmaker() as session:
        session.add(obj)
        await session.delete(obj)
        await session.commit()
    return obj


def _deleted_state(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    return {**_left(obj), "was_deleted": state.was_deleted, "deleted": state.deleted}


@pytest.mark.parametrize(("model", "values"), [(case.values[0], case.values[1]) for case in CASES])
async def test_a_delete_is_one_core_delete_and_leaves_the_object_as_the_flush(
    db: Database, caplog: pytest.LogCaptureFixture, model: type[Any], values: dict[str, Any]
) -> None:
    ours = await _loaded(model, values)
    twin = await _loaded(model, {**values, "member": 2} if model is Membership else values)
    with plans_logged(caplog, model) as plans, StatementLog(db) as log:
        await ours.delete()
    assert [plan.route for plan in plans] == [_delete_route(db)]
    assert verbs_of(log).count("DELETE") == 1
    await _deleted_by_the_orm(db, twin)
    assert _deleted_state(ours) == _deleted_state(twin)
    assert await model.filter_by().count() == 0


async def test_a_delete_of_a_row_gone_meanwhile_warns_as_the_flush(db: Database) -> None:
    ours = await _loaded(Note, {"text": "hi", "code": None})
    twin = await _loaded(Note, {"text": "hi", "code": None})
    await Note.filter_by().delete()
    with pytest.warns(SAWarning, match="expected to delete 1 row") as ours_warned:
        await ours.delete()
    with pytest.warns(SAWarning, match="expected to delete 1 row") as twin_warned:
        await _deleted_by_the_orm(db, twin)
    assert [str(w.message) for w in ours_warned] == [str(w.message) for w in twin_warned]
    assert _deleted_state(ours) == _deleted_state(twin)


@pytest.mark.parametrize(
    ("model", "values", "change"),
    [
        # Relationships: the flush may load and write the related rows.
        pytest.param(User, {"email": "kim@example.com"}, {}, id="relationships"),
        # Unsaved changes: the flush deletes the row and leaves them on the object.
        pytest.param(Note, {"text": "hi", "code": None}, {"text": "unsaved"}, id="changed"),
        # A version counter: the flush checks it.
        pytest.param(Invoice, {"number": "A-1"}, {}, id="version"),
    ],
)
async def test_what_the_flush_could_do_otherwise_keeps_it_for_a_delete(
    db: Database,
    caplog: pytest.LogCaptureFixture,
    model: type[Any],
    values: dict[str, Any],
    change: dict[str, Any],
) -> None:
    obj = await _loaded(model, values)
    for name, value in change.items():
        setattr(obj, name, value)
    with plans_logged(caplog, model) as plans:
        await obj.delete()
    assert plans and {plan.route for plan in plans} == {Route.ORM_FLUSH}
    assert inspect(obj).was_deleted
    assert await model.filter_by().count() == 0


async def test_a_delete_listener_keeps_the_flush_and_hears_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await _loaded(Note, {"text": "hi", "code": None})
    mapper: Mapper[Any] = inspect(Note)
    with _listening(mapper, "after_delete") as heard, plans_logged(caplog, Note) as plans:
        await note.delete()
    assert len(heard) == 1
    assert [plan.route for plan in plans] == [Route.ORM_FLUSH]
