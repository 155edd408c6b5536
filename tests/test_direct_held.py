"""In a unit of work on aiomysql, aiosqlite, asyncmy and asyncpg, a ``create`` whose row is
one Core INSERT (``Route.CORE_INSERT``) is sent by the driver on the connection the
session holds, inside its transaction (``_internals.direct_held``), where nothing watches
a statement. Each test does the same unit twice, once so and once with a listener that
keeps the ``Connection``, and compares what the two left: objects, rows, errors, the
pool, the unit. The differential harness compares served creates with plain
``AsyncSession`` on each of these drivers (its ``none`` watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import inspect

from sqlrecord import Database, _row_insert
from sqlrecord._internals.direct_held import why_held_watched
from sqlrecord._plan import Route
from sqlrecord.exceptions import (
    DatabaseUnavailableError,
    DuplicateKeyError,
    TransactionAbortedError,
)

from .models import Membership, Note, Oddity, Reading
from .test_direct import (
    _connection_kept,
    _rows,
    _wiped,
    backend_id,
    direct_db,
    direct_server_db,
    driver_routes,
    end_backend,
)
from .test_one_statement import plans_logged
from .test_row_insert import _left, _listening

__all__ = ["direct_db", "direct_server_db"]  # the fixtures, used here by name


@contextlib.contextmanager
def _routes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each INSERT on a held connection went by the driver (True) or back to the
    ``Connection`` (False)."""
    with driver_routes(monkeypatch, _row_insert, "execute_held") as taken:
        yield taken


SHAPES = [
    pytest.param(Note, lambda n: {"text": f"n{n}", "code": f"c{n}"}, id="plain"),
    pytest.param(Reading, lambda n: {"value": n}, id="renamed-and-default"),
    pytest.param(
        Oddity,
        lambda n: {
            "full_name": f"Kim {n}",
            "rate": decimal.Decimal("1.25"),
            "seen_at": dt.datetime(2026, 1, 2, 3, 4, n),
        },
        id="escaped-and-processed",
    ),
    pytest.param(Membership, lambda n: {"group": "a", "member": n}, id="composite-key-given"),
]


async def _unit(db: Database, model: type[Any], values: Any, *, savepoints: bool) -> Any:
    async with db.transaction(savepoints=savepoints) as session:
        made = [await model.create(**values(n)) for n in range(3)]
        inside = [(_left(each), each in session) for each in made]
    after = [_left(each) for each in made]
    rows = await _rows(db, model)
    await _wiped(db, model)
    assert db.checked_out() == 0
    return inside, after, sorted(rows, key=repr)


@pytest.mark.parametrize("savepoints", [False, True], ids=["no-savepoints", "savepoints"])
@pytest.mark.parametrize(("model", "values"), SHAPES)
async def test_a_units_inserts_by_the_driver_leave_what_a_connection_leaves(
    direct_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    model: type[Any],
    values: Any,
    savepoints: bool,
) -> None:
    with _routes(monkeypatch) as taken, plans_logged(caplog, model) as plans:
        by_driver = await _unit(direct_db, model, values, savepoints=savepoints)
    # The first INSERT of a unit begins its transaction: the Connection's. SQLite's unit
    # holds its connection from the start, its BEGIN IMMEDIATE deferred to the first
    # statement, which the driver sends as the cursor would.
    expected = [True] * 3 if direct_db.engine.dialect.name == "sqlite" else [True] * 2
    assert taken == expected
    assert [plan.route for plan in plans] == [Route.CORE_INSERT] * 3
    with _connection_kept(direct_db), _routes(monkeypatch) as kept:
        by_connection = await _unit(direct_db, model, values, savepoints=savepoints)
    assert not any(kept)
    assert by_driver == by_connection
    assert len(by_driver[-1]) == 3


async def _duplicate(db: Database, *, savepoints: bool) -> tuple[Any, ...]:
    """A unit whose second INSERT breaks a unique key: in its SAVEPOINT, the unit goes on;
    without one, the unit is aborted and rolled back."""
    outcome: list[Any] = []
    try:
        async with db.transaction(savepoints=savepoints):
            await Note.create(text="first", code="same")
            try:
                await Note.create(text="second", code="same")
            except DuplicateKeyError as error:
                cause = error.__cause__
                outcome += [type(error), str(error), type(cause), str(cause)]
            await Note.create(text="third", code="other")
    except TransactionAbortedError as aborted:
        outcome.append(type(aborted))
    rows = await _rows(db, Note)
    await _wiped(db, Note)
    assert db.checked_out() == 0
    return *outcome, sorted(rows, key=repr)


@pytest.mark.parametrize("savepoints", [False, True], ids=["no-savepoints", "savepoints"])
async def test_a_broken_key_is_the_error_a_connection_raises(
    direct_db: Database, monkeypatch: pytest.MonkeyPatch, savepoints: bool
) -> None:
    with _routes(monkeypatch) as taken:
        by_driver = await _duplicate(direct_db, savepoints=savepoints)
    assert True in taken
    with _connection_kept(direct_db):
        by_connection = await _duplicate(direct_db, savepoints=savepoints)
    assert by_driver == by_connection
    assert by_driver[0] is DuplicateKeyError
    if savepoints:
        assert by_driver[-1] == [
            {"text": "first", "code": "same"},
            {"text": "third", "code": "other"},
        ]
    else:
        assert by_driver[-2:] == (TransactionAbortedError, [])


async def _lost(db: Database) -> tuple[Any, ...]:
    """A unit (without SAVEPOINTs: the INSERT is the first statement after the loss) whose
    connection the server ends between two INSERTs."""
    outcome: list[Any] = []
    try:
        async with db.transaction(savepoints=False):
            await Note.create(text="before", code="b")
            session = db.current_session()
            assert session is not None
            await end_backend(db, await backend_id(db, session))
            try:
                await Note.create(text="lost", code="l")
            except DatabaseUnavailableError as error:
                cause = error.__cause__
                invalidated = getattr(cause, "connection_invalidated", None)
                outcome += [type(error), str(error), type(cause), str(cause), invalidated]
                raise
    except DatabaseUnavailableError as ended:
        outcome.append(type(ended))
    assert db.checked_out() == 0
    await Note.create(text="after", code="a")  # a new connection: the lost one was dropped
    rows = await _rows(db, Note)
    await _wiped(db, Note)
    return *outcome, rows


async def test_a_lost_connection_is_dropped_as_a_connection_drops_it(
    direct_server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _routes(monkeypatch) as taken:
        by_driver = await _lost(direct_server_db)
    assert taken == [True]  # the first began the transaction: the Connection
    with _connection_kept(direct_server_db):
        by_connection = await _lost(direct_server_db)
    assert by_driver == by_connection
    assert by_driver[4] is True
    assert by_driver[-1] == [{"text": "after", "code": "a"}]


async def _cancelled(db: Database) -> tuple[Any, ...]:
    """A unit's INSERT cancelled while it waits for another transaction's uncommitted row
    of the same unique key; then the other transaction gives up its row."""
    table = inspect(Note).local_table
    async with db.engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(table.insert().values(text="blocking", code="same"))

        async def unit() -> None:
            async with db.transaction():
                await Note.create(text="first", code="first")
                await Note.create(text="waits", code="same")

        task = asyncio.ensure_future(unit())
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting on the other transaction's row
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await blocker.rollback()
    assert db.checked_out() == 0
    await asyncio.sleep(0.2)
    rows = await _rows(db, Note)
    await _wiped(db, Note)
    return (rows,)


async def test_an_insert_cancelled_while_it_waits_ends_as_through_a_connection(
    direct_server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _routes(monkeypatch) as taken:
        by_driver = await _cancelled(direct_server_db)
    assert taken == [True]  # the first began the transaction: the Connection
    with _connection_kept(direct_server_db):
        by_connection = await _cancelled(direct_server_db)
    assert by_driver == by_connection == ([],)  # the unit was rolled back, nothing kept


async def test_a_listener_of_statements_hears_every_insert(
    direct_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_engine = direct_db.engine.sync_engine
    with (
        _routes(monkeypatch) as taken,
        _listening(sync_engine, "before_cursor_execute") as heard,
        _listening(sync_engine.dialect, "do_execute") as executed,
    ):
        async with direct_db.transaction():
            for n in range(3):
                await Note.create(text=f"n{n}")
    assert taken == []  # the engine is watched: not even tried
    inserts = [each for each in heard if str(each[2]).startswith("INSERT")]
    assert len(inserts) == 3 and len(executed) >= 3
    await _wiped(direct_db, Note)


async def test_a_connection_with_execution_options_or_listeners_keeps_them(
    direct_db: Database,
) -> None:
    async with direct_db.transaction() as session:
        connection = await session.connection()
        bind = direct_db.engine
        sync = connection.sync_connection
        assert sync is not None
        assert why_held_watched(bind, sync) is None
        with _listening(sync, "after_cursor_execute"):
            reason = why_held_watched(bind, sync)
            assert reason == "a 'after_cursor_execute' listener on the connection"
        optioned = await connection.execution_options(logging_token="audit")
        assert optioned.sync_connection is not None
        watched = why_held_watched(bind, optioned.sync_connection)
        assert watched == "the connection has execution options"
