"""Listeners that write down, in order, what fired while one side of a case ran.

Three levels (a case's ``watch``): ``none`` listens to nothing, as most applications
run (the only level at which sqlrecord may leave SQLAlchemy's ``Connection`` for the
driver, ``_internals.direct``); ``engine`` listens on the engine's transaction events
only, which leaves sqlrecord free to take its other fast paths; ``session`` adds the
team's session hooks (transaction, flush and object lifecycle events on ``DhSession``),
which a user would register and expects to fire. The catalogue's own mapper events and
validators always run and write to ``HOOK_LOG``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import HOOK_LOG, DhSession

ENGINE_EVENTS = ("begin", "commit", "rollback")
SESSION_EVENTS = (
    "after_begin",
    "before_commit",
    "after_commit",
    "after_rollback",
    "before_flush",
    "after_flush",
    "after_flush_postexec",
)
LIFECYCLE_EVENTS = (
    "transient_to_pending",
    "pending_to_transient",
    "pending_to_persistent",
    "persistent_to_transient",
    "persistent_to_deleted",
    "deleted_to_persistent",
    "deleted_to_detached",
    "persistent_to_detached",
    "detached_to_persistent",
    "loaded_as_persistent",
)
WATCHES = ("none", "engine", "session")


class EventLog:
    """The events of one side, grouped the way they are compared."""

    def __init__(self) -> None:
        self.engine: list[str] = []
        self.session: list[str] = []
        self.lifecycle: list[str] = []

    def groups(self) -> dict[str, list[str]]:
        hooks = [":".join(entry) for entry in HOOK_LOG]
        groups = {"events.engine": self.engine, "events.hooks": hooks}
        if self.session or self.lifecycle:
            groups["events.session"] = self.session
            groups["events.lifecycle"] = _runs_sorted(self.lifecycle)
        return groups


def _runs_sorted(events: list[str]) -> list[str]:
    """Each run of one lifecycle event (several objects of one flush) in a fixed order:
    within a flush the ORM walks objects in an order of its own, which varies."""
    ordered: list[str] = []
    run: list[str] = []
    for entry in events:
        if run and entry.split(":")[0] != run[0].split(":")[0]:
            ordered += sorted(run)
            run = []
        run.append(entry)
    return ordered + sorted(run)


def _engine_listener(log: EventLog, name: str) -> Callable[..., None]:
    def listener(*args: Any) -> None:
        log.engine.append(name)

    return listener


def _session_listener(log: EventLog, name: str) -> Callable[..., None]:
    def listener(*args: Any) -> None:
        log.session.append(name)

    return listener


def _lifecycle_listener(log: EventLog, name: str) -> Callable[..., None]:
    def listener(session: Any, instance: Any, *args: Any) -> None:
        log.lifecycle.append(f"{name}:{type(instance).__name__}")

    return listener


@contextmanager
def recording(engine: AsyncEngine, watch: str) -> Iterator[EventLog]:
    """Record one side's events; every listener is removed again on the way out."""
    log = EventLog()
    HOOK_LOG.clear()
    installed: list[tuple[Any, str, Callable[..., None]]] = []
    if watch != "none":
        for name in ENGINE_EVENTS:
            installed.append((engine.sync_engine, name, _engine_listener(log, name)))
    if watch == "session":
        for name in SESSION_EVENTS:
            installed.append((DhSession, name, _session_listener(log, name)))
        for name in LIFECYCLE_EVENTS:
            installed.append((DhSession, name, _lifecycle_listener(log, name)))
    for target, name, listener in installed:
        event.listen(target, name, listener)
    try:
        yield log
    finally:
        for target, name, listener in installed:
            event.remove(target, name, listener)
