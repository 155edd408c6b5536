"""The planner's listener checks on a session just made (``_internals.first_listened``)
read its class's listeners without building its dispatch; they must answer exactly as
asking the session's dispatch event by event answers, whoever listens where: ``Session``,
a subclass, a sessionmaker, the session itself, listeners added and removed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionEvents, sessionmaker

from sqlrecord._internals import first_listened, listener_count

EVENTS = tuple(
    name for name in dir(SessionEvents) if not name.startswith("_") and name != "dispatch"
)


def _asked_one_by_one(session: Session) -> list[str]:
    return [name for name in EVENTS if listener_count(session, name)]


def _read(session: Session) -> list[str]:
    found, rest = [], list(EVENTS)
    while (name := first_listened(session, rest)) is not None:
        found.append(name)
        rest = rest[rest.index(name) + 1 :]
    return found


class _Sub(Session):
    pass


def _noop(*arguments: Any) -> None:
    return None


Maker = Callable[[], Session]


def _on_session_class() -> Iterator[tuple[Maker, list[str]]]:
    event.listen(Session, "after_rollback", _noop)
    try:
        yield Session, ["after_rollback"]
        yield _Sub, ["after_rollback"]  # a subclass: the listener reaches it
    finally:
        event.remove(Session, "after_rollback", _noop)


def _on_a_sessionmaker() -> Iterator[tuple[Maker, list[str]]]:
    make = sessionmaker()
    make()  # a session of it made before the listener
    event.listen(make, "after_begin", _noop)
    yield make, ["after_begin"]
    yield Session, []  # another class: not reached
    event.remove(make, "after_begin", _noop)
    yield make, []  # removed again


def _on_the_session() -> Iterator[tuple[Maker, list[str]]]:
    def listened() -> Session:
        session = Session()
        event.listen(session, "before_commit", _noop)
        return session

    yield listened, ["before_commit"]


def _nobody() -> Iterator[tuple[Maker, list[str]]]:
    yield Session, []
    yield _Sub, []


@pytest.mark.parametrize("where", [_nobody, _on_session_class, _on_a_sessionmaker, _on_the_session])
def test_a_new_sessions_listeners_read_as_its_dispatch_gives_them(where: Any) -> None:
    for make, listened in where():
        # Asked one by one first: the class's first session builds its dispatch, which
        # gives SQLAlchemy's per-class empty listeners that later sessions are read from.
        assert _asked_one_by_one(make()) == listened
        fresh = make()
        assert _read(fresh) == listened
        if where is not _on_the_session:
            assert "dispatch" not in vars(fresh)  # read from its class: nothing was built
