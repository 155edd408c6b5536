"""An own session's UPDATE or DELETE by query, seen from the database.

``Query.update``, ``delete`` and ``hard_delete`` send one statement; in an own session,
where the planner proves that is all they send, it goes out in autocommit: no BEGIN, no
COMMIT (on MySQL/MariaDB through the pool of autocommit connections). Anything that
could add a statement (a joined-table model, a session hook that may write) and
``Database(fast_paths=False)`` keep the transaction on every database. ``test_plan.py``
checks the planner's reasons without a database; ``test_drivers.py`` counts the round
trips.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from sqlrecord import Count, Database, F
from sqlrecord._plan import Transaction
from sqlrecord._plan_rules import ONE_WRITE_STATEMENT
from sqlrecord.exceptions import DuplicateKeyError

from .helpers import StatementLog, count_rows, fetch_column
from .models import Article, Dog, Note, Post, User
from .test_one_statement import autocommits, plans_logged, verbs_of, writes_seen

# Each way a query writes, and the statement it sends (all of them one statement).
QUERY_WRITES: dict[str, tuple[str, Callable[[], Awaitable[int]]]] = {
    "update by key": ("UPDATE", lambda: Note.filter_by(code="n1").update(text="b")),
    "F expression": ("UPDATE", lambda: Note.filter_by(code="n1").update(text=F("code"))),
    "relationship lookup (EXISTS)": (
        "UPDATE",
        lambda: User.filter_by(posts__title="first").update(name="Kim"),
    ),
    "a page of keys (subquery)": (
        "UPDATE",
        lambda: Note.order_by("-code").limit(1).update(text="last"),
    ),
    "annotation filter": (
        "UPDATE",
        lambda: User.annotate(n=Count("posts")).filter_by(n__gte=1).update(name="Lee"),
    ),
    "soft delete": ("UPDATE", lambda: Article.filter_by(slug="live").delete()),
    "purge of the soft-deleted": ("DELETE", lambda: Article.only_deleted().delete()),
    "hard delete": ("DELETE", lambda: Note.filter_by(code="n2").hard_delete()),
    "delete by key": ("DELETE", lambda: Note.filter_by(code="n1").delete()),
}


async def _rows() -> None:
    await Note.create(text="a", code="n1")
    await Note.create(text="a", code="n2")
    author = await User.create(email="kim@example.com")
    await Post.create(title="first", author_id=author.id)
    await Article.create(slug="live")
    gone = await Article.create(slug="gone")
    await gone.delete()


@pytest.mark.parametrize("case", list(QUERY_WRITES))
async def test_a_query_write_is_its_statement_alone(
    db: Database, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    await _rows()
    verb, write = QUERY_WRITES[case]
    free = autocommits(db)
    with (
        plans_logged(caplog, Note, User, Article) as plans,
        writes_seen(db) as seen,
        StatementLog(db) as log,
    ):
        assert await write() == 1
    # The one statement, and a transaction left open after it only where autocommit
    # is not free (there: its COMMIT, the only other round trip).
    assert seen == [(verb, not free)]
    assert [plan.transaction for plan in plans] == [
        Transaction.AUTOCOMMIT if free else Transaction.OWN
    ]
    if free:
        assert plans[0].why == ONE_WRITE_STATEMENT
        # No SELECT of the keys before it, and no BEGIN (IMMEDIATE) on SQLite. (On
        # MySQL, writes_seen asks the server whether a transaction is open.)
        sent = [each for each in log.statements if "@@in_transaction" not in each]
        assert [each.split()[0].upper() for each in sent] == [verb], sent


async def test_a_query_write_on_a_joined_table_model_keeps_its_transaction(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await Dog.create(name="Rex", licence="L-1")
    with plans_logged(caplog, Dog) as plans, writes_seen(db) as seen:
        assert await Dog.filter_by(licence="L-1").update(licence="L-2") == 1
    assert seen == [("UPDATE", True)]
    assert plans[0].transaction is Transaction.OWN
    if autocommits(db):
        assert "joined-table inheritance" in plans[0].why
    assert await fetch_column(db, Dog, "licence") == ["L-2"]


@pytest.mark.parametrize("hook", ["do_orm_execute", "after_bulk_update", "after_begin"])
async def test_a_session_hook_keeps_a_query_writes_transaction(
    db: Database, caplog: pytest.LogCaptureFixture, hook: str
) -> None:
    await Note.create(text="a", code="n1")

    def noop(*_args: Any) -> None:
        return None

    event.listen(Session, hook, noop)
    try:
        with plans_logged(caplog, Note) as plans, writes_seen(db) as seen:
            await Note.filter_by(code="n1").update(text="b")
    finally:
        event.remove(Session, hook, noop)
    assert seen == [("UPDATE", True)]
    assert plans[0].transaction is Transaction.OWN
    if autocommits(db):
        assert plans[0].why == f"a session {hook!r} listener may write"


async def test_a_session_hook_that_writes_stands_or_falls_with_the_query_write(
    db: Database,
) -> None:
    # The hook's INSERT is refused after the UPDATE went out: in autocommit the
    # UPDATE would stay behind; in the transaction the hook keeps, it goes too.
    await Note.create(text="a", code="n1")
    await Note.create(text="a", code="taken")

    def audit(state: Any) -> None:
        if state.is_update:
            state.session.connection().exec_driver_sql(
                "INSERT INTO test_notes (text, code) VALUES ('audit', 'taken')"
            )

    def update_then_audit(state: Any) -> Any:
        result = state.invoke_statement()
        audit(state)
        return result

    event.listen(Session, "do_orm_execute", update_then_audit)
    try:
        with pytest.raises(DuplicateKeyError):
            await Note.filter_by(code="n1").update(text="changed")
    finally:
        event.remove(Session, "do_orm_execute", update_then_audit)
    assert await fetch_column(db, Note, "text", code="n1") == ["a"]


async def test_a_failed_query_write_changes_nothing_and_says_why(db: Database) -> None:
    # The second row's new code collides with the first's: the one statement is
    # refused whole, in autocommit as in a transaction, with the same typed error.
    await Note.create(text="a", code="n1")
    await Note.create(text="b", code="n2")
    reference = Database(db.url.render_as_string(hide_password=False), fast_paths=False)
    try:
        for database in (db, reference):
            database.make_default()
            with pytest.raises(DuplicateKeyError):
                await Note.filter_by().update(code="same")
            assert await fetch_column(db, Note, "code") == ["n1", "n2"]
        assert reference.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await reference.dispose()
        db.make_default()
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await Note.filter_by(code="n1").update(text="after") == 1  # nothing left held


async def test_the_reference_mode_keeps_a_query_writes_transaction(db: Database) -> None:
    await Note.create(text="a", code="n1")
    reference = Database(db.url.render_as_string(hide_password=False), fast_paths=False)
    try:
        reference.make_default()
        with writes_seen(reference) as in_reference:
            await Note.filter_by(code="n1").update(text="b")
            await Note.filter_by(code="n1").delete()
    finally:
        await reference.dispose()
        db.make_default()
    assert in_reference == [("UPDATE", True), ("DELETE", True)]
    assert await count_rows(db, Note) == 0


async def test_a_served_query_write_still_takes_its_savepoint(db: Database) -> None:
    await Note.create(text="a", code="n1")
    with StatementLog(db) as log:
        async with db.transaction():
            await Note.filter_by(code="n1").update(text="b")
    assert "SAVEPOINT" in verbs_of(log)
    assert await fetch_column(db, Note, "text") == ["b"]
