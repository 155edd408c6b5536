"""sqlrecord.testing: every call, unit and request of a test joins one transaction, which is
rolled back at the end; checked on a connection of its own after the test's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord import Database
from sqlrecord._pinned import CONCURRENT_USE
from sqlrecord._plan import Plan, Transaction
from sqlrecord._plan_rules import PINNED
from sqlrecord.exceptions import ConfigurationError, DatabaseUnavailableError, DuplicateKeyError
from sqlrecord.testing import rolled_back

from .helpers import slow_sql, unpooled
from .models import Note, User


async def rows_outside(db: Database, *models: type[Any]) -> int:
    """The rows of ``models``' tables as another connection sees them (committed ones)."""
    outside = unpooled(db)
    try:
        async with outside.engine.connect() as connection:
            total = 0
            for model in models:
                statement = select(func.count()).select_from(model)
                total += (await connection.execute(statement)).scalar_one()
            return total
    finally:
        await outside.dispose()


@contextlib.contextmanager
def plans(caplog: pytest.LogCaptureFixture, *models: type[Any]) -> Iterator[list[Plan]]:
    """The plans logged by the block's calls on ``models`` (a server another test left
    running in the process logs plans of its own, in its own thread)."""
    seen: list[Plan] = []
    names, thread = {model.__name__ for model in models}, threading.get_ident()
    with caplog.at_level(logging.DEBUG, logger="sqlrecord.plan"):
        first = len(caplog.records)
        yield seen
        for record in caplog.records[first:]:
            plan = getattr(record, "plan", None)
            if plan is not None and plan.model in names and record.thread == thread:
                seen.append(plan)


def checked_out(db: Database) -> int:
    return int(db.checked_out())  # type: ignore[attr-defined]


# -- model calls ----------------------------------------------------------------------


async def test_every_kind_of_call_joins_and_nothing_remains(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with plans(caplog, User, Note) as logged:
        async with rolled_back(db):
            user = await User.create(email="kim@example.com")  # one statement: autocommit else
            await user.update(name="Kim")
            user.age = 30
            await user.save()
            await Note.bulk_create([{"text": "a", "code": "a"}, {"text": "b", "code": "b"}])
            await Note.upsert(
                [{"code": "a", "text": "A"}, {"code": "c", "text": "C"}], conflict=["code"]
            )
            assert await Note.filter_by(code="b").update(text="B") == 1
            assert await Note.filter_by(code="c").delete() == 1
            note, created = await Note.get_or_create({"text": "D"}, code="d")
            assert created
            assert (await Note.get_or_create(code="d"))[0].id == note.id
            await (await User.create(email="gone@example.com")).delete()
            assert sorted(await Note.order_by("code").values_list("text", flat=True)) == [
                "A", "B", "D"
            ]  # fmt: skip
            assert (await User.get(user.id)).age == 30  # type: ignore[union-attr]
            async with contextlib.aclosing(Note.order_by("id").stream(batch_size=1)) as rows:
                assert len([row async for row in rows]) == 3
            assert await rows_outside(db, User, Note) == 0  # not committed: the test's own
    assert checked_out(db) == 0
    assert await rows_outside(db, User, Note) == 0
    assert {"Core INSERT", "ORM flush", "ORM statement"} <= {plan.route.value for plan in logged}
    # Nothing goes around the test's connection: no call in autocommit, and those that
    # would be (one-statement writes and reads of an own session) say why not.
    assert Transaction.AUTOCOMMIT not in {plan.transaction for plan in logged}
    pinned = {(plan.model, plan.operation) for plan in logged if plan.why == PINNED}
    assert {("User", "create"), ("User", "save"), ("Note", "values_list")} <= pinned


async def test_units_of_work_nest_as_savepoints(db: Database) -> None:
    async with rolled_back(db):
        async with db.transaction():
            await User.create(email="kept@example.com")
        with pytest.raises(RuntimeError, match="undo"):
            async with db.transaction():
                await User.create(email="undone@example.com")
                raise RuntimeError("undo the block")

        @db.transaction(retries=2)
        async def sign_up(email: str) -> int:
            return (await User.create(email=email)).id

        await sign_up("decorated@example.com")
        async with db.transaction(savepoints=False):
            await User.create(email="batch@example.com")
        emails = await User.order_by("email").values_list("email", flat=True)
        assert emails == ["batch@example.com", "decorated@example.com", "kept@example.com"]
    assert await rows_outside(db, User) == 0
    assert checked_out(db) == 0


async def test_a_failed_write_leaves_the_test_transaction_usable(db: Database) -> None:
    async with rolled_back(db):
        await User.create(email="taken@example.com")
        with pytest.raises(DuplicateKeyError):
            await User.create(email="taken@example.com")  # an own session: its SAVEPOINT
        async with db.transaction():
            with pytest.raises(DuplicateKeyError):
                await User.create(email="taken@example.com")  # a served write's SAVEPOINT
            await User.create(email="after@example.com")
        with pytest.raises(DuplicateKeyError):
            await Note.bulk_create([{"text": "x", "code": "x"}, {"text": "y", "code": "x"}])
        with pytest.raises(DuplicateKeyError):
            async with db.transaction(savepoints=False):  # the whole unit goes, alone
                await User.create(email="batch@example.com")
                await User.create(email="taken@example.com")
        assert await User.count() == 2
        assert await Note.count() == 0
    assert await rows_outside(db, User, Note) == 0


async def test_sessions_of_the_database_join_and_commit_to_a_savepoint(db: Database) -> None:
    async with rolled_back(db) as connection:
        async with db.sessionmaker() as session:
            session.add(User(email="plain@example.com"))
            await session.commit()  # releases the session's SAVEPOINT
        async with db.sessionmaker() as session:
            session.add(User(email="rolled@example.com"))
            await session.flush()
            await session.rollback()  # back to the session's SAVEPOINT
        statement = text("SELECT email FROM test_users")
        assert (await connection.execute(statement)).scalars().all() == ["plain@example.com"]
    assert await rows_outside(db, User) == 0


async def test_the_transaction_is_rolled_back_when_the_test_fails(db: Database) -> None:
    with pytest.raises(AssertionError):
        async with rolled_back(db):
            await User.create(email="kim@example.com")
            raise AssertionError("the test failed")
    assert await rows_outside(db, User) == 0
    assert checked_out(db) == 0


async def test_one_test_transaction_at_a_time(db: Database) -> None:
    async with rolled_back(db):
        with pytest.raises(ConfigurationError, match="already inside a test's transaction"):
            async with rolled_back(db):
                pass
        assert await User.count() == 0  # the first one goes on
    assert checked_out(db) == 0


async def test_an_in_memory_sqlite_database() -> None:
    # One connection for the whole database (StaticPool): the test's, and afterwards the
    # rows are gone from it.
    memory = Database("sqlite+aiosqlite://", default=False)
    try:
        await memory.create_all(User.metadata)
        async with rolled_back(memory):
            async with memory.transaction() as session:
                await User.using(session).create(email="kim@example.com")
            assert await User.using(memory.sessionmaker()).count() == 1
        async with memory.engine.connect() as connection:
            rows = await connection.execute(select(func.count()).select_from(User))
            assert rows.scalar_one() == 0
    finally:
        await memory.dispose()


async def test_a_call_cancelled_mid_statement_ends_the_test_transaction(db: Database) -> None:
    # Its connection may still be busy: it is invalidated, as outside a test, so the
    # test's transaction is gone (nothing of it kept) and the next call says so.
    async def slow() -> None:
        async with db.sessionmaker() as session:
            await session.execute(text(slow_sql(db.engine.dialect.name)))

    async with rolled_back(db):
        await User.create(email="kim@example.com")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow(), 0.3)
        with pytest.raises(DatabaseUnavailableError):
            await User.count()
    assert await rows_outside(db, User) == 0
    assert checked_out(db) == 0


async def test_a_savepoint_that_failed_to_begin_holds_nothing(db: Database) -> None:
    # PostgreSQL refuses every statement of a failed transaction, SAVEPOINT included:
    # the next task gets the database's error again, not a refusal for concurrent use.
    # SQLite and MariaDB answer 1/0 with NULL: their transaction, and later tasks, go on.
    async with rolled_back(db) as connection:
        if db.engine.dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match="division by zero"):
                await connection.execute(text("SELECT 1/0"))
            for _ in range(2):
                with pytest.raises(DBAPIError, match="current transaction is aborted"):
                    await asyncio.create_task(User.count())
        else:
            assert (await connection.execute(text("SELECT 1/0"))).scalar() is None
            for _ in range(2):
                assert await asyncio.create_task(User.count()) == 0
    assert checked_out(db) == 0


async def test_two_databases_pinned_at_once(db: Database) -> None:
    # Each keeps its own turns: one task alternating between them is never refused.
    other = Database("sqlite+aiosqlite://", default=False)
    try:
        await other.create_all(User.metadata)
        async with rolled_back(db), rolled_back(other):
            async with other.transaction() as session, db.transaction():
                for n in range(2):
                    await User.using(session).create(email=f"{n}@example.com")
                    await User.create(email=f"{n}@example.com")  # db's ambient session
            assert await User.count() == 2
            assert await User.using(other.sessionmaker()).count() == 2
        assert await rows_outside(db, User) == 0
    finally:
        await other.dispose()


# -- a FastAPI app --------------------------------------------------------------------


def _app(db: Database, *, hold: tuple[asyncio.Event, asyncio.Event] | None = None) -> FastAPI:
    """The app; with ``hold=(holding, release)``, the first sign-up sets ``holding`` and
    keeps its session open until the test sets ``release``."""
    app = FastAPI()

    @app.post("/users")
    async def sign_up(
        email: str, session: AsyncSession = Depends(db.committing_session, scope="function")
    ) -> dict[str, int]:
        user = await User.create(email=email)
        if hold is not None and not hold[0].is_set():
            hold[0].set()
            await hold[1].wait()
        return {"id": user.id}

    @app.post("/users/refused")
    async def refused(
        email: str, session: AsyncSession = Depends(db.committing_session, scope="function")
    ) -> None:
        await User.create(email=email)
        raise HTTPException(status_code=422, detail="refused after writing")

    @app.post("/users/committed")
    async def committed(email: str, session: AsyncSession = Depends(db.session)) -> None:
        await User.create(email=email)
        await session.commit()

    @app.get("/users/count")
    async def count(session: AsyncSession = Depends(db.session)) -> int:
        return await User.count()

    @app.exception_handler(DuplicateKeyError)
    async def conflict(request: object, error: DuplicateKeyError) -> object:
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": error.detail}, status_code=409)

    return app


@contextlib.asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_requests_join_the_test_transaction(db: Database) -> None:
    async with rolled_back(db), client_of(_app(db)) as client:
        created = await client.post("/users", params={"email": "kim@example.com"})
        assert created.status_code == 200, created.text
        assert (await User.get(created.json()["id"])) is not None  # the test sees it
        refused = await client.post("/users/refused", params={"email": "lee@example.com"})
        assert refused.status_code == 422
        duplicate = await client.post("/users", params={"email": "kim@example.com"})
        assert duplicate.status_code == 409
        committed = await client.post("/users/committed", params={"email": "ann@example.com"})
        assert committed.status_code == 200, committed.text
        await User.create(email="test@example.com")  # the test's own, seen by the app
        assert (await client.get("/users/count")).json() == 3
        assert await rows_outside(db, User) == 0
    assert await rows_outside(db, User) == 0
    assert checked_out(db) == 0


async def test_concurrent_requests_in_one_test_are_refused(db: Database) -> None:
    # One connection serves the test: the second request's session would interleave
    # its SAVEPOINT with the first's, so it is refused; the first one completes.
    holding, release = asyncio.Event(), asyncio.Event()
    async with rolled_back(db), client_of(_app(db, hold=(holding, release))) as client:
        first = asyncio.create_task(client.post("/users", params={"email": "a@example.com"}))
        await holding.wait()  # the first request holds its session now
        with pytest.raises(ConfigurationError) as refused:
            await client.post("/users", params={"email": "b@example.com"})
        assert str(refused.value) == CONCURRENT_USE
        release.set()
        assert (await first).status_code == 200
        # One after the other is fine again.
        assert (await client.post("/users", params={"email": "c@example.com"})).is_success
        assert await User.order_by("email").values_list("email", flat=True) == [
            "a@example.com", "c@example.com"
        ]  # fmt: skip
    assert await rows_outside(db, User) == 0
    assert checked_out(db) == 0


async def test_concurrent_calls_in_one_test_are_refused(db: Database) -> None:
    async with rolled_back(db):
        results = await asyncio.gather(
            *(User.create(email=f"{n}@example.com") for n in range(3)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, ConfigurationError)]
        assert refused, results
        assert all(isinstance(r, User | ConfigurationError) for r in results), results
        assert await User.count() == len(results) - len(refused)
    assert await rows_outside(db, User) == 0
    assert checked_out(db) == 0


async def test_tasks_a_unit_starts_may_use_it(db: Database) -> None:
    # A task started inside a unit of work descends from it: its sessions nest in the
    # unit's SAVEPOINT, as the unit waits for it.
    async with rolled_back(db):
        async with db.transaction():
            await User.create(email="outer@example.com")
            await asyncio.create_task(User.create(email="child@example.com"))
            async with asyncio.TaskGroup() as group:
                group.create_task(User.create(email="grandchild@example.com"))
        assert await User.count() == 3
    assert await rows_outside(db, User) == 0


# -- the pytest plugin ----------------------------------------------------------------

PLUGIN_CONFTEST = """
import os

import pytest_asyncio
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqlrecord import CRUDMixin, Database

pytest_plugins = ["sqlrecord.testing"]

db = Database(os.environ["PLUGIN_TEST_URL"])  # the default database: the fixtures pin it


class Base(DeclarativeBase):
    pass


class Account(CRUDMixin, Base):
    __tablename__ = "plugin_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session", autouse=True)
async def tables():
    await db.create_all(Base.metadata)
    yield
    await db.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def unit(sqlrecord_transaction):
    # A unit of work a fixture holds open while the test runs (in another task).
    async with db.transaction() as session:
        await Account.create(email="fixture@example.com")
        yield session
"""

PLUGIN_TESTS = """
import pytest

from conftest import Account, db

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_starts_empty(sqlrecord_transaction, run):
    assert await Account.count() == 0
    await Account.create(email="kim@example.com")
    async with db.transaction():
        await Account.create(email="lee@example.com")
    assert await Account.count() == 2


async def test_a_unit_a_fixture_holds(unit):
    await Account.create(email="test@example.com")
    assert await Account.count() == 2
"""


async def test_the_pytest_plugin(db: Database, tmp_path: Any) -> None:
    # A user's project in pytest-asyncio's strict mode: tests and fixtures share the
    # session's loop, and each test's writes are gone before the next one.
    (tmp_path / "conftest.py").write_text(PLUGIN_CONFTEST, encoding="utf-8")
    (tmp_path / "test_accounts.py").write_text(PLUGIN_TESTS, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\nfilterwarnings = error\n",
        encoding="utf-8",
    )
    url = db.url.render_as_string(hide_password=False)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path),
        cwd=tmp_path,
        env={**os.environ, "PLUGIN_TEST_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await process.communicate())[0].decode()
    try:
        assert process.returncode == 0, output
        assert "3 passed" in output, output
        async with db.engine.connect() as connection:
            rows = await connection.execute(text("SELECT count(*) FROM plugin_accounts"))
            assert rows.scalar_one() == 0
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP TABLE IF EXISTS plugin_accounts"))
