"""SQLite's production settings (WAL, synchronous, busy timeout, foreign keys) and the
write that would wait for its own task's lock (SelfDeadlockError).

SQLite only: these are settings of SQLite files; each test makes a file of its own.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from sqlrecord import Database, _sqlite_locks
from sqlrecord.exceptions import (
    ConfigurationError,
    ForeignKeyError,
    SelfDeadlockError,
    TransactionConflictError,
)

from .models import Note, Post, User

PRAGMAS = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
NORMAL, FULL = 1, 2  # PRAGMA synchronous answers with a number


async def _settings(connection: Any) -> dict[str, Any]:
    found = {}
    for name in PRAGMAS:
        found[name] = (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
    return found


async def _database(path: Path | None, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Database:
    url = f"sqlite+aiosqlite:///{path}" if path is not None else "sqlite+aiosqlite://"
    database = Database(url, default=False, **options)
    for model in (User, Post, Note):
        monkeypatch.setattr(model, "__database__", database, raising=False)
    async with database.engine.begin() as connection:
        tables = [User.__table__, Post.__table__, Note.__table__]
        await connection.run_sync(User.metadata.create_all, tables=tables)
        await connection.run_sync(Note.metadata.create_all, tables=[Note.__table__])
    return database


@pytest.fixture
async def file_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    database = await _database(tmp_path / "settings.db", monkeypatch)
    try:
        yield database
        assert database.checked_out() == 0  # type: ignore[attr-defined]
        assert _sqlite_locks._held == {}  # every checkout noted was checked in again
    finally:
        await database.dispose()


async def test_every_pooled_connection_of_a_file_gets_the_production_settings(
    file_db: Database,
) -> None:
    engines = (file_db.engine, file_db._autocommit_engine)  # the own reads' engine shares the pool
    async with (
        engines[0].connect() as first,
        engines[1].connect() as second,
        engines[0].connect() as third,
    ):
        settings = [await _settings(each) for each in (first, second, third)]
    assert file_db.checked_out() == 0  # type: ignore[attr-defined]
    expected = {"journal_mode": "wal", "synchronous": NORMAL, "busy_timeout": 5000}
    assert settings == [{**expected, "foreign_keys": 1}] * 3
    # An own-session call (autocommit engine) sees the foreign keys enforced.
    with pytest.raises(ForeignKeyError):
        await Post.create(title="orphan", author_id=404)


async def test_an_in_memory_database_keeps_what_makes_sense_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = await _database(None, monkeypatch)
    try:
        async with database.engine.connect() as connection:
            settings = await _settings(connection)
    finally:
        await database.dispose()
    expected = {"journal_mode": "memory", "synchronous": FULL, "busy_timeout": 5000}
    assert settings == {**expected, "foreign_keys": 1}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"synchronous": "FULL", "busy_timeout": 250, "foreign_keys": False},
            {"journal_mode": "wal", "synchronous": FULL, "busy_timeout": 250, "foreign_keys": 0},
        ),
        # Without WAL, synchronous stays SQLite's FULL; None sends nothing (no busy timeout
        # from sqlrecord, so sqlite3's default of 5 s).
        (
            {"journal_mode": "DELETE", "busy_timeout": None},
            {"journal_mode": "delete", "synchronous": FULL, "busy_timeout": 5000},
        ),
        ({"journal_mode": None}, {"journal_mode": "delete", "synchronous": FULL}),
    ],
    ids=["changed", "rollback-journal", "file-as-it-is"],
)
async def test_sqlite_pragmas_change_drop_and_add_settings(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    database = await _database(
        tmp_path / "chosen.db", monkeypatch, sqlite_pragmas={**given, "cache_size": -4000}
    )
    try:
        async with database.engine.connect() as connection:
            settings = await _settings(connection)
            cache = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar()
    finally:
        await database.dispose()
    assert {name: settings[name] for name in expected} == expected
    assert cache == -4000


async def test_a_driver_timeout_in_connect_args_stands_for_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"connect_args": {"timeout": 7}}
    database = await _database(tmp_path / "args.db", monkeypatch, engine_options=options)
    try:
        async with database.engine.connect() as connection:
            assert (await _settings(connection))["busy_timeout"] == 7000
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "given",
    [
        {"foreign_keys=OFF; DROP TABLE test_users; --": "ON"},
        {"journal_mode": "WAL; DROP TABLE test_users"},
        {"cache_size": "-1 OR 1"},
        {"synchronous": 1.5},
    ],
)
def test_a_pragma_that_is_not_a_name_and_a_word_is_refused(given: Mapping[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="SQLite pragma"):
        Database("sqlite+aiosqlite:///refused.db", default=False, sqlite_pragmas=given)


def test_other_databases_ignore_sqlite_pragmas() -> None:
    database = Database(
        "postgresql+asyncpg://nobody@127.0.0.1/none",
        default=False,
        sqlite_pragmas={"journal_mode": "WAL"},
    )
    assert database.engine.dialect.name == "postgresql"


# -- a write that would wait for its own task ----------------------------------------


async def test_an_open_reader_no_longer_blocks_a_save_in_wal(file_db: Database) -> None:
    # The case: another open session of the task still reads the object. In
    # WAL a reader does not block the writer, so the save goes through at once.
    user = await User.create(email="read@example.com")
    async with file_db.sessionmaker() as session:
        assert await User.using(session).get(user.id) is not None  # a read transaction
        started = time.monotonic()
        await user.update(name="Saved")
        assert time.monotonic() - started < 2
    assert (await User.get(user.id)).name == "Saved"  # type: ignore[union-attr]


async def test_without_wal_an_open_reader_of_the_task_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In the rollback journal a commit waits for every reader: this save used to wait
    # out the busy timeout (30 s then) and advise a retry.
    database = await _database(
        tmp_path / "journal.db", monkeypatch, sqlite_pragmas={"journal_mode": "DELETE"}
    )
    try:
        user = await User.create(email="read@example.com")
        async with database.sessionmaker() as session:
            await User.using(session).get(user.id)
            started = time.monotonic()
            with pytest.raises(SelfDeadlockError, match="open transaction") as refused:
                await user.update(name="Saved")
            assert time.monotonic() - started < 2
            assert "journal.db" in str(refused.value)
        await user.update(name="Saved")  # the reader is gone
        assert database.checked_out() == 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()


async def test_a_write_while_the_task_holds_the_write_lock_elsewhere_is_refused(
    file_db: Database,
) -> None:
    user = await User.create(email="held@example.com")
    async with file_db.sessionmaker() as session:
        await User.using(session).create(email="writer@example.com")  # not committed
        started = time.monotonic()
        with pytest.raises(SelfDeadlockError, match="holds the write lock"):
            await user.update(name="x")  # own session, one statement: autocommit
        with pytest.raises(SelfDeadlockError):
            await User.create(email="another@example.com")
        with pytest.raises(SelfDeadlockError):
            async with file_db.transaction():  # BEGIN IMMEDIATE on a unit of its own
                pass
        with pytest.raises(SelfDeadlockError):
            await User.filter_by(email="held@example.com").delete()  # autocommit, as update
        with pytest.raises(SelfDeadlockError):
            await User.filter_by(email="held@example.com").update(name="x")
        assert time.monotonic() - started < 2
        # Through the session that holds the lock, the write goes through.
        await User.using(session).filter_by(email="held@example.com").update(name="same")
        await session.commit()
    assert (await User.get(user.id)).name == "same"  # type: ignore[union-attr]
    await user.update(name="after")  # the lock is free again


async def test_a_session_declared_a_writer_holds_the_lock_before_it_writes(
    file_db: Database,
) -> None:
    async with file_db.sessionmaker() as session:
        await file_db.begin_write(session)
        await User.using(session).count()  # BEGIN IMMEDIATE went out with it
        with pytest.raises(SelfDeadlockError):
            await User.create(email="refused@example.com")
    assert await User.count() == 0


@pytest.fixture
async def impatient_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    """A file database whose writers wait 0.3 s for a lock."""
    pragmas = {"busy_timeout": 300}
    database = await _database(tmp_path / "impatient.db", monkeypatch, sqlite_pragmas=pragmas)
    try:
        yield database
        assert database.checked_out() == 0  # type: ignore[attr-defined]
        assert _sqlite_locks._held == {}
    finally:
        await database.dispose()


async def test_a_write_that_waited_for_its_own_task_says_so(impatient_db: Database) -> None:
    # Two sessions of the caller's: sqlrecord cannot refuse beforehand (a served
    # session begins as the caller says), so the write waits the busy timeout, and
    # the error then names the session that held the lock instead of advising a retry.
    async with impatient_db.sessionmaker() as first, impatient_db.sessionmaker() as second:
        await User.using(first).create(email="first@example.com")
        with pytest.raises(SelfDeadlockError, match="waited for the task itself"):
            await User.using(second).create(email="second@example.com")


async def test_a_child_task_waiting_for_its_parents_unit_names_the_holder(
    impatient_db: Database,
) -> None:
    async def unit() -> None:
        async with impatient_db.transaction():
            await User.create(email="parent@example.com")
            await asyncio.gather(User.create(email="child@example.com"))

    with pytest.raises(TransactionConflictError, match="held by the task 'the-parent'"):
        await asyncio.create_task(unit(), name="the-parent")
    assert await User.count() == 0


async def test_another_tasks_lock_is_waited_for_not_refused(file_db: Database) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with file_db.transaction():
            await User.create(email="holder@example.com")
            holding.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    waiter = asyncio.create_task(User.create(email="waiter@example.com"))
    await asyncio.sleep(0.2)
    assert not waiter.done()  # waiting its turn
    release.set()
    await task
    await waiter
    assert sorted(await User.filter_by().values_list("email", flat=True)) == [
        "holder@example.com",
        "waiter@example.com",
    ]


async def test_sessions_of_two_files_do_not_block_each_other(
    file_db: Database, tmp_path: Path
) -> None:
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}", default=False)
    try:
        async with other.engine.begin() as connection:
            await connection.run_sync(Note.metadata.create_all, tables=[Note.__table__])
        async with other.sessionmaker() as session:
            await session.execute(text("INSERT INTO test_notes (text, code) VALUES ('x', 'x')"))
            await User.create(email="elsewhere@example.com")  # another file: no wait
            await session.commit()
    finally:
        await other.dispose()


async def test_a_call_cancelled_while_its_connection_is_set_up_returns_at_once(
    tmp_path: Path,
) -> None:
    """A call cancelled while its new connection runs the pragmas (waiting for another
    process's lock): SQLAlchemy's pool would close that connection after the pragma
    gave way, holding the cancelled call for the busy timeout; sqlrecord closes it
    without waiting, and its thread ends once the pragma gives way."""
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")  # switching to WAL waits for this lock
    database = Database(
        f"sqlite+aiosqlite:///{path}", default=False, sqlite_pragmas={"busy_timeout": 3000}
    )
    threads = set(threading.enumerate())
    try:
        started_at = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await database.engine.connect()  # the set-up waits for the lock
        assert time.monotonic() - started_at < 1.5  # not the 3 s busy timeout
        assert database.checked_out() == 0
        started = [thread for thread in threading.enumerate() if thread not in threads]
        assert started  # the connection's thread
        for thread in started:
            await asyncio.to_thread(thread.join, 10)
        assert not any(thread.is_alive() for thread in started)
        gc.collect()  # an unclosed aiosqlite connection would warn here (an error in tests)
    finally:
        holder.rollback()
        holder.close()
        await database.dispose()


async def test_a_connection_whose_connect_listener_fails_is_closed(tmp_path: Path) -> None:
    """SQLAlchemy before 2.0.58 (and 2.1.9) drops such a connection unclosed; sqlrecord's
    pool closes it, on every release the suite runs on."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'refused.db'}", default=False)

    def refuse(_dbapi_connection: Any, _record: Any) -> None:
        raise RuntimeError("set-up refused")

    event.listen(database.engine.sync_engine, "connect", refuse)
    threads = set(threading.enumerate())
    try:
        with pytest.raises(RuntimeError, match="set-up refused"):
            await database.engine.connect()
        started = [thread for thread in threading.enumerate() if thread not in threads]
        for thread in started:
            await asyncio.to_thread(thread.join, 5)
        assert not any(thread.is_alive() for thread in started)
        assert database.checked_out() == 0
        gc.collect()  # an unclosed aiosqlite connection would warn here (an error in tests)
    finally:
        await database.dispose()
