"""An own session's one-row write runs in autocommit; any write that could be two
statements keeps its transaction, so a failure in the second undoes the first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from sqlrecord import Database
from sqlrecord.exceptions import DuplicateKeyError, StaleObjectError

from .helpers import count_rows, fetch_column
from .models import Animal, Dog, Invoice, Note, Post, User

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

    engine = db.engine.sync_engine
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", after)


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
    assert await fetch_column(db, Invoice, "amount") == [7]
