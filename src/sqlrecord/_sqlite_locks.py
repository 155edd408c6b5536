"""A task that would wait for itself: two sessions of one task on one SQLite file.

SQLite lets one connection at a time write a database file. A writer that finds
the write lock taken waits for it, up to the busy timeout. When the connection
holding it belongs to the same task (a session the task has written in and not
yet committed, while it saves through another session), nothing can release the
lock while the task waits: the write sits out the whole busy timeout, fails with
"database is locked", and running it again meets the same lock. Without WAL (an
in-memory database never shares its file; a file whose journal mode the caller
changed) a commit also waits for every open read transaction, so a session of the
task that has only read blocks the task's own commit the same way.

So sqlrecord notes which task has each pooled SQLite connection checked out (the
pool's checkout and checkin events, ``_dialects.py``), and before one of its own
writes begins (``_begin.py``) refuses at once with :class:`SelfDeadlockError`
when the task itself holds what the write would wait for. A write that got to
wait anyway (in a session of the caller's, or behind a lock this module cannot
see) is explained the same way when it fails (``_translate.py``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from ._sqlite_connection import DeferringConnection, holds_write_lock, sqlite_file
from .exceptions import SelfDeadlockError

__all__ = [
    "note_checkin",
    "note_checkout",
    "refuse_waiting_for_own_lock",
    "waited_for_own_lock",
    "writer_elsewhere",
]

#: The connections to SQLite files each task has checked out; a task leaves when it
#: has checked them all in (the pool checks in every connection it hands out).
_held: dict[asyncio.Task[Any], list[DeferringConnection]] = {}

#: Where the pool's connection record keeps the connection it noted, until checkin.
_RECORD_KEY = "sqlrecord_sqlite_owner"


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop
        return None


def note_checkout(connection: Any, record: Any) -> None:
    """The pool handed ``connection`` (a sqlite3 connection) out to the running task."""
    if not isinstance(connection, DeferringConnection) or connection.file is None:
        return
    task = _current_task()
    if task is None:
        return
    note_checkin(record)  # a checkout retried after a failed ping noted the first try
    connection.owner = task
    _held.setdefault(task, []).append(connection)
    record.record_info[_RECORD_KEY] = connection


def note_checkin(record: Any) -> None:
    """The connection of ``record`` went back to the pool (or was thrown away)."""
    connection = record.record_info.pop(_RECORD_KEY, None)
    if connection is None:
        return
    owner, connection.owner = connection.owner, None
    held = _held.get(owner) if isinstance(owner, asyncio.Task) else None
    if held is not None and connection in held:
        held.remove(connection)
        if not held:
            del _held[owner]


def _blocking(connection: DeferringConnection) -> str | None:
    """What of ``connection`` another writer of its file must wait for, if anything."""
    try:
        if holds_write_lock(connection):
            return "write"
        if not connection.wal and connection.in_transaction:
            return "read"
    except sqlite3.ProgrammingError:  # closed under us (a cancelled unit's connection)
        return None
    return None


def _own_holders(file: str | None) -> list[tuple[DeferringConnection, str]]:
    """The running task's connections (to ``file``; ``None``: to any file) that hold a lock."""
    task = _current_task()
    held = _held.get(task) if task is not None else None
    if not held:
        return []
    found = []
    for connection in held:
        if file is not None and connection.file != file:
            continue
        lock = _blocking(connection)
        if lock is not None:
            found.append((connection, lock))
    return found


def refuse_waiting_for_own_lock(engine: Any, *, model: str = "row") -> None:
    """Before a write on one of ``engine``'s connections, not yet checked out: raise
    :class:`SelfDeadlockError` if the running task holds, on another connection to
    the same SQLite file, the lock the write would wait for.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> refuse_waiting_for_own_lock(create_async_engine("sqlite+aiosqlite:///app.db"))
    """
    if not _held:  # no task holds a SQLite file connection (always so on other databases)
        return
    task = _current_task()
    if task is None or not _held.get(task):
        return
    holders = _own_holders(sqlite_file(engine.url))  # a path lookup: only when one is held
    if holders:
        connection, lock = holders[0]
        raise SelfDeadlockError(_message(connection, lock, model=model, waited=False))


def waited_for_own_lock(*, model: str = "row") -> SelfDeadlockError | None:
    """After "database is locked": the error to raise instead, if the running task
    itself holds a lock on a file it has two connections to (the write waited for the
    task itself), else ``None``."""
    task = _current_task()
    held = _held.get(task) if task is not None else None
    if not held or len(held) < 2:
        return None
    for connection, lock in _own_holders(None):
        if sum(other.file == connection.file for other in held) >= 2:
            return SelfDeadlockError(_message(connection, lock, model=model, waited=True))
    return None


def writer_elsewhere() -> str | None:
    """After "database is locked" that :func:`waited_for_own_lock` does not explain: the
    name of another task of this process that holds a SQLite write lock, if one does."""
    task = _current_task()
    for owner, held in list(_held.items()):
        if owner is not task and any(_blocking(each) == "write" for each in held):
            return owner.get_name()
    return None


def _message(connection: DeferringConnection, lock: str, *, model: str, waited: bool) -> str:
    what = (
        "holds the write lock (it began writing and has not committed; SQLite lets one "
        "connection write at a time)"
        if lock == "write"
        else "has an open transaction (without WAL, a commit waits for every reader)"
    )
    outcome = (
        "so the write waited for the task itself until SQLite's busy timeout"
        if waited
        else "so it would wait for the task itself until SQLite's busy timeout, and fail"
    )
    return (
        f"Cannot write {model}: this task holds another session on the SQLite file "
        f"{connection.file} that {what}, {outcome}; trying again cannot help. "
        "Write through that session (Model.using(session), obj.save(session=session)), "
        "or commit or close it before this write."
    )
