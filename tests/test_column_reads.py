"""Reads of columns (``values``, ``values_list``, ``count``, ``exists``, aggregates) run
by the session's connection, which gives the same rows as the ORM's ``session.execute``
without building its result rows again; in an own session, on a connection of their own
where nothing listens to sessions or to the engine's statements (``Route.CONNECTION_READ``,
``_reads_alone.py``). Where the ORM's ``execute`` could give other rows (a
``do_orm_execute`` listener, an autoflush due) or fast paths are off, the ORM runs them.
The differential harness compares the rows with plain ``AsyncSession``'s.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from sqlrecord import Database
from sqlrecord._plan import Route
from sqlrecord._plan_rules import FAST_PATHS_OFF

from .models import User
from .test_one_statement import plans_logged
from .test_row_insert import _listening


async def _users() -> None:
    for email, name in (("kim@example.com", "Kim"), ("lee@example.com", "Lee")):
        await User.create(email=email, name=name)


async def _column_reads() -> list[Any]:
    query = User.filter_by(email__endswith="@example.com").order_by("email")
    return [
        await query.values("email", "name"),
        await query.values_list("email", flat=True),
        await query.count(),
        await query.exists(),
        await query.max("email"),
    ]


async def test_column_reads_take_the_core_read_and_give_the_rows(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _users()
    with plans_logged(caplog, User) as plans:
        found = await _column_reads()
        async with db.transaction():  # a served session too
            served = await _column_reads()
    assert (
        found
        == served
        == [
            [
                {"email": "kim@example.com", "name": "Kim"},
                {"email": "lee@example.com", "name": "Lee"},
            ],
            ["kim@example.com", "lee@example.com"],
            2,
            True,
            "lee@example.com",
        ]
    )
    assert [plan.route for plan in plans] == [Route.CONNECTION_READ] * 5 + [Route.CORE_READ] * 5
    assert db.checked_out() == 0


@pytest.mark.parametrize(
    ("target", "name", "why"),
    [
        (
            lambda db: Session,
            "after_begin",
            "a session 'after_begin' listener sees the session's life",
        ),
        (
            lambda db: db._autocommit_engine.sync_engine,
            "before_cursor_execute",
            "a 'before_cursor_execute' listener on the engine",
        ),
    ],
    ids=["session", "engine"],
)
async def test_a_listener_keeps_the_sessions_connection_and_hears_it(
    db: Database, caplog: pytest.LogCaptureFixture, target: Any, name: str, why: str
) -> None:
    await _users()
    with _listening(target(db), name) as heard, plans_logged(caplog, User) as plans:
        assert await User.filter_by().count() == 2
    assert [(plan.route, plan.why) for plan in plans] == [(Route.CORE_READ, why)]
    # Heard (a listener of the Session class also hears other sessions of the process:
    # another suite's background task may begin one meanwhile).
    assert heard


async def test_a_do_orm_execute_listener_keeps_the_orm_and_changes_the_rows(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _users()

    def hide_lee(state: ORMExecuteState) -> None:
        if state.is_select:
            state.statement = state.statement.options(
                with_loader_criteria(User, User.email != "lee@example.com")
            )

    with plans_logged(caplog, User) as plans:
        async with db.transaction() as session:
            event.listen(session.sync_session, "do_orm_execute", hide_lee)
            emails = await User.filter_by().values_list("email", flat=True)
            total = await User.filter_by().count()
    assert (emails, total) == (["kim@example.com"], 1)
    assert {(plan.route, plan.why) for plan in plans} == {
        (Route.ORM_STATEMENT, "a 'do_orm_execute' listener may change the statement or its rows")
    }


async def test_an_autoflush_due_keeps_the_orm_and_reads_the_flushed_row(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _users()
    with plans_logged(caplog, User) as plans:
        async with db.transaction() as session:
            session.sync_session.autoflush = True
            session.add(User(email="park@example.com", name="Park"))
            total = await User.filter_by().count()
            flushed = await User.filter_by(email="park@example.com").values_list("name", flat=True)
    assert (total, flushed) == (3, ["Park"])
    assert [plan.why for plan in plans][:1] == [
        "autoflush: the session flushes its changes before it reads"
    ]
    assert plans[-1].route is Route.CORE_READ  # flushed by then: nothing pending


async def test_without_fast_paths_the_orm_reads_columns(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _users()
    monkeypatch.setattr(db, "fast_paths", False)
    with plans_logged(caplog, User) as plans:
        assert await User.filter_by().count() == 2
    assert [(plan.route, plan.why) for plan in plans] == [(Route.ORM_STATEMENT, FAST_PATHS_OFF)]
