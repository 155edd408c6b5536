"""Database: configuration, the default database, transactions and the ambient session."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import PoolResetState

import sqlrecord._registry as registry
from sqlrecord import Database
from sqlrecord._internals import OneHopCursor
from sqlrecord.exceptions import ConfigurationError, DuplicateKeyError, NoDatabaseError

from .helpers import count_rows, fetch_column, sqlite_file_database
from .models import Note, User


def test_unconfigured_database_explains_the_fix() -> None:
    database = Database()
    assert not database.is_configured
    with pytest.raises(NoDatabaseError, match=r"db.init\(url\)"):
        _ = database.engine


def test_second_init_is_refused() -> None:
    database = Database("sqlite+aiosqlite://", default=False)
    with pytest.raises(ConfigurationError, match="already configured"):
        database.init("sqlite+aiosqlite://")


async def test_model_without_any_database_raises_a_typed_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_default", None)
    with pytest.raises(NoDatabaseError, match=r"User has no database.*Database\("):
        await User.get(1)


async def test_model_may_name_its_own_database(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Database("sqlite+aiosqlite://", default=False)
    monkeypatch.setattr(Note, "__database__", other, raising=False)
    try:
        assert registry.database_for(Note) is other
        assert registry.database_for(User) is db
    finally:
        await other.dispose()


async def test_sqlite_enforces_foreign_keys_and_mysql_uses_utc(db: Database) -> None:
    async with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        if db.engine.dialect.name == "mysql":
            zone = (await connection.execute(text("SELECT @@session.time_zone"))).scalar()
            assert zone == "+00:00"


async def test_transaction_commits_and_is_ambient(db: Database) -> None:
    async with db.transaction() as session:
        assert db.current_session() is session
        user = await User.create(email="tx@example.com")
        assert user.session is session
        assert await count_rows(db, User) == 0  # not committed yet
    assert db.current_session() is None
    assert await count_rows(db, User) == 1


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction():
            await User.create(email="a@example.com")
            await User.create(email="b@example.com")
            raise RuntimeError("boom")
    assert await count_rows(db, User) == 0


async def test_nested_transaction_is_a_savepoint(db: Database) -> None:
    async with db.transaction() as outer:
        await User.create(email="outer@example.com")
        with pytest.raises(RuntimeError):
            async with db.transaction() as inner:
                assert inner is outer
                await User.create(email="inner@example.com")
                raise RuntimeError("undo inner only")
        async with db.transaction():
            await User.create(email="inner-kept@example.com")
    assert await fetch_column(db, User, "email") == ["inner-kept@example.com", "outer@example.com"]


async def test_transaction_translates_errors_raised_at_commit(db: Database) -> None:
    await User.create(email="taken@example.com")
    with pytest.raises(DuplicateKeyError):
        async with db.transaction() as session:
            session.add(User(email="taken@example.com"))
    assert await count_rows(db, User) == 1


async def test_child_tasks_do_not_share_the_ambient_session(db: Database) -> None:
    await User.create(email="committed@example.com")
    async with db.transaction() as session:
        await User.create(email="pending@example.com")
        seen = await asyncio.gather(*(asyncio.create_task(_ambient(db)) for _ in range(5)))
        assert seen == [None] * 5
        assert db.current_session() is session
        # Child tasks read in sessions of their own: they see committed rows
        # only, and never use the parent's session concurrently.
        counts = await asyncio.gather(*(User.count() for _ in range(5)))
        assert counts == [1] * 5
        assert await User.count() == 2
    assert await count_rows(db, User) == 2


async def test_an_own_session_ends_its_transaction_once(db: Database) -> None:
    # Session.close rolls back; the pool then rolls back again on check-in unless it
    # is told the transaction already ended (a second ROLLBACK round trip on MariaDB).
    await User.create(email="reader@example.com")
    resets: list[bool] = []

    def on_reset(_dbapi: object, _record: object, state: PoolResetState) -> None:
        resets.append(state.transaction_was_reset)

    event.listen(db.engine.sync_engine, "reset", on_reset)
    try:
        assert [user.email for user in await User.filter_by().all()] == ["reader@example.com"]
        page = await User.order_by("id").paginate(page=1, per_page=5)
        assert page.total == 1
        async with asynccontextmanager(db.session)():
            assert await User.filter_by(email__icontains="READER").first() is not None
    finally:
        event.remove(db.engine.sync_engine, "reset", on_reset)
    assert resets == [True, True, True]
    assert db.engine.sync_engine.pool.checkedout() == 0


async def _ambient(db: Database) -> object:
    await asyncio.sleep(0)
    return db.current_session()


async def test_create_all_knows_the_models_tables(db: Database) -> None:
    tables = {table.name for metadata in db.metadata() for table in metadata.sorted_tables}
    assert {"test_users", "test_posts", "test_notes"} <= tables
    await db.create_all()  # idempotent: tables exist already


async def test_dispose_then_use_again(db: Database) -> None:
    await User.create(email="before@example.com")
    await db.dispose()
    assert await count_rows(db, User) == 1


@pytest.mark.parametrize("setting", [-1, "yes", None])
def test_pool_pre_ping_refuses_a_setting_it_cannot_read(setting: Any) -> None:
    with pytest.raises(ConfigurationError, match="pool_pre_ping"):
        Database("sqlite+aiosqlite://", pool_pre_ping=setting, default=False)


async def test_sqlite_runs_each_statement_in_one_hand_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLAlchemy 2.0's aiosqlite adapter builds its cursors itself, 2.1's from a class
    # attribute: on both, statements go through sqlrecord's one-hand-off cursor, and
    # each is one call into the driver's thread.
    database = await sqlite_file_database(tmp_path / "hops.db", User, monkeypatch)
    try:
        async with database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.dbapi_connection.cursor(), OneHopCursor)  # type: ignore[union-attr]
            driver: Any = raw.driver_connection
            calls: list[object] = []
            plain_execute = driver._execute

            async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append(function)
                return await plain_execute(function, *args, **kwargs)

            monkeypatch.setattr(driver, "_execute", counted)
            result = await connection.execute(text("SELECT 1 UNION ALL SELECT 2"))
            assert result.scalars().all() == [1, 2]
            assert len(calls) == 1
            async with connection.stream(text("SELECT 3")) as streamed:  # SQLAlchemy's own
                assert await streamed.scalars().all() == [3]
            monkeypatch.undo()
            await connection.rollback()
    finally:
        await database.dispose()


async def test_sqlite_sends_begin_with_the_first_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every transaction begins explicitly (IMMEDIATE for writers, which take the
    # write lock up front), in the same hand-off to the driver's thread as its
    # first statement; a transaction without statements sends none, and a read or
    # a one-row write in a session of sqlrecord's own is a single statement, with
    # no BEGIN.
    database = await sqlite_file_database(tmp_path / "begin.db", User, monkeypatch)
    executed: list[str] = []
    async with database.engine.connect() as connection:  # the pool's one idle connection
        raw = await connection.get_raw_connection()
        raw.driver_connection._connection.set_trace_callback(executed.append)  # type: ignore[union-attr]
    try:
        user = await User.create(email="kim@example.com")
        await User.get(user.id)
        await user.update(name="Kim")
        async with database.transaction():
            pass
        async with database.transaction():
            await User.filter_by(email__startswith="k").count()
        async with database.transaction():  # every served write takes a SAVEPOINT
            await User.create(email="lee@example.com")
            with pytest.raises(DuplicateKeyError):
                await User.create(email="kim@example.com")
            await User.create(email="park@example.com")
        async with database.transaction():  # savepoints wait for the next statement
            await user.update(name="Kim K.")  # a saved object: the ORM's flush, in a SAVEPOINT
            with pytest.raises(DuplicateKeyError):
                await user.update(email="lee@example.com")
        traced = list(executed)
        emails = await User.filter_by().order_by("email").values_list("email", flat=True)
    finally:
        await database.dispose()
    verbs = [statement.split()[0] for statement in traced]
    assert verbs == [
        "INSERT",  # create: one statement, a transaction by itself
        "SELECT",  # get: likewise
        "UPDATE",  # update
        *("BEGIN", "SELECT", "COMMIT"),  # a unit of work; the empty one sent nothing
        *("BEGIN", "SAVEPOINT", "INSERT", "RELEASE"),  # lee
        *("SAVEPOINT", "INSERT", "ROLLBACK"),  # kim: refused, rolled back to
        *("SAVEPOINT", "INSERT"),  # park
        "COMMIT",  # the COMMIT releases its SAVEPOINT (a RELEASE waits for the next statement)
        *("BEGIN", "SAVEPOINT", "UPDATE"),  # the name
        *("RELEASE", "SAVEPOINT", "UPDATE", "ROLLBACK"),  # the email: refused, rolled back to
        "COMMIT",
    ]
    assert [traced[3], traced[6], traced[16]] == ["BEGIN IMMEDIATE"] * 3
    assert emails == ["kim@example.com", "lee@example.com", "park@example.com"]


@pytest.mark.parametrize(
    "connect_args", [{"timeout": 5}, {"factory": sqlite3.Connection}], ids=["timeout", "factory"]
)
async def test_sqlite_connect_args_keep_units_of_work_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connect_args: dict[str, Any]
) -> None:
    # The caller's connect_args join sqlrecord's; with a sqlite3 connection factory
    # of the caller's own, BEGIN goes out on its own instead of with the next statement.
    url = f"sqlite+aiosqlite:///{tmp_path / 'args.db'}"
    database = Database(url, default=False, engine_options={"connect_args": connect_args})
    monkeypatch.setattr(User, "__database__", database, raising=False)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(User.metadata.create_all, tables=[User.__table__])
        with pytest.raises(RuntimeError):
            async with database.transaction():
                await User.create(email="rolled-back@example.com")
                raise RuntimeError
        async with database.transaction():
            await User.create(email="kept@example.com")
            with pytest.raises(DuplicateKeyError):
                await User.create(email="kept@example.com")
        assert await User.filter_by().values_list("email", flat=True) == ["kept@example.com"]
        assert database.checked_out() == 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()
