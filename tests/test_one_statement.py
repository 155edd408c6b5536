"""An own session's one-row write runs in autocommit, sent past the ORM's unit of work;
any write that could be two statements keeps its transaction and the ORM's flush, so a
failure in the second statement undoes the first."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, inspect, text
from sqlalchemy.orm import Session

from sqlrecord import Database, _dbapi_served, _scope, crud
from sqlrecord import query as query_module
from sqlrecord._direct_read import reads_directly
from sqlrecord.exceptions import (
    DatabaseUnavailableError,
    DuplicateKeyError,
    NotFoundError,
    NotLoadedError,
    SQLRecordError,
    StaleObjectError,
    TransactionAbortedError,
)
from sqlrecord.introspection import model_info

from .helpers import (
    StatementLog,
    count_rows,
    engine_listener,
    fetch_column,
    sqlite_file_database,
)
from .models import (
    Animal,
    Article,
    Dog,
    Invoice,
    Membership,
    Note,
    Oddity,
    Post,
    Reading,
    User,
)

WRITES = ("INSERT", "UPDATE", "DELETE")


def _open_transaction(connection: Any) -> bool:
    """Whether the database has a transaction open on this connection right now."""
    driver = connection.connection.driver_connection
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return bool(driver.is_in_transaction())  # asyncpg
    if dialect == "mysql":
        # aiomysql's status flag is not refreshed by a statement that returns rows.
        return bool(connection.exec_driver_sql("SELECT @@in_transaction").scalar())
    return bool(driver._connection.in_transaction)  # aiosqlite's sqlite3 connection


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


def autocommits(db: Database) -> bool:
    # MySQL/MariaDB would need a round trip to switch autocommit on and one to
    # switch it off: there every write keeps its transaction.
    return db.engine.dialect.name in ("sqlite", "postgresql")


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
    assert seen == [
        ("INSERT", alone),
        ("UPDATE", alone),
        ("INSERT", alone),
        ("UPDATE", alone),
        ("INSERT", alone),
        ("UPDATE", alone),
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


# -- one-row writes sent past the unit of work (_direct_write.py) ----------


@pytest.fixture
def direct_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The direct writes made during the test, by kind."""
    made: list[str] = []
    for kind in ("insert", "update", "delete"):
        original = getattr(_scope, f"{kind}_row")

        async def spy(
            *args: Any, _kind: str = kind, _original: Any = original, **options: Any
        ) -> None:
            made.append(_kind)
            await _original(*args, **options)

        monkeypatch.setattr(_scope, f"{kind}_row", spy)
    return made


@contextmanager
def session_hook(name: str) -> Iterator[list[tuple[Any, ...]]]:
    """A session hook of no consequence (sqlrecord then takes the ORM's own path for a
    hook that could see the difference); the calls it got."""
    calls: list[tuple[Any, ...]] = []

    def record(*args: Any) -> None:
        calls.append(args)

    event.listen(Session, name, record)
    try:
        yield calls
    finally:
        event.remove(Session, name, record)


def _column_values(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    return {
        prop.key: state.dict[prop.key]
        for prop in state.mapper.column_attrs
        if prop.key in state.dict
    }


SKIPPED_IN_COMPARISON = {"id", "created_at", "updated_at", "email", "code", "number", "member"}


@pytest.mark.parametrize(
    "build",
    [
        lambda n: User(email=f"u{n}@example.com", name="Kim"),
        lambda n: Note(text="t", code=f"c{n}"),
        lambda n: Reading(value=7),  # a column under another name, a Python default
        lambda n: Invoice(number=f"I-{n}"),  # a version counter
        lambda n: Membership(group="g", member=n),  # a composite key, all given
    ],
    ids=["user", "note", "reading", "invoice", "membership"],
)
async def test_a_direct_insert_leaves_the_object_as_a_flush_would(
    db: Database, build: Any, direct_writes: list[str]
) -> None:
    direct = await build(1).save()
    with session_hook("before_flush"):  # the ORM's flush
        flushed = await build(2).save()
    assert direct_writes == ["insert"]  # the first only
    for obj in (direct, flushed):
        state = inspect(obj)
        assert state.detached and not state.modified and not state.committed_state
        assert state.key == state.mapper.identity_key_from_instance(obj)
    shown, expected = _column_values(direct), _column_values(flushed)
    assert set(expected) <= set(shown)
    for key in set(expected) - SKIPPED_IN_COMPARISON:
        assert shown[key] == expected[key], key
    # Relationships stay unloaded, and say so.
    if isinstance(direct, User):
        with pytest.raises(NotLoadedError):
            _ = direct.posts
        assert (await User.get(direct.id)).name == "Kim"  # type: ignore[union-attr]


async def test_a_direct_update_leaves_the_object_as_a_flush_would(
    db: Database, direct_writes: list[str]
) -> None:
    direct, flushed = [await Invoice.create(number=f"I-{n}", amount=1) for n in (1, 2)]
    direct_before, flushed_before = direct.updated_at, flushed.updated_at
    direct_writes.clear()
    await direct.update(amount=5)
    with session_hook("before_flush"):  # the ORM's flush
        await flushed.update(amount=5)
    # MariaDB has no UPDATE … RETURNING to read updated_at back: the ORM writes there.
    assert direct_writes == (["update"] if db.engine.dialect.update_returning else [])
    for obj, before in ((direct, direct_before), (flushed, flushed_before)):
        state = inspect(obj)
        assert state.detached and not state.modified and not state.committed_state
        assert (obj.amount, obj.version) == (5, 2)
        assert obj.updated_at >= before
    stored = {row.number: (row.amount, row.version) for row in await Invoice.filter_by().all()}
    assert stored == {"I-1": (5, 2), "I-2": (5, 2)}


async def test_a_changed_object_linked_to_the_written_one_is_written_too(db: Database) -> None:
    author = await User.create(email="kim@example.com")
    await Post.create(title="draft", author_id=author.id)
    loaded = await User.filter_by(id=author.id).load("posts").first()
    assert loaded is not None
    loaded.posts[0].title = "final"  # a change the save below must carry
    await loaded.update(name="Kim")
    assert await fetch_column(db, Post, "title") == ["final"]
    assert await fetch_column(db, User, "name") == ["Kim"]


async def test_a_direct_write_of_a_row_gone_meanwhile_is_refused(db: Database) -> None:
    note = await Note.create(text="here", code="n1")
    await Note.filter_by(id=note.id).hard_delete()
    with pytest.raises(StaleObjectError):  # as from the ORM's flush
        await note.update(text="changed")
    assert note.text == "here"
    assert await count_rows(db, Note) == 0


@pytest.mark.parametrize("model", [Note, Invoice])
async def test_a_direct_delete_leaves_the_object_as_a_flush_would(
    db: Database, model: Any, direct_writes: list[str]
) -> None:
    fields = {"text": "t", "code": "c{}"} if model is Note else {"number": "I-{}"}
    direct, flushed = [
        await model.create(**{key: value.format(n) for key, value in fields.items()})
        for n in (1, 2)
    ]
    direct_writes.clear()
    await direct.delete()
    with session_hook("before_flush"):  # the ORM's flush
        await flushed.delete()
    assert direct_writes == ["delete"]
    for obj in (direct, flushed):
        state = inspect(obj)
        assert state.was_deleted and state.detached
        with pytest.raises(NotFoundError, match="deleted already"):
            await obj.delete()
        with pytest.raises(NotFoundError, match="was deleted"):
            await obj.save()
    assert await count_rows(db, model) == 0


async def test_a_direct_delete_of_a_row_gone_meanwhile_is_refused(db: Database) -> None:
    note = await Note.create(text="here", code="n1")
    await Note.filter_by(id=note.id).hard_delete()
    with pytest.raises(NotFoundError, match="no longer exists"):
        await note.delete()
    assert not inspect(note).was_deleted  # refused, not marked


# -- get(pk) as one SELECT (_direct_read.py) ----------------------------------


# The n-th row of each plain model the direct reads are compared on.
_MAKERS: dict[Any, Any] = {
    User: lambda n: User.create(email=f"u{n}@example.com", name=f"U{n}", age=30 + n),
    Note: lambda n: Note.create(text=f"t{n}", code=f"c{n}"),
    Reading: lambda n: Reading.create(value=n),
    Invoice: lambda n: Invoice.create(number=f"I-{n}", amount=n),
    Membership: lambda n: Membership.create(group="g", member=n),
}


@pytest.fixture
def direct_reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The keys read directly during the test."""
    read: list[Any] = []
    original = crud.read_row

    async def spy(bind: Any, mapper: Any, key: Any) -> Any:
        read.append(key)
        return await original(bind, mapper, key)

    monkeypatch.setattr(crud, "read_row", spy)
    return read


@pytest.mark.parametrize("model", [User, Note, Reading, Invoice, Membership])
async def test_a_direct_get_returns_the_object_a_load_would(
    db: Database, model: Any, direct_reads: list[Any]
) -> None:
    saved = await _MAKERS[model](1)
    key = inspect(saved).key[1]
    direct = await model.get(key if len(key) > 1 else key[0])
    with session_hook("do_orm_execute"):  # the ORM's load
        loaded = await model.get(key if len(key) > 1 else key[0])
    assert direct_reads == [key]
    assert _column_values(direct) == _column_values(loaded) == _column_values(saved)
    for obj in (direct, loaded):
        state = inspect(obj)
        assert state.detached and not state.modified and state.key == inspect(saved).key
    if model is User:
        with pytest.raises(NotLoadedError):
            _ = direct.posts
    if len(key) == 1:
        assert await model.get(-1) is None


async def test_a_get_that_loads_more_than_columns_keeps_the_orm(
    db: Database, direct_reads: list[Any]
) -> None:
    dog = await Dog.create(name="Rex", licence="L-1")
    assert isinstance(await Animal.get(dog.id), Dog)  # polymorphic: comes back as a Dog
    assert (await Dog.get(dog.id)).licence == "L-1"  # type: ignore[union-attr]  # two tables
    note = await Note.create(text="t", code="c1")

    def on_load(_target: Any, _context: Any) -> None:
        pass

    event.listen(Note, "load", on_load)
    try:
        assert (await Note.get(note.id)).text == "t"  # type: ignore[union-attr]
    finally:
        event.remove(Note, "load", on_load)
    assert direct_reads == []
    assert not reads_directly(Session(), inspect(Animal))
    assert reads_directly(Session(), inspect(Note))


async def test_a_direct_get_skips_soft_deleted_rows_and_served_sessions(
    db: Database, direct_reads: list[Any]
) -> None:
    article = await Article.create(slug="a")
    await article.delete()  # soft
    assert await Article.get(article.id) is None
    assert (await Article.get(article.id, with_deleted=True)).slug == "a"  # type: ignore[union-attr]
    async with db.transaction():
        assert (await Article.get(article.id, with_deleted=True)) is not None
    assert len(direct_reads) == 2  # the two own-session reads


# -- all() and first() as one SELECT of rows (_direct_read.rows_as_objects) -------


@pytest.fixture
def direct_lists(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each direct list read of the test built objects from."""
    built: list[int] = []
    original = query_module.rows_as_objects

    def spy(mapper: Any, rows: Any) -> list[Any]:
        built.append(len(rows))
        return original(mapper, rows)

    monkeypatch.setattr(query_module, "rows_as_objects", spy)
    return built


@pytest.mark.parametrize("model", [User, Note, Reading, Invoice, Membership])
async def test_a_direct_list_returns_the_objects_a_load_would(
    db: Database, model: Any, direct_lists: list[int]
) -> None:
    saved = [await _MAKERS[model](n) for n in range(3)]
    order = [f"-{name}" for name in model_info(model).primary_key_names]
    direct = await model.filter_by().order_by(*order).all()
    first = await model.filter_by().order_by(*order).first()
    with session_hook("do_orm_execute"):  # the ORM's load
        loaded = await model.filter_by().order_by(*order).all()
        loaded_first = await model.filter_by().order_by(*order).first()
    assert direct_lists == [3, 1]
    newest_first = saved[::-1]
    assert [_column_values(o) for o in direct] == [_column_values(o) for o in loaded]
    assert [_column_values(o) for o in direct] == [_column_values(o) for o in newest_first]
    assert _column_values(first) == _column_values(loaded_first) == _column_values(saved[-1])
    for obj, twin in zip([*direct, first], [*loaded, loaded_first], strict=True):
        state = inspect(obj)
        assert state.detached and not state.modified and state.key == inspect(twin).key
    if model is User:
        with pytest.raises(NotLoadedError):
            _ = direct[0].posts
        # A direct object is changed and saved like any detached one.
        direct[0].name = "Renamed"
        await direct[0].save()
        assert (await User.get_or_fail(direct[0].id)).name == "Renamed"
    assert await model.filter_by().limit(0).all() == []


async def test_a_list_that_needs_more_than_rows_keeps_the_orm(
    db: Database, direct_lists: list[int]
) -> None:
    kim = await User.create(email="kim@example.com")
    await Post.create(title="p", author=kim)
    dog = await Dog.create(name="Rex", licence="L-1")
    assert [type(a) for a in await Animal.filter_by().all()] == [Dog]  # polymorphic
    assert (await Dog.filter_by(id=dog.id).first()).licence == "L-1"  # type: ignore[union-attr]
    loaded = await User.filter_by().load("posts").all()  # a loader option
    assert [post.title for post in loaded[0].posts] == ["p"]
    assert [p.title for p in await Post.order_by("author__email").all()] == ["p"]  # a join
    assert len(await User.filter_by().for_update().all()) == 1  # a locking read
    async with db.transaction():  # a served session: the identity map must see the rows
        assert (await User.filter_by().all())[0] is await User.get(kim.id)
    assert direct_lists == []


async def test_a_direct_list_skips_soft_deleted_rows(db: Database, direct_lists: list[int]) -> None:
    kept = await Article.create(slug="kept")
    gone = await Article.create(slug="gone")
    await gone.delete()  # soft
    assert [a.slug for a in await Article.filter_by().order_by("id").all()] == [kept.slug]
    everything = await Article.filter_by().with_deleted().order_by("id").all()
    assert [a.slug for a in everything] == ["kept", "gone"]
    assert direct_lists == [1, 2]


# -- create() in a served session ------------------------------------------------


@pytest.mark.parametrize("path", ["direct", "flush"])
async def test_a_served_create_joins_the_session_as_a_flush_would(
    db: Database, path: str, direct_writes: list[str]
) -> None:
    forced = session_hook("before_flush") if path == "flush" else contextlib.nullcontext()
    with forced:
        async with db.sessionmaker() as session:
            user = await User.create(session=session, email="kim@example.com", name="Kim")
            state = inspect(user)
            assert state.persistent and not state.modified and user in session
            assert user.id is not None and user.updated_at is not None
            assert await User.get(user.id, session=session) is user  # the identity map's
            await user.update(name="Kim J.")  # later changes flush as usual
            await session.rollback()
            # Rolled back: the object is transient again, its values still readable.
            assert inspect(user).transient
            assert (user.email, user.name) == ("kim@example.com", "Kim J.")
            kept = await User.create(session=session, email="lee@example.com")
            await session.commit()
    assert direct_writes == (["insert", "insert"] if path == "direct" else [])
    assert await fetch_column(db, User, "email") == ["lee@example.com"]
    assert inspect(kept).detached


async def test_served_creates_in_a_unit_of_work_each_stand_or_fall_alone(
    db: Database, direct_writes: list[str]
) -> None:
    async with db.transaction():
        first = await Note.create(text="a", code="n1")
        with pytest.raises(DuplicateKeyError):
            await Note.create(text="b", code="n1")
        await Note.create(text="c", code="n2")
        first.text = "a2"
        await first.save()
    assert direct_writes == ["insert", "insert", "insert"]  # the refused one included
    assert await fetch_column(db, Note, "text") == ["a2", "c"]


async def test_a_served_create_takes_a_savepoint_only_where_an_error_ends_the_transaction(
    db: Database, direct_writes: list[str]
) -> None:
    # SQLite and InnoDB undo a refused statement and keep the transaction: a lone
    # INSERT needs no SAVEPOINT there. PostgreSQL ends the transaction at any
    # error, so there each write keeps its SAVEPOINT.
    with StatementLog(db) as log:
        async with db.transaction():
            await Note.create(text="a", code="n1")
            with pytest.raises(DuplicateKeyError):
                await Note.create(text="b", code="n1")
            await Note.create(text="c", code="n2")
    verbs = [statement.split()[0].upper() for statement in log.statements]
    savepoints = 3 if db.engine.dialect.name == "postgresql" else 0
    assert verbs.count("SAVEPOINT") == savepoints and verbs.count("INSERT") == 3
    assert direct_writes == ["insert"] * 3
    assert await fetch_column(db, Note, "code") == ["n1", "n2"]
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


# A refusal that ends the whole transaction: SQLite's RAISE(ROLLBACK) ends it; InnoDB's
# deadlock does, which a test cannot make on demand, so MySQL's stand-in is a trigger
# that reports one (SQLSTATE 40001, error 1213); PostgreSQL's RAISE ends it as any error
# does (the SAVEPOINT is what lets the unit go on there).
_ENDING_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER notes_refuse BEFORE INSERT ON {table} WHEN NEW.code = 'refused' "
        "BEGIN SELECT RAISE(ROLLBACK, 'refused by a trigger'); END"
    ],
    "mysql": [
        "CREATE TRIGGER notes_refuse BEFORE INSERT ON {table} FOR EACH ROW "
        "BEGIN IF NEW.code = 'refused' THEN "
        "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'refused'; "
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
_DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER IF EXISTS notes_refuse"],
    "mysql": ["DROP TRIGGER IF EXISTS notes_refuse"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS notes_refuse ON {table}",
        "DROP FUNCTION IF EXISTS notes_refuse()",
    ],
}


async def test_a_served_create_that_ends_the_transaction_takes_the_unit_with_it(
    db: Database,
) -> None:
    dialect = db.engine.dialect.name
    async with db.engine.begin() as connection:
        for statement in _ENDING_TRIGGERS[dialect]:
            await connection.exec_driver_sql(statement.format(table=Note.__tablename__))
    try:
        if dialect == "postgresql":
            # The write's SAVEPOINT takes the refusal; the unit goes on and commits.
            async with db.transaction():
                await Note.create(text="a", code="n1")
                with pytest.raises(SQLRecordError):
                    await Note.create(text="b", code="refused")
                await Note.create(text="c", code="n2")
            assert await fetch_column(db, Note, "code") == ["n1", "n2"]
        else:
            # No SAVEPOINT, and the database rolled the whole transaction back: the
            # unit must not go on as if only this write had failed, nor commit the
            # writes after it on their own.
            with pytest.raises(TransactionAbortedError, match="rolled back"):
                async with db.transaction():
                    await Note.create(text="a", code="n1")
                    with pytest.raises(SQLRecordError):
                        await Note.create(text="b", code="refused")
                    with pytest.raises(TransactionAbortedError, match="run the unit again"):
                        await Note.create(text="c", code="n2")
            # A request's unit of work whose route caught the error: no COMMIT either.
            request_unit = contextlib.asynccontextmanager(db.committing_session)
            with pytest.raises(TransactionAbortedError, match="nothing of it was kept"):
                async with request_unit():
                    await Note.create(text="a", code="n1")
                    with pytest.raises(SQLRecordError):
                        await Note.create(text="b", code="refused")
            assert await fetch_column(db, Note, "code") == []
    finally:
        async with db.engine.begin() as connection:
            for statement in _DROP_TRIGGERS[dialect]:
                await connection.exec_driver_sql(statement.format(table=Note.__tablename__))
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_served_create_sends_its_savepoint_in_the_same_trip(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on the engine: the INSERT goes on the session's cursor, and on
    # PostgreSQL its SAVEPOINT, RELEASE or ROLLBACK TO go with it, past the ORM.
    sent: list[str] = []
    original = _dbapi_served.execute_compiled

    def spy(engine: Any, pooled: Any, compiled: Any, *args: Any, **options: Any) -> Any:
        sent.append(" ".join(compiled.sql.split()[:2]).upper())
        return original(engine, pooled, compiled, *args, **options)

    monkeypatch.setattr(_dbapi_served, "execute_compiled", spy)
    async with db.transaction():
        await Note.create(text="a", code="n1")
        with pytest.raises(DuplicateKeyError):
            await Note.create(text="b", code="n1")
    if db.engine.dialect.name == "postgresql":
        assert sent == [
            *("SAVEPOINT SQLRECORD_WRITE", "INSERT INTO", "RELEASE SAVEPOINT"),
            *("SAVEPOINT SQLRECORD_WRITE", "INSERT INTO", "ROLLBACK TO", "RELEASE SAVEPOINT"),
        ]
    else:
        assert sent == ["INSERT INTO"] * 2
    assert await fetch_column(db, Note, "code") == ["n1"]


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


@pytest.mark.parametrize("path", ["direct", "flush"])
async def test_a_served_create_whose_connection_dies_takes_the_unit_with_it(
    server_db: Database, path: str
) -> None:
    # The server drops the connection while the INSERT runs: the transaction is gone
    # with it, and any SAVEPOINT too (the direct INSERT's own on PostgreSQL, the ORM's
    # around a flush). The write raises, and the unit must not carry on, nor commit
    # what it does afterwards on a new connection.
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

    forced = session_hook("before_flush") if path == "flush" else contextlib.nullcontext()
    try:
        with forced, pytest.raises(TransactionAbortedError, match="rolled back"):
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
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_served_create_with_a_lifecycle_hook_keeps_the_flush(
    db: Database, direct_writes: list[str]
) -> None:
    seen: list[Any] = []

    def pending_to_persistent(_session: Session, instance: Any) -> None:
        seen.append(instance)

    event.listen(Session, "pending_to_persistent", pending_to_persistent)
    try:
        async with db.transaction():
            note = await Note.create(text="a", code="n1")
    finally:
        event.remove(Session, "pending_to_persistent", pending_to_persistent)
    assert seen == [note] and direct_writes == []


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
        assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()


# -- the statement on the pooled cursor (_dbapi_path.py) ----------------------


@contextmanager
def connections_made(db: Database) -> Iterator[list[Any]]:
    """The SQLAlchemy ``Connection`` objects the engine made during the block."""
    made: list[Any] = []
    with engine_listener(db, "engine_connect", made.append):
        yield made


async def test_a_direct_statement_skips_the_connection_layer(
    db: Database, direct_writes: list[str]
) -> None:
    with connections_made(db) as made:
        user = await User.create(email="cursor@example.com")  # with two scalar defaults
    assert direct_writes == ["insert"] and made == []
    assert (user.status, user.is_admin) == ("active", False)
    with connections_made(db) as made:
        found = await User.get(user.id)
    assert made == [] and found is not None and found.status == "active"
    direct_writes.clear()
    with connections_made(db) as made:
        await user.update(name="Kim")
    # MariaDB has no UPDATE … RETURNING: its update is the ORM's flush, on a Connection.
    assert (made == []) == (direct_writes == ["update"])
    note = await Note.create(text="gone", code="g1")
    with connections_made(db) as made:
        await note.delete()  # (a User's delete cascades to its posts: the ORM's)
    assert made == [] and direct_writes[-1] == "delete"
    assert await fetch_column(db, Note, "code") == []
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_listeners_and_statement_logging_still_see_direct_statements(
    db: Database, caplog: pytest.LogCaptureFixture, direct_writes: list[str]
) -> None:
    # A listener at the Connection level (instrumentation, the suite's StatementLog)
    # or echo's logging: the direct statement then goes through Connection.execute.
    with StatementLog(db) as log, connections_made(db) as made:
        note = await Note.create(text="seen", code="s1")
        await Note.get(note.id)
        await note.delete()
    assert direct_writes == ["insert", "delete"] and len(made) == 3
    verbs = [statement.split()[0].upper() for statement in log.statements]
    assert [verb for verb in verbs if verb in ("INSERT", "SELECT", "DELETE")] == [
        "INSERT",
        "SELECT",
        "DELETE",
    ]
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine.Engine")
    await Note.create(text="logged", code="s2")
    assert any("INSERT INTO test_notes" in record.getMessage() for record in caplog.records)
    assert await fetch_column(db, Note, "code") == ["s2"]


def _dbapi_state(dbapi_connection: Any, dialect: str) -> tuple[bool, bool]:
    """(a transaction is open, the driver adapter is in autocommit) on a pooled connection."""
    if dialect == "postgresql":
        driver = dbapi_connection.driver_connection
        return bool(driver.is_in_transaction()), bool(dbapi_connection.autocommit)
    if dialect == "mysql":
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT @@in_transaction, @@autocommit")
        in_transaction, autocommit = cursor.fetchone()
        cursor.close()
        return bool(in_transaction), bool(autocommit)
    return bool(dbapi_connection.driver_connection._connection.in_transaction), False


async def test_a_refused_direct_statement_leaves_its_connection_as_it_found_it(
    db: Database, direct_writes: list[str]
) -> None:
    # One pooled connection, so the refused statement's connection is the one the
    # next unit of work gets: it must be back out of autocommit, with nothing open.
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
        await Note.create(text="taken", code="n1")
        with pytest.raises(DuplicateKeyError):
            await Note.create(text="again", code="n1")
        with pytest.raises(RuntimeError):
            async with single.transaction():
                await Note.create(text="undone", code="n2")
                raise RuntimeError("roll the unit back")
        assert single.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await single.dispose()
        db.make_default()
    assert direct_writes[:2] == ["insert", "insert"]
    assert checked_in and all(state == (False, False) for state in checked_in)
    assert await fetch_column(db, Note, "code") == ["n1"]


async def test_a_direct_statement_cancelled_while_it_waits_holds_nothing(
    db: Database, direct_writes: list[str]
) -> None:
    # A unit of work holds what the INSERT needs (the row of its unique key; on
    # SQLite, the write lock), so the direct INSERT is mid-statement, waiting, when
    # its caller gives up.
    holding, done = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.transaction():
            await Note.create(text="holder", code="held")
            holding.set()
            await done.wait()

    held = asyncio.create_task(holder())
    try:
        await holding.wait()
        direct_writes.clear()
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await Note.create(text="waiter", code="held")
        assert direct_writes == ["insert"]
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # the holder's
        with pytest.raises(TimeoutError):  # the same, in a unit of work of its own
            async with asyncio.timeout(0.3), db.transaction():
                await Note.create(text="unit waiter", code="held")
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        # Each caller got control back at once, not after SQLite's 30 s busy timeout
        # (closing a connection used to wait for the statement it had given up on).
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        done.set()
        await held
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with asyncio.timeout(5):  # nothing of the cancelled statement is in the way
        await Note.create(text="after", code="after")
    assert await fetch_column(db, Note, "text") == ["after", "holder"]


async def test_column_queries_of_an_own_session_skip_the_session_not_its_hooks(
    db: Database,
) -> None:
    await Note.create(text="a", code="c1")
    await Note.create(text="b", code="c2")

    async def ask() -> tuple[Any, ...]:
        return (
            await Note.filter_by(text="a").values("code"),
            await Note.filter_by().count(),
            await Note.filter_by(code="c2").exists(),
            await Note.order_by("code").values_list("code", flat=True),
            await Note.filter_by().max("code"),
        )

    # Session hooks are process-wide: the Notification API's delivery worker, still
    # serving in the same event loop, can run queries meanwhile. Only ours count.
    seen: list[Any] = []

    def hook(state: Any) -> None:
        if "test_notes" in str(state.statement):
            seen.append(state.statement)

    with session_hook("after_begin") as began:  # no session begins for them
        alone = await ask()
    assert [args for args in began if args[2].engine.url == db.engine.url] == []
    event.listen(Session, "do_orm_execute", hook)
    try:
        hooked = await ask()  # a session hook sees every query: they keep the session
    finally:
        event.remove(Session, "do_orm_execute", hook)
    async with db.transaction():
        served = await ask()
    assert alone == hooked == served == ([{"code": "c1"}], 2, True, ["c1", "c2"], "c2")
    assert len(seen) == 5
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_escaped_names_and_processed_types_go_through_the_cursor_as_through_the_orm(
    db: Database, direct_writes: list[str]
) -> None:
    seen = dt.datetime(2024, 2, 29, 13, 45, 7)  # whole seconds: MySQL DATETIME keeps no more
    direct = await Oddity.create(full_name="Kim", rate=decimal.Decimal("12.50"), seen_at=seen)
    with session_hook("before_flush"):  # the ORM's flush
        flushed = await Oddity.create(full_name="Kim", rate=decimal.Decimal("12.50"), seen_at=seen)
    assert direct_writes == ["insert"]
    expected = {"full_name": "Kim", "rate": decimal.Decimal("12.50"), "seen_at": seen}
    for obj in (direct, flushed):
        assert {key: getattr(obj, key) for key in expected} == expected and obj.active is True
    found = await Oddity.get(direct.id)
    assert found is not None
    assert {key: getattr(found, key) for key in expected} == expected and found.active is True
    await found.update(full_name="Lee", rate=decimal.Decimal("0.05"), active=False)
    await flushed.delete()
    assert await Oddity.filter_by().values("full_name", "rate", "seen_at", "active") == [
        {"full_name": "Lee", "rate": decimal.Decimal("0.05"), "seen_at": seen, "active": False}
    ]


async def test_a_served_create_goes_on_the_cursor_of_the_sessions_connection(
    db: Database, monkeypatch: pytest.MonkeyPatch, direct_writes: list[str]
) -> None:
    through_connection: list[Any] = []
    original = _dbapi_served._in_transaction_on_connection

    def spy(*args: Any) -> Any:
        through_connection.append(args)
        return original(*args)

    monkeypatch.setattr(_dbapi_served, "_in_transaction_on_connection", spy)
    async with db.transaction():  # a writing unit (on SQLite: BEGIN IMMEDIATE)
        await Note.create(text="served", code="s1")
        await Note.create(text="served", code="s2")
    async with db.transaction(savepoints=False):
        await Note.create(text="batch", code="b1")
    assert direct_writes == ["insert"] * 3 and through_connection == []
    assert await fetch_column(db, Note, "code") == ["b1", "s1", "s2"]
