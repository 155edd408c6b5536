"""An own session is opened only where the call's route works in it (``_scope_session.py``):
a call whose plan ends on a connection of its own opens none, and until a session is
opened the planner reads the database's model session (``Database._model_session``),
the session its sessionmaker would make now, which is never given work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from sqlrecord import Database
from sqlrecord._plan_types import ALONE_ROUTES, Route

from .models import Note
from .test_one_statement import plans_logged


@contextmanager
def sessions_opened(db: Database) -> Iterator[list[bool]]:
    """The sessions sqlrecord opens for its own calls in the block (their autocommit flag),
    the model sessions made beforehand so that they are not counted."""
    db._model_session(autocommit=True)
    db._model_session(autocommit=False)
    opened: list[bool] = []
    open_session = db._open_session

    def counted(*, autocommit: bool) -> AsyncSession:
        opened.append(autocommit)
        return open_session(autocommit=autocommit)

    db._open_session = counted  # type: ignore[method-assign]
    try:
        yield opened
    finally:
        del db._open_session


async def test_calls_on_a_connection_of_their_own_open_no_session(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with sessions_opened(db) as opened, plans_logged(caplog, Note) as plans:
        note = await Note.create(text="first", code="n-1")
        assert (await Note.get(note.id)).text == "first"
        assert (await Note.get(code="n-1")).id == note.id
        note.text = "second"
        await note.save()
        assert await Note.filter_by(id=note.id).update(text="third") == 1
        assert await Note.count() == 1
        assert await Note.filter_by().values_list("text", flat=True) == ["third"]
        assert [each.id for each in await Note.filter_by().all()] == [note.id]
        assert (await Note.order_by("id").first()).text == "third"
        await (await Note.get(note.id)).delete()
        assert await Note.get(note.id) is None
    assert opened == []
    assert plans and all(plan.route in ALONE_ROUTES for plan in plans), plans
    _model_sessions_unused(db)


async def test_a_call_that_works_in_its_session_opens_one(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await Note.create(text="kept")
    with sessions_opened(db) as opened, plans_logged(caplog, Note) as plans:
        streamed = [each.text async for each in Note.filter_by().stream()]
        refreshed = await note.refresh()
    assert streamed == ["kept"] and refreshed.text == "kept"
    assert len(opened) == 2
    assert {plan.route for plan in plans} == {Route.ORM_STATEMENT}
    _model_sessions_unused(db)


async def test_a_session_class_listener_added_later_is_heard(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # The model sessions are made before the listener: the planner still sees it (it
    # reads the class's listeners as they are), and the calls open their sessions, where
    # it hears them begin.
    class Listened(Session):
        pass

    maker = db.sessionmaker
    original = maker.kw.get("sync_session_class", Session)
    maker.configure(sync_session_class=Listened)
    heard: list[Session] = []

    def after_begin(session: Session, *args: Any) -> None:
        heard.append(session)

    try:
        await Note.create(text="before")
        with sessions_opened(db) as opened, plans_logged(caplog, Note) as plans:
            event.listen(Listened, "after_begin", after_begin)
            note = await Note.create(text="heard")
            assert (await Note.get(note.id)).text == "heard"
    finally:
        event.remove(Listened, "after_begin", after_begin)
        maker.configure(sync_session_class=original)
    assert len(opened) == 2
    assert [plan.route for plan in plans] == [Route.ORM_FLUSH, Route.ORM_STATEMENT]
    assert len(heard) == 2 and all(isinstance(each, Listened) for each in heard)
    _model_sessions_unused(db)


class _CountingSession(Session):
    """A session class that counts its ``get`` calls."""

    gets = 0

    def get(self, *args: Any, **kwargs: Any) -> Any:
        type(self).gets += 1
        return super().get(*args, **kwargs)


async def test_a_sessionmaker_configured_later_makes_a_new_model(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    note = await Note.create(text="configured")
    before = db._model_session(autocommit=True)
    maker = db.sessionmaker
    original = maker.kw.get("sync_session_class", Session)
    maker.configure(sync_session_class=_CountingSession)
    _CountingSession.gets = 0
    try:
        model = db._model_session(autocommit=True)
        assert model is not before and isinstance(model.sync_session, _CountingSession)
        with plans_logged(caplog, Note) as plans:
            assert (await Note.get(note.id)).text == "configured"
    finally:
        maker.configure(sync_session_class=original)
    # The subclass overrides a step of get: the session's own get, which it counted.
    assert [plan.route for plan in plans] == [Route.ORM_STATEMENT]
    assert _CountingSession.gets == 1
    assert db._model_session(autocommit=True) is not model
    _model_sessions_unused(db)


def _model_sessions_unused(db: Database) -> None:
    for autocommit in (True, False):
        model = db._model_session(autocommit=autocommit).sync_session
        assert not model.identity_map and not model.new and not model.deleted
        assert model.get_transaction() is None
