"""On aiomysql, aiosqlite, asyncmy and asyncpg an own session's one-statement write (a new
object's INSERT, a loaded object's UPDATE or DELETE by its key, a query's UPDATE or DELETE)
is sent by the driver itself, without SQLAlchemy's ``Connection`` around it
(``_internals.direct``), where nothing could tell the two apart: no listener of the
engine, its dialect or the reset of its pool, no statement log, no other execution
option. Each test here does the same work twice, once with nothing listening and once
with a listener that keeps the ``Connection``, and compares what the two left: objects,
rows, errors, the pool. The differential harness compares the catalogue's writes with
plain ``AsyncSession`` on each of these drivers (its ``none`` watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from sqlrecord import Database
from sqlrecord._internals import direct, why_not_direct
from sqlrecord._plan import Route
from sqlrecord.exceptions import DatabaseUnavailableError, DuplicateKeyError, InvalidValueError

from .conftest import BACKENDS, _serve
from .models import Note, Ticket
from .test_one_statement import plans_logged
from .test_row_by_key import CASES  # the model shapes of the UPDATE by key's tests
from .test_row_insert import _left

#: The backends whose driver sqlrecord drives directly.
DIRECT_BACKENDS = [b for b in BACKENDS if b in ("mysql", "mysql-asyncmy", "postgresql", "sqlite")]


@pytest.fixture(params=DIRECT_BACKENDS)
async def direct_db(request: pytest.FixtureRequest, sqlite_dir: Any) -> AsyncIterator[Database]:
    """Like ``db``, on the backends of the drivers sqlrecord drives directly."""
    async for database in _serve(request.param, sqlite_dir):
        yield database


@pytest.fixture(params=[backend for backend in DIRECT_BACKENDS if backend != "sqlite"])
async def direct_server_db(
    request: pytest.FixtureRequest, sqlite_dir: Any
) -> AsyncIterator[Database]:
    """Like ``direct_db``, on the servers: a connection a server ends, a row lock another
    transaction holds (SQLite's is the whole file, which one task's own writes refuse
    to wait for: ``_sqlite_locks.py``)."""
    async for database in _serve(request.param, sqlite_dir):
        yield database


@contextlib.contextmanager
def _routes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each write alone went by the driver (True) or a ``Connection`` (False)."""
    with driver_routes(monkeypatch, direct, "execute_direct") as taken:
        yield taken


@contextlib.contextmanager
def driver_routes(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> Iterator[list[bool]]:
    """Whether each call of ``module.name`` (a driver's route, ``None`` where it declines)
    went by the driver (True) or left the statement to a ``Connection`` (False)."""
    taken: list[bool] = []
    send = getattr(module, name)

    async def spy(*arguments: Any) -> Any:
        try:
            result = await send(*arguments)
        except BaseException:
            taken.append(True)  # raised on the way: the driver's route had it
            raise
        taken.append(result is not None)
        return result

    with monkeypatch.context() as patched:
        patched.setattr(module, name, spy)
        yield taken


@contextlib.contextmanager
def _connection_kept(db: Database) -> Iterator[None]:
    """A listener a user might add (it does nothing): statements keep the ``Connection``."""

    def listener(*arguments: Any) -> None:
        return None

    event.listen(db.engine.sync_engine, "before_execute", listener)
    try:
        yield
    finally:
        event.remove(db.engine.sync_engine, "before_execute", listener)


async def _rows(db: Database, model: type[Any]) -> list[dict[str, Any]]:
    """The model's stored rows, as the table holds them, keys left out."""
    table = inspect(model).local_table
    keys = {column.name for column in table.primary_key.columns}
    async with db.engine.connect() as connection:
        rows = (await connection.execute(select(table))).mappings().all()
    return [{name: value for name, value in row.items() if name not in keys} for row in rows]


async def _wiped(db: Database, model: type[Any]) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(inspect(model).local_table.delete())


async def _lifecycle(model: type[Any], values: dict[str, Any], change: dict[str, Any]) -> Any:
    """Create, load, change and save, then delete: each write one statement alone."""
    created = await model.create(**values)
    seen = [_left(created)]
    key = inspect(created).identity
    assert key is not None
    loaded = await model.get_or_fail(key if len(key) > 1 else key[0])
    for name, value in change.items():
        setattr(loaded, name, value)
    await loaded.save()
    seen.append(_left(loaded))
    return seen, loaded


@pytest.mark.parametrize(("model", "values", "change"), CASES)
async def test_the_driver_leaves_what_a_connection_leaves(
    direct_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    model: type[Any],
    values: dict[str, Any],
    change: dict[str, Any],
) -> None:
    with _routes(monkeypatch) as lived:
        by_driver, obj = await _lifecycle(model, values, change)
    assert lived == [True, True]  # the INSERT, the UPDATE
    rows_by_driver = await _rows(direct_db, model)
    with _routes(monkeypatch) as taken:
        await obj.delete()
    assert taken == [True]
    assert await _rows(direct_db, model) == []
    with _connection_kept(direct_db), _routes(monkeypatch) as kept:
        by_connection, obj = await _lifecycle(model, values, change)
        rows_by_connection = await _rows(direct_db, model)
        await obj.delete()
    assert kept == [False, False, False]
    assert by_driver == by_connection
    assert rows_by_driver == rows_by_connection
    assert inspect(obj).was_deleted


async def _by_query(db: Database) -> tuple[Any, ...]:
    """A query's UPDATE and DELETE by key, each one statement alone."""
    note = await Note.create(text="hi", code="c1")
    updated = await Note.filter_by(id=note.id).update(text="hello")
    missed = await Note.filter_by(id=note.id + 1000).update(text="nobody")
    rows = await _rows(db, Note)
    deleted = await Note.filter_by(code="c1").delete()
    return updated, missed, rows, deleted, await _rows(db, Note)


async def test_a_query_write_by_the_driver_is_a_connections(
    direct_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _routes(monkeypatch) as taken:
        by_driver = await _by_query(direct_db)
    assert taken == [True, True, True, True]  # the create, two updates, the delete
    with _connection_kept(direct_db), _routes(monkeypatch) as kept:
        by_connection = await _by_query(direct_db)
    assert kept == [False, False, False, False]
    assert by_driver == by_connection == (1, 0, [{"text": "hello", "code": "c1"}], 1, [])


async def test_elsewhere_every_write_keeps_the_connection(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = why_not_direct(db._autocommit_engine)
    driver = db.engine.dialect.driver
    if driver in ("aiomysql", "aiosqlite", "asyncmy", "asyncpg"):
        assert reason is None
        return
    assert reason == (
        f"the {driver} driver: only aiomysql, aiosqlite, asyncmy and asyncpg are driven"
    )
    with _routes(monkeypatch) as taken:
        note = await Note.create(text="hi")
        note.text = "hello"
        await note.save()
        await note.delete()
    assert taken == [False, False, False]
    assert await _rows(db, Note) == []


async def _duplicate(db: Database) -> tuple[Any, ...]:
    await Note.create(text="first", code="same")
    with pytest.raises(DuplicateKeyError) as raised:
        await Note.create(text="second", code="same")
    error = raised.value
    cause = error.__cause__
    assert cause is not None
    rows = await _rows(db, Note)
    await _wiped(db, Note)
    return type(error), str(error), type(cause), str(cause), type(cause.__cause__), rows


async def test_an_error_is_the_one_a_connection_raises(
    direct_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _routes(monkeypatch) as taken:
        by_driver = await _duplicate(direct_db)
    assert taken == [True, True]
    with _connection_kept(direct_db):
        by_connection = await _duplicate(direct_db)
    assert by_driver == by_connection
    assert by_driver[-1] == [{"text": "first", "code": "same"}]  # nothing of the second


async def _default_raised(db: Database) -> tuple[Any, ...]:
    """A write whose Python-side default raises, before any statement is sent."""
    await Ticket.create(serial="s1")
    with pytest.raises(InvalidValueError) as raised:
        await Ticket.create()
    error = raised.value
    cause = error.__cause__
    rows = await _rows(db, Ticket)
    await _wiped(db, Ticket)
    assert db.checked_out() == 0
    return type(error), str(error), type(cause), str(cause), rows


async def test_a_failing_default_raises_as_through_a_connection(
    direct_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _routes(monkeypatch) as taken:
        by_driver = await _default_raised(direct_db)
    assert taken == [True, True]  # the second raised on the driver's route, before sending
    with _connection_kept(direct_db):
        by_connection = await _default_raised(direct_db)
    assert by_driver == by_connection
    assert by_driver[0] is InvalidValueError and "no serial left" in by_driver[1]
    assert by_driver[-1] == [{"serial": "s1"}]


async def _lost(db: Database) -> tuple[Any, ...]:
    """A write on a pooled connection the server has ended meanwhile."""
    await db._autocommit_engine.dispose()  # what earlier tests left in the pool
    await Note.create(text="warm")  # one connection idle in the autocommit pool
    async with db._autocommit_engine.connect() as connection:
        await end_backend(db, await backend_id(db, connection))
    with pytest.raises(DatabaseUnavailableError) as raised:
        await Note.create(text="lost")
    error = raised.value
    cause = error.__cause__
    assert db.checked_out() == 0
    await Note.create(text="after")  # a new connection: the lost one was dropped
    rows = await _rows(db, Note)
    await _wiped(db, Note)
    invalidated = getattr(cause, "connection_invalidated", None)
    return type(error), str(error), type(cause), str(cause), invalidated, rows


async def backend_id(db: Database, connection: Any) -> int:
    """The server's id of ``connection`` (an ``AsyncConnection`` or ``AsyncSession``)."""
    mysql = db.engine.dialect.name == "mysql"
    own_id = "SELECT CONNECTION_ID()" if mysql else "SELECT pg_backend_pid()"
    return int((await connection.execute(text(own_id))).scalar_one())


async def end_backend(db: Database, backend: int) -> None:
    """The server ends its connection ``backend``, asked on a connection of no pool's."""
    mysql = db.engine.dialect.name == "mysql"
    kill = f"KILL {backend}" if mysql else f"SELECT pg_terminate_backend({backend})"
    killers = create_async_engine(db.url, poolclass=NullPool)
    async with killers.connect() as killer:
        await killer.execute(text(kill))
    await killers.dispose()
    await asyncio.sleep(0.1)


async def test_a_lost_connection_is_dropped_as_a_connection_drops_it(
    direct_server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _routes(monkeypatch) as taken:
        by_driver = await _lost(direct_server_db)
    assert taken == [True, True, True]
    with _connection_kept(direct_server_db):
        by_connection = await _lost(direct_server_db)
    assert by_driver == by_connection
    assert by_driver[4] is True
    assert by_driver[-1] == [{"text": "warm", "code": None}, {"text": "after", "code": None}]


@contextlib.asynccontextmanager
async def _row_held(db: Database, note: Any) -> AsyncIterator[None]:
    """Another transaction holds a lock on ``note``'s row until the block ends."""
    table = inspect(Note).local_table
    async with db.engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(table.update().where(table.c.id == note.id).values(text="held"))
        try:
            yield
        finally:
            await blocker.rollback()


async def _cancelled_delete(db: Database) -> tuple[Any, ...]:
    """A delete cancelled while it waits on another transaction's lock of its row: asyncpg
    asks the server to stop it; on MySQL/MariaDB the server still runs it, committed, once
    the lock is free (aiomysql and asyncmy only close the connection: differences.md's
    ``autocommit-cancel``)."""
    note = await Note.create(text="hi")
    async with _row_held(db, note):
        task = asyncio.ensure_future(note.delete())
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting on the locked row
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert db.checked_out() == 0
    for _ in range(50 if db.engine.dialect.name == "mysql" else 5):  # until it has run
        if not await _rows(db, Note):
            break
        await asyncio.sleep(0.1)
    rows = await _rows(db, Note)
    await _wiped(db, Note)
    return inspect(note).was_deleted, inspect(note).detached, rows


async def test_a_write_cancelled_while_it_waits_ends_as_through_a_connection(
    direct_server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = direct_server_db
    with _routes(monkeypatch) as taken:
        by_driver = await _cancelled_delete(db)
    assert taken == [True, True]  # the create, then the cancelled delete
    with _connection_kept(db):
        by_connection = await _cancelled_delete(db)
    left = [] if db.engine.dialect.name == "mysql" else [{"text": "hi", "code": None}]
    assert by_driver == by_connection == (False, True, left)


class _Watch:
    """One way a user watches statements, installed and removed."""

    def __init__(self, target: str, name: str) -> None:
        self.target, self.name = target, name
        self.heard: list[Any] = []

    def __repr__(self) -> str:
        return f"{self.target}:{self.name}"

    def _where(self, db: Database) -> Any:
        engine = db.engine.sync_engine
        return engine.dialect if self.target == "dialect" else engine

    def _hear(self, *arguments: Any) -> None:
        self.heard.append(arguments)

    @contextlib.contextmanager
    def installed(self, db: Database) -> Iterator[None]:
        if self.target == "log":
            logger = logging.getLogger("sqlalchemy.engine.Engine")
            level = logger.level
            logger.setLevel(logging.INFO)
            try:
                yield
            finally:
                logger.setLevel(level)
            return
        event.listen(self._where(db), self.name, self._hear)
        try:
            yield
        finally:
            event.remove(self._where(db), self.name, self._hear)


WATCHES = [
    (_Watch("engine", "before_cursor_execute"), "a 'before_cursor_execute' listener on the engine"),
    (_Watch("engine", "begin"), "a 'begin' listener on the engine"),
    (_Watch("engine", "commit"), "a 'commit' listener on the engine"),
    (_Watch("dialect", "handle_error"), "a 'handle_error' listener on the dialect"),
    (_Watch("dialect", "do_execute"), "a 'do_execute' listener on the dialect"),
    (
        _Watch("engine", "reset"),
        "a 'reset' listener on the pool: a Connection's close resets differently",
    ),
    (_Watch("log", "INFO"), "the engine logs its statements"),
]


@pytest.mark.parametrize(("watch", "reason"), WATCHES, ids=[repr(w) for w, _ in WATCHES])
async def test_anything_watching_keeps_the_connection(
    direct_db: Database, monkeypatch: pytest.MonkeyPatch, watch: _Watch, reason: str
) -> None:
    with watch.installed(direct_db), _routes(monkeypatch) as taken:
        assert why_not_direct(direct_db._autocommit_engine) == reason
        note = await Note.create(text="watched")
    assert taken == [False]
    assert (await Note.get_or_fail(note.id)).text == "watched"
    if watch.name == "before_cursor_execute":
        assert any("INSERT" in heard[2] for heard in watch.heard)


async def test_an_execution_option_keeps_the_connection(direct_db: Database) -> None:
    engine = direct_db._autocommit_engine.execution_options(logging_token="checkout")
    assert why_not_direct(engine) == "the engine has execution options: a Connection applies them"


async def _unreachable(url: str, *, kept: bool) -> tuple[Any, ...]:
    """A get and a write on a database nothing answers for: each error, its cause's class
    and message, the pool left empty."""
    from .test_reliability import UNREACHABLE_URLS

    unreachable = Database(UNREACHABLE_URLS[url])
    try:
        with _connection_kept(unreachable) if kept else contextlib.nullcontext():
            seen = []
            for call in (lambda: Note.get(1), lambda: Note.create(text="never")):
                with pytest.raises(DatabaseUnavailableError) as raised:
                    await call()
                cause = raised.value.__cause__
                seen.append((str(raised.value), type(cause), str(cause)))
        assert unreachable.checked_out() == 0
        return tuple(seen)
    finally:
        await unreachable.dispose()


@pytest.mark.parametrize("backend", DIRECT_BACKENDS)
async def test_an_unreachable_database_raises_as_through_a_connection(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with plans_logged(caplog, Note) as plans:
        by_driver = await _unreachable(backend, kept=False)
    # The get went by the driver (a write waits for the database's first answer to plan).
    assert plans[0].route is Route.CONNECTION_LOAD
    with plans_logged(caplog, Note) as plans:
        by_connection = await _unreachable(backend, kept=True)
    assert plans[0].route is Route.ORM_STATEMENT
    assert by_driver == by_connection
