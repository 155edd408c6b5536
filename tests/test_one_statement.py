"""How a write is wrapped, seen from the database: its statements and its transaction.

An own session's one-row write is the ORM's flush run in autocommit on every database
(one statement, a transaction by itself); any write that could be two
statements keeps its transaction, so a failure in the second statement undoes the
first; ``Database(fast_paths=False)`` keeps the transaction for every write. A served
write (a session passed, or the ambient one) takes a SAVEPOINT on every database, so
it stands or falls alone, unless its error or its lost connection ends the whole
transaction: then the unit goes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, inspect, select, text
from sqlalchemy.orm import Session

from sqlrecord import Database
from sqlrecord._internals import released_threads_ended
from sqlrecord._plan import Plan, Route, Savepoint, Transaction
from sqlrecord._sqlite_connection import DeferringConnection, run_statement
from sqlrecord.exceptions import (
    DatabaseUnavailableError,
    DuplicateKeyError,
    SQLRecordError,
    StaleObjectError,
    TransactionAbortedError,
)

from .helpers import (
    StatementLog,
    count_rows,
    engine_listener,
    fetch_column,
    sqlite_file_database,
)
from .models import Animal, Dog, Invoice, Note, Oddity, Post, Reading, User

WRITES = ("INSERT", "UPDATE", "DELETE")


def _open_transaction(connection: Any) -> bool:
    """Whether the database has a transaction open on this connection right now."""
    driver = connection.connection.driver_connection
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return _postgres_in_transaction(driver)
    if dialect == "mysql":
        # aiomysql's (and asyncmy's) status flag is not refreshed by a statement that returns rows.
        return bool(connection.exec_driver_sql("SELECT @@in_transaction").scalar())
    return bool(driver._connection.in_transaction)  # aiosqlite's sqlite3 connection


def _postgres_in_transaction(driver: Any) -> bool:
    if hasattr(driver, "is_in_transaction"):  # asyncpg
        return bool(driver.is_in_transaction())
    return bool(driver.info.transaction_status.name != "IDLE")  # psycopg


@contextmanager
def writes_seen(db: Database) -> Iterator[list[tuple[str, bool]]]:
    """Each INSERT/UPDATE/DELETE sent, with whether a transaction was open after it."""
    seen: list[tuple[str, bool]] = []

    def after(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.split()[0].upper()
        if verb in WRITES:
            seen.append((verb, _open_transaction(connection)))

    with engine_listener(db, "after_cursor_execute", after):
        yield seen


def verbs_of(log: StatementLog) -> list[str]:
    """The statements logged, by their first words (``ROLLBACK TO`` kept apart from
    ``ROLLBACK``)."""
    verbs = []
    for statement in log.statements:
        words = statement.split()
        first = words[0].upper()
        if first == "ROLLBACK" and len(words) > 1 and words[1].upper() == "TO":
            first = "ROLLBACK TO"
        verbs.append(first)
    return verbs


def autocommits(db: Database) -> bool:
    # True on every database, MySQL/MariaDB through their pool of autocommit connections;
    # Database(autocommit_pool=False) there keeps every write's transaction.
    return db._autocommit_is_free


@contextmanager
def plans_logged(caplog: pytest.LogCaptureFixture, *models: type[Any]) -> Iterator[list[Plan]]:
    """The plans of the calls on ``models`` made in the block, from the ``sqlrecord.plan``
    logger (a server another test left running in this process logs its own)."""
    plans: list[Plan] = []
    names = {model.__name__ for model in models}
    with caplog.at_level(logging.DEBUG, logger="sqlrecord.plan"):
        first = len(caplog.records)
        yield plans
        logged = (record.plan for record in caplog.records[first:] if hasattr(record, "plan"))
        plans.extend(plan for plan in logged if plan.model in names)


# -- the plan is the route taken -----------------------------------------------------


async def test_the_plan_logged_is_the_route_taken(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # What the planner logs, checked against what the database saw: no transaction
    # left open after an autocommit INSERT, one open after the others, a SAVEPOINT
    # for a served write, and no SELECT for an identity-map hit.
    free = autocommits(db)
    with (
        plans_logged(caplog, Note, Dog) as plans,
        writes_seen(db) as seen,
        StatementLog(db) as log,
    ):
        await Note.create(text="alone", code="n1")
        await Dog.create(name="Rex", licence="L-1")
        async with db.transaction():
            served = await Note.create(text="served", code="n2")
            sent = len(log.statements)
            assert await Note.get(served.id) is served
            assert len(log.statements) == sent
    routes = [(p.operation, p.model, p.route, p.transaction, p.savepoint) for p in plans]
    assert routes == [
        ("create", "Note", Route.CONNECTION_INSERT if free else Route.CORE_INSERT,
         Transaction.AUTOCOMMIT if free else Transaction.OWN, Savepoint.NONE),
        ("create", "Dog", Route.ORM_FLUSH, Transaction.OWN, Savepoint.NONE),
        ("create", "Note", Route.CORE_INSERT, Transaction.SERVED, Savepoint.ORM),
        ("get", "Note", Route.IDENTITY_HIT, Transaction.SERVED, Savepoint.NONE),
    ]  # fmt: skip
    # The first condition that ruled out autocommit:
    first = "a row in each table" if free else "switching a connection to autocommit"
    assert first in plans[1].why
    assert seen == [("INSERT", not free), ("INSERT", True), ("INSERT", True), ("INSERT", True)]
    assert "SAVEPOINT" in verbs_of(log)


async def test_a_bulk_create_plan_is_the_route_taken(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A Core INSERT is one executemany for the batch; the objects' route flushes
    # them through the unit of work (one INSERT per row on a database that cannot
    # return the keys of an executemany).
    with plans_logged(caplog, Note) as plans, StatementLog(db) as log:
        await Note.bulk_create([{"text": "a", "code": "b1"}, {"text": "b", "code": "b2"}])
        core_statements = len(log.statements)
        made = await Note.bulk_create([{"text": "c", "code": "b3"}], return_objects=True)
    assert [plan.route for plan in plans] == [Route.CORE_INSERT, Route.ORM_FLUSH]
    assert plans[1].why == "the objects are wanted back"
    inserts = [verb for verb in verbs_of(log)[:core_statements] if verb == "INSERT"]
    assert inserts == ["INSERT"]
    assert made[0].id is not None
    assert await count_rows(db, Note) == 3


# -- an own session's one-row write, in autocommit ----------------------------------


async def test_a_one_row_write_is_a_statement_by_itself(db: Database) -> None:
    with writes_seen(db) as seen:
        note = await Note.create(text="first", code="n1")
        await note.update(text="second")
        user = await User.create(email="kim@example.com")  # relationships, none changed
        await user.update(name="Kim")
        invoice = await Invoice.create(number="I-1")  # versioned
        await invoice.update(amount=5)
        await note.delete()  # no relationship to load or cascade

    alone = not autocommits(db)
    # MariaDB's UPDATE returns nothing: BaseModel's updated_at is read back by a second
    # statement, so those updates keep their transaction.
    read_back = alone or not db.engine.dialect.update_returning
    assert seen == [
        ("INSERT", alone),
        ("UPDATE", alone),
        ("INSERT", alone),
        ("UPDATE", read_back),
        ("INSERT", alone),
        ("UPDATE", read_back),
        ("DELETE", alone),
    ]
    assert await count_rows(db, Note) == 0
    assert await fetch_column(db, User, "name") == ["Kim"]
    assert (await Invoice.get(invoice.id)).amount == 5  # type: ignore[union-attr]
    assert invoice.version == 2
    assert user.updated_at >= user.created_at  # read back in the same statement


async def test_writes_that_may_be_two_statements_keep_their_transaction(db: Database) -> None:
    author = await User.create(email="author@example.com")
    post = await Post.create(title="moved", author_id=author.id)
    with writes_seen(db) as seen:
        parent = await User.create(email="parent@example.com", posts=[Post(title="child")])
        await Dog.create(name="Rex", licence="L-1")  # a row in each of two tables
        await post.update(author=parent)  # a relationship changed
        await author.delete()  # loads its posts to cascade
    assert seen
    assert all(open_after for _verb, open_after in seen), seen


async def test_a_failed_second_statement_undoes_the_first(db: Database) -> None:
    # Dog's INSERT goes to test_animals, then test_dogs; the second is refused.
    await Dog.create(name="Rex", licence="L-1")
    with pytest.raises(DuplicateKeyError):
        await Dog.create(name="Fido", licence="L-1")
    assert await fetch_column(db, Animal, "name") == ["Rex"]
    # New children refused after their parent's INSERT (the two share an id):
    # the parent does not stay either.
    children = [Post(title="a", id=900001), Post(title="b", id=900001)]
    with pytest.raises(DuplicateKeyError):
        await User.create(email="parent@example.com", posts=children)
    assert await count_rows(db, User, email="parent@example.com") == 0
    assert await count_rows(db, Post) == 0


@pytest.mark.parametrize("hook", ["mapper", "session"])
async def test_a_hook_of_the_users_keeps_the_transaction(db: Database, hook: str) -> None:
    # The hook writes a second row in the same transaction; when it is refused,
    # the Note's INSERT must go too (in autocommit it would stay behind).
    def audit(_mapper: Any, connection: Any, target: Note) -> None:
        connection.execute(insert(Note.__table__).values(text="audit", code=target.code))

    def audit_flush(session: Session, _context: Any) -> None:
        for each in session.new:
            session.connection().execute(
                insert(Note.__table__).values(text="audit", code=each.code)
            )

    if hook == "mapper":
        event.listen(Note, "after_insert", audit)
    else:
        event.listen(Session, "after_flush", audit_flush)
    try:
        with writes_seen(db) as seen, pytest.raises(DuplicateKeyError):
            await Note.create(text="kept?", code="same")  # the audit row clashes
    finally:
        if hook == "mapper":
            event.remove(Note, "after_insert", audit)
        else:
            event.remove(Session, "after_flush", audit_flush)
    assert seen[0] == ("INSERT", True)
    assert await count_rows(db, Note) == 0


async def test_a_changed_object_linked_to_the_written_one_is_written_too(db: Database) -> None:
    author = await User.create(email="kim@example.com")
    await Post.create(title="draft", author_id=author.id)
    loaded = await User.filter_by(id=author.id).load("posts").first()
    assert loaded is not None
    loaded.posts[0].title = "final"  # a change the save below must carry
    with writes_seen(db) as seen:
        await loaded.update(name="Kim")
    # Two rows, so two statements: one transaction around both.
    assert sorted(seen) == [("UPDATE", True), ("UPDATE", True)]
    assert await fetch_column(db, Post, "title") == ["final"]
    assert await fetch_column(db, User, "name") == ["Kim"]


async def test_the_one_row_write_is_the_orms_flush(db: Database) -> None:
    # In autocommit or not, the session's object-lifecycle events see each object
    # as any flush or load would show it (these hooks write nothing, so they leave
    # the one-statement proof alone).
    events: list[tuple[str, Any]] = []
    names = ("pending_to_persistent", "detached_to_persistent", "persistent_to_deleted")
    listeners = {
        name: (lambda _s, obj, _name=name: events.append((_name, obj)))
        for name in (*names, "loaded_as_persistent")
    }
    for name, listener in listeners.items():
        event.listen(Session, name, listener)
    try:
        with writes_seen(db) as seen:
            note = await Note.create(text="a", code="n1")
            await note.update(text="b")
            found = await Note.get(note.id)
            await note.delete()
            async with db.transaction():
                served = await Note.create(text="c", code="n2")
    finally:
        for name, listener in listeners.items():
            event.remove(Session, name, listener)
    # Session events are process-wide: count only this test's objects.
    ours = [(name, obj) for name, obj in events if obj in (note, found, served)]
    assert ours == [
        ("pending_to_persistent", note),
        ("detached_to_persistent", note),
        ("loaded_as_persistent", found),
        ("detached_to_persistent", note),
        ("persistent_to_deleted", note),
        ("pending_to_persistent", served),
    ]
    alone = not autocommits(db)
    assert seen == [("INSERT", alone), ("UPDATE", alone), ("DELETE", alone), ("INSERT", True)]
    assert await fetch_column(db, Note, "text") == ["c"]


async def test_a_refused_one_row_write_changes_nothing(db: Database) -> None:
    await Note.create(text="taken", code="n1")
    mine = await Note.create(text="mine", code="n2")
    with pytest.raises(DuplicateKeyError):
        await Note.create(text="again", code="n1")
    with pytest.raises(DuplicateKeyError):
        await mine.update(code="n1")
    assert mine.code == "n2"  # the object is as it was
    assert await fetch_column(db, Note, "code") == ["n1", "n2"]
    # The same rows, written again after the refusals, go through.
    await mine.update(code="n3")
    assert await fetch_column(db, Note, "code") == ["n1", "n3"]


async def test_a_stale_version_is_refused_in_autocommit_too(db: Database) -> None:
    invoice = await Invoice.create(number="I-1")
    other = await Invoice.get(invoice.id)
    assert other is not None
    await other.update(amount=7)
    with pytest.raises(StaleObjectError):
        await invoice.update(amount=9)
    with pytest.raises(StaleObjectError):
        await invoice.delete()  # its version is behind
    assert await fetch_column(db, Invoice, "amount") == [7]


async def test_a_one_row_update_of_a_row_gone_meanwhile_is_refused(db: Database) -> None:
    # The flush counts the rows its UPDATE matched, in autocommit as in a transaction.
    note = await Note.create(text="here", code="n1")
    await Note.filter_by(id=note.id).hard_delete()
    with writes_seen(db) as seen, pytest.raises(StaleObjectError):
        await note.update(text="changed")
    assert seen == [("UPDATE", not autocommits(db))]
    assert note.text == "here"  # put back as it was
    assert await count_rows(db, Note) == 0


async def _stored_readings(db: Database) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(select(Reading.value, Reading.unit, Reading.note))
        return [tuple(row) for row in rows]


async def test_the_reference_mode_writes_one_row_in_a_transaction(db: Database) -> None:
    # fast_paths=False: every own write is BEGIN, the statement, COMMIT. By default
    # the same write is a statement by itself where autocommit costs nothing extra.
    reference = Database(db.url.render_as_string(hide_password=False), fast_paths=False)
    try:
        with writes_seen(reference) as in_reference:
            referenced = await Reading.create(value=7, note="same")
        assert reference.checked_out() == 0  # type: ignore[attr-defined]
    finally:
        await reference.dispose()
        db.make_default()
    stored_by_reference = await _stored_readings(db)  # committed: another connection sees it
    await Reading.filter_by().hard_delete()
    with writes_seen(db) as by_default:
        fast = await Reading.create(value=7, note="same")
    assert in_reference == [("INSERT", True)]
    assert by_default == [("INSERT", not autocommits(db))]
    assert stored_by_reference == await _stored_readings(db) == [(7, "mm", "same")]
    for obj in (referenced, fast):
        state = inspect(obj)
        assert state.detached and not state.modified and obj.id is not None
        assert (obj.value, obj.unit, obj.note) == (7, "mm", "same")


async def test_one_row_writes_on_sqlite_wait_for_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without BEGIN IMMEDIATE, a one-row write in autocommit still waits its turn:
    # SQLite starts its write transaction with the statement, from no lock at all,
    # and retries that through the busy handler (what it refuses outright is a read
    # transaction asking to become a write one, which a single statement never is).
    database = await sqlite_file_database(tmp_path / "lock.db", Note, monkeypatch)

    async def holder() -> None:
        async with database.transaction():
            await Note.create(text="held", code="held")
            await asyncio.sleep(0.3)  # the writers queue up behind the lock meanwhile

    try:
        await asyncio.gather(holder(), *(Note.create(text="w", code=f"w{n}") for n in range(20)))
        assert len(await Note.filter_by().all()) == 21
        assert database.checked_out() == 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()


@contextlib.asynccontextmanager
async def _note_held(database: Database) -> AsyncIterator[None]:
    """A unit of work that has written the note coded "held" (on SQLite: that holds the
    write lock) and stays open while the block runs; it commits when the block ends."""
    holding, done = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with database.transaction():
            await Note.create(text="holder", code="held")
            holding.set()
            await done.wait()

    held = asyncio.create_task(holder())
    try:
        await holding.wait()
        yield
    finally:
        done.set()
        await held


async def test_dispose_waits_for_a_given_up_sqlite_write_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A create cancelled while it waits for the write lock waits on in its thread:
    # interrupt() does not cut a wait short. When the lock comes free, the interrupt
    # stops it before it writes. dispose() returns only once that has happened (its
    # thread has ended): nothing is written afterwards, and no thread calls back into
    # an event loop that may be closed by then.
    database = await sqlite_file_database(tmp_path / "given-up.db", Note, monkeypatch)
    async with _note_held(database):
        for number, unit in enumerate((contextlib.nullcontext(), database.transaction())):
            with pytest.raises(TimeoutError):  # an own create, then one in a unit of work
                async with asyncio.timeout(0.2), unit:
                    await Note.create(text="given up", code=f"late{number}")
        assert not await released_threads_ended(within=0)  # both wait for the lock
    await database.dispose()
    assert await released_threads_ended(within=0)
    assert await fetch_column(database, Note, "code") == ["held"]
    await database.dispose()


def test_a_statement_queued_on_a_given_up_sqlite_connection_never_starts(tmp_path: Path) -> None:
    # interrupt() stops only a statement that is running; one still queued for the
    # driver's thread when its caller gave up is refused when its turn comes.
    connection = sqlite3.connect(tmp_path / "queued.db", factory=DeferringConnection)
    connection.isolation_level = None
    try:
        run_statement(connection, "CREATE TABLE t (x)", None, False)
        connection.given_up = True
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            run_statement(connection, "INSERT INTO t VALUES (1)", None, False)
        assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        connection.close()


def _dbapi_state(dbapi_connection: Any, dialect: str) -> tuple[bool, bool]:
    """(a transaction is open, the driver adapter is in autocommit) on a pooled connection."""
    if dialect == "postgresql":
        driver = dbapi_connection.driver_connection
        return _postgres_in_transaction(driver), bool(dbapi_connection.autocommit)
    if dialect == "mysql":
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT @@in_transaction, @@autocommit")
        in_transaction, autocommit = cursor.fetchone()
        cursor.close()
        return bool(in_transaction), bool(autocommit)
    return bool(dbapi_connection.driver_connection._connection.in_transaction), False


async def test_a_refused_one_row_write_leaves_its_connection_as_it_found_it(
    db: Database,
) -> None:
    # One pooled connection, so the refused autocommit write's connection is the one
    # the next unit of work gets: it must be back out of autocommit, with nothing open
    # (on MySQL/MariaDB it is another pool's, which stays in autocommit).
    single = Database(
        db.url.render_as_string(hide_password=False),
        engine_options={"pool_size": 1, "max_overflow": 0},
    )
    dialect = single.engine.dialect.name
    checked_in: list[tuple[bool, bool]] = []

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        checked_in.append(_dbapi_state(dbapi_connection, dialect))

    event.listen(single.engine.sync_engine.pool, "checkin", on_checkin)
    try:
        with writes_seen(single) as seen:
            await Note.create(text="taken", code="n1")
            with pytest.raises(DuplicateKeyError):
                await Note.create(text="again", code="n1")
            with pytest.raises(RuntimeError):
                async with single.transaction():
                    await Note.create(text="undone", code="n2")
                    raise RuntimeError("roll the unit back")
        assert single.checked_out() == 0  # type: ignore[attr-defined]
    finally:
        await single.dispose()
        db.make_default()
    # A refused statement has no after_cursor_execute: n1's INSERT, then the unit's.
    assert seen == [("INSERT", not autocommits(db)), ("INSERT", True)]
    if dialect == "mysql":
        # The own creates' connections belong to the pool that stays in autocommit; the
        # unit's is the main pool's, out of autocommit. None has a transaction open.
        assert checked_in == [(False, True), (False, True), (False, False)]
    else:
        assert checked_in and all(state == (False, False) for state in checked_in)
    assert await fetch_column(db, Note, "code") == ["n1"]


async def test_a_one_row_write_cancelled_while_it_waits_holds_nothing(db: Database) -> None:
    # A unit of work holds what the INSERT needs (the row of its unique key; on
    # SQLite, the write lock), so the own INSERT is mid-statement, waiting, when its
    # caller gives up.
    async with _note_held(db):
        started = asyncio.get_running_loop().time()
        with StatementLog(db) as log, writes_seen(db) as seen, pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await Note.create(text="waiter", code="held")
        assert "INSERT" in verbs_of(log) and seen == []  # sent, and given up unfinished
        assert db.checked_out() == 1  # type: ignore[attr-defined]  # the holder's
        with pytest.raises(TimeoutError):  # the same, in a unit of work of its own
            async with asyncio.timeout(0.3), db.transaction():
                await Note.create(text="unit waiter", code="held")
        assert db.checked_out() == 1  # type: ignore[attr-defined]
        # Each caller got control back at once, not after SQLite's 5 s busy timeout
        # (closing a connection used to wait for the statement it had given up on).
        assert asyncio.get_running_loop().time() - started < 5
    # On SQLite the given-up statements still wait in their threads for the lock the
    # holder just let go, and then stop (or fail on the holder's key): dispose() waits
    # for them, so that nothing of them lands in a later test.
    await db.dispose()
    assert db.checked_out() == 0  # type: ignore[attr-defined]
    async with asyncio.timeout(5):  # nothing of the cancelled statement is in the way
        await Note.create(text="after", code="after")
    assert await fetch_column(db, Note, "text") == ["after", "holder"]


async def test_escaped_names_and_processed_types_round_trip(db: Database) -> None:
    # Column names SQLAlchemy must escape in bound parameters, and types with bind
    # and result processing, through an own write (autocommit) and a served one.
    seen = dt.datetime(2024, 2, 29, 13, 45, 7)  # whole seconds: MySQL DATETIME keeps no more
    values: dict[str, Any] = {
        "full_name": "Kim",
        "rate": decimal.Decimal("12.50"),
        "seen_at": seen,
    }
    own = await Oddity.create(**values)
    async with db.transaction():
        served = await Oddity.create(**values)
    for obj in (own, served):
        assert {key: getattr(obj, key) for key in values} == values and obj.active is True
    found = await Oddity.get(own.id)
    assert found is not None
    assert {key: getattr(found, key) for key in values} == values and found.active is True
    await found.update(full_name="Lee", rate=decimal.Decimal("0.05"), active=False)
    await served.delete()
    assert await Oddity.filter_by().values("full_name", "rate", "seen_at", "active") == [
        {"full_name": "Lee", "rate": decimal.Decimal("0.05"), "seen_at": seen, "active": False}
    ]


# -- create() in a served session ------------------------------------------------


async def test_a_served_create_joins_the_session_as_a_flush_would(db: Database) -> None:
    with StatementLog(db) as log:
        async with db.sessionmaker() as session:
            user = await User.using(session).create(email="kim@example.com", name="Kim")
            state = inspect(user)
            assert state.persistent and not state.modified and user in session
            assert user.id is not None and user.updated_at is not None
            assert await User.using(session).get(user.id) is user  # the identity map's
            await user.update(name="Kim J.")  # later changes flush as usual
            await session.rollback()
            # Rolled back: the object is transient again, its values still readable.
            assert inspect(user).transient
            assert (user.email, user.name) == ("kim@example.com", "Kim J.")
            kept = await User.using(session).create(email="lee@example.com")
            await session.commit()
    verbs = [verb for verb in verbs_of(log) if verb in ("SAVEPOINT", *WRITES)]
    assert verbs == ["SAVEPOINT", "INSERT", "SAVEPOINT", "UPDATE", "SAVEPOINT", "INSERT"]
    assert await fetch_column(db, User, "email") == ["lee@example.com"]
    assert inspect(kept).detached


async def test_served_creates_in_a_unit_of_work_each_stand_or_fall_alone(db: Database) -> None:
    # Every database, SQLite and MariaDB included, gets a SAVEPOINT per write: the
    # refused INSERT is rolled back to it, and the unit goes on.
    with StatementLog(db) as log:
        async with db.transaction():
            first = await Note.create(text="a", code="n1")
            with pytest.raises(DuplicateKeyError):
                await Note.create(text="b", code="n1")
            await Note.create(text="c", code="n2")
            # Assigned by the call, so inside its SAVEPOINT (a change made before the
            # call is flushed by begin_nested(), ahead of the SAVEPOINT).
            await first.update(text="a2")
    verbs = [verb for verb in verbs_of(log) if verb in ("SAVEPOINT", "ROLLBACK TO", *WRITES)]
    assert verbs == [
        *("SAVEPOINT", "INSERT"),
        *("SAVEPOINT", "INSERT", "ROLLBACK TO"),
        *("SAVEPOINT", "INSERT"),
        *("SAVEPOINT", "UPDATE"),
    ]
    assert await fetch_column(db, Note, "text") == ["a2", "c"]
    assert db.checked_out() == 0  # type: ignore[attr-defined]


# Triggers that refuse an INSERT: 'refused' with an error that ends the statement only
# (the SAVEPOINT takes it); on SQLite 'ends' with RAISE(ROLLBACK), which ends the
# whole transaction, its SAVEPOINTs with it.
_REFUSING_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER notes_refuse BEFORE INSERT ON {table} WHEN NEW.code = 'refused' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END",
        "CREATE TRIGGER notes_end BEFORE INSERT ON {table} WHEN NEW.code = 'ends' "
        "BEGIN SELECT RAISE(ROLLBACK, 'refused by a trigger'); END",
    ],
    "mysql": [
        "CREATE TRIGGER notes_refuse BEFORE INSERT ON {table} FOR EACH ROW "
        "BEGIN IF NEW.code = 'refused' THEN "
        "SIGNAL SQLSTATE '23000' SET MYSQL_ERRNO = 1048, MESSAGE_TEXT = 'refused'; "
        "END IF; END"
    ],
    "postgresql": [
        "CREATE FUNCTION notes_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.code = 'refused' THEN RAISE EXCEPTION 'refused by a trigger' "
        "USING ERRCODE = 'check_violation'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER notes_refuse BEFORE INSERT ON {table} FOR EACH ROW "
        "EXECUTE FUNCTION notes_refuse()",
    ],
}
_DROP_REFUSING_TRIGGERS = {
    "sqlite": ["DROP TRIGGER IF EXISTS notes_refuse", "DROP TRIGGER IF EXISTS notes_end"],
    "mysql": ["DROP TRIGGER IF EXISTS notes_refuse"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS notes_refuse ON {table}",
        "DROP FUNCTION IF EXISTS notes_refuse()",
    ],
}


async def test_a_served_create_whose_error_ends_the_transaction_takes_the_unit_with_it(
    db: Database,
) -> None:
    dialect = db.engine.dialect.name
    table = Note.__tablename__
    async with db.engine.begin() as connection:
        for statement in _REFUSING_TRIGGERS[dialect]:
            await connection.exec_driver_sql(statement.format(table=table))
    try:
        # A refusal of the statement only: the write's SAVEPOINT takes it, the unit
        # goes on and commits.
        async with db.transaction():
            await Note.create(text="a", code="n1")
            with pytest.raises(SQLRecordError):
                await Note.create(text="b", code="refused")
            await Note.create(text="c", code="n2")
        assert await fetch_column(db, Note, "code") == ["n1", "n2"]
        if dialect == "sqlite":
            # The database rolled the whole transaction back, SAVEPOINT and all: the
            # unit must not go on as if only this write had failed, nor commit the
            # writes after it on their own.
            with pytest.raises(TransactionAbortedError, match="rolled back"):
                async with db.transaction():
                    await Note.create(text="d", code="n3")
                    with pytest.raises(SQLRecordError):
                        await Note.create(text="e", code="ends")
                    with pytest.raises(TransactionAbortedError, match="run the unit again"):
                        await Note.create(text="f", code="n4")
            # A request's unit of work whose route caught the error: no COMMIT either.
            request_unit = contextlib.asynccontextmanager(db.committing_session)
            with pytest.raises(TransactionAbortedError, match="nothing of it was kept"):
                async with request_unit():
                    await Note.create(text="d", code="n3")
                    with pytest.raises(SQLRecordError):
                        await Note.create(text="e", code="ends")
            assert await fetch_column(db, Note, "code") == ["n1", "n2"]
    finally:
        async with db.engine.begin() as connection:
            for statement in _DROP_REFUSING_TRIGGERS[dialect]:
                await connection.exec_driver_sql(statement.format(table=table))
    assert db.checked_out() == 0  # type: ignore[attr-defined]


async def test_a_served_create_that_loses_a_deadlock(server_db: Database) -> None:
    # The unit holds row n1 and waits for row x, which another transaction holds
    # while it waits for n1. The unit is made the victim (InnoDB rolls back the
    # transaction that changed fewer rows; PostgreSQL the one whose wait began
    # first). InnoDB rolls the victim's whole transaction back, SAVEPOINTs and all:
    # the unit goes with it. PostgreSQL ends only the write's SAVEPOINT: the unit
    # goes on.
    db = server_db
    dialect = db.engine.dialect.name
    async with db.engine.connect() as other:
        await other.begin()
        await other.execute(insert(Note), [{"text": "heavy", "code": f"h{n}"} for n in range(20)])
        await other.execute(insert(Note).values(text="other", code="x"))

        async def other_wants_n1() -> None:
            await asyncio.sleep(0.3)  # after the unit's wait for x began
            with contextlib.suppress(Exception):  # it gets n1 or is refused; either way
                await other.execute(insert(Note).values(text="other", code="n1"))
            await other.rollback()  # then it lets go, so nothing of the unit waits on it

        wanting = asyncio.create_task(other_wants_n1())
        try:
            if dialect == "mysql":
                with pytest.raises(TransactionAbortedError, match="rolled back"):
                    async with db.transaction():
                        await Note.create(text="a", code="n1")
                        with pytest.raises(SQLRecordError):
                            await Note.create(text="b", code="x")
                        with pytest.raises(TransactionAbortedError):
                            await Note.create(text="c", code="n2")
            else:
                async with db.transaction():
                    await Note.create(text="a", code="n1")
                    with pytest.raises(SQLRecordError):
                        await Note.create(text="b", code="x")
                    await Note.create(text="c", code="n2")
        finally:
            await wanting
    expected = [] if dialect == "mysql" else ["n1", "n2"]
    assert await fetch_column(db, Note, "code") == expected
    assert db.checked_out() == 0  # type: ignore[attr-defined]


_SLOW_TRIGGERS = {
    "mysql": [
        "CREATE TRIGGER notes_slow BEFORE INSERT ON {table} FOR EACH ROW "
        "BEGIN IF NEW.code = 'slow' THEN DO SLEEP(10); END IF; END"
    ],
    "postgresql": [
        "CREATE FUNCTION notes_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.code = 'slow' THEN PERFORM pg_sleep(10); END IF; RETURN NEW; END $$",
        "CREATE TRIGGER notes_slow BEFORE INSERT ON {table} FOR EACH ROW "
        "EXECUTE FUNCTION notes_slow()",
    ],
}
_DROP_SLOW_TRIGGERS = {
    "mysql": ["DROP TRIGGER IF EXISTS notes_slow"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS notes_slow ON {table}",
        "DROP FUNCTION IF EXISTS notes_slow()",
    ],
}
_WHO_AM_I = {"mysql": "SELECT CONNECTION_ID()", "postgresql": "SELECT pg_backend_pid()"}
_KILL = {"mysql": "KILL {id}", "postgresql": "SELECT pg_terminate_backend({id})"}


async def test_a_served_create_whose_connection_dies_takes_the_unit_with_it(
    server_db: Database,
) -> None:
    # The server drops the connection while the INSERT runs: the transaction is gone
    # with it, the write's SAVEPOINT too. The write raises, and the unit must not
    # carry on, nor commit what it does afterwards on a new connection.
    db = server_db
    dialect = db.engine.dialect.name
    table = Note.__tablename__
    async with db.engine.begin() as connection:
        for statement in _SLOW_TRIGGERS[dialect]:
            await connection.exec_driver_sql(statement.format(table=table))

    async def kill_soon(victim: int) -> None:
        await asyncio.sleep(0.5)
        async with db.engine.connect() as killer:
            await killer.exec_driver_sql(_KILL[dialect].format(id=victim))

    try:
        with pytest.raises(TransactionAbortedError, match="rolled back"):
            async with db.transaction() as session:
                await Note.create(text="a", code="n1")
                victim = (await session.execute(text(_WHO_AM_I[dialect]))).scalar_one()
                killing = asyncio.create_task(kill_soon(victim))
                with pytest.raises(DatabaseUnavailableError):
                    await Note.create(text="b", code="slow")
                await killing
                with pytest.raises(TransactionAbortedError, match="run the unit again"):
                    await Note.create(text="c", code="n2")
        assert await fetch_column(db, Note, "code") == []
    finally:
        async with db.engine.begin() as connection:
            for statement in _DROP_SLOW_TRIGGERS[dialect]:
                await connection.exec_driver_sql(statement.format(table=table))
    assert db.checked_out() == 0  # type: ignore[attr-defined]
