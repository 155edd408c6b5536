"""Small helpers that read the database behind the library's back."""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from sqlrecord import Database


async def count_rows(db: Database, model: type[Any], **where: Any) -> int:
    """Count rows in a fresh session (sees only committed data)."""
    async with db.sessionmaker() as session:
        statement = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(statement) or 0)


async def fetch_column(db: Database, model: type[Any], column: str, **where: Any) -> list[Any]:
    async with db.sessionmaker() as session:
        statement = select(getattr(model, column)).filter_by(**where).order_by(column)
        return list((await session.scalars(statement)).all())


class StatementLog:
    """Records the SQL statements an engine sends while active."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.statements: list[str] = []

    def _record(self, *args: Any) -> None:
        self.statements.append(args[2])

    def __enter__(self) -> StatementLog:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


_COUNT_TO = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) " + (
    "SELECT count(*) FROM c"
)


@functools.cache
def _sqlite_rows_per_second() -> float:
    """How far SQLite counts in a second on this machine (machines differ tenfold)."""
    connection = sqlite3.connect(":memory:")
    try:
        started = time.perf_counter()
        connection.execute(_COUNT_TO.format(300_000)).fetchall()
        return 300_000 / max(time.perf_counter() - started, 1e-4)
    finally:
        connection.close()


def slow_sql(dialect: str) -> str:
    """A statement that runs a second or two: something to cancel mid-way.

    On SQLite, a count sized to this machine (about a second): long enough that a
    cancel at 0.1-0.2 s lands mid-statement, short enough that one the interrupt
    misses (it was not running yet) holds the write lock for a second, not twenty.
    """
    if dialect == "postgresql":
        return "SELECT pg_sleep(2)"
    if dialect == "mysql":
        return "SELECT SLEEP(2)"
    return _COUNT_TO.format(int(_sqlite_rows_per_second()))


@contextmanager
def engine_listener(db: Database, name: str, listener: Callable[..., None]) -> Iterator[None]:
    """``listener`` on the engine's ``name`` event for the duration of the block."""
    engine = db.engine.sync_engine
    event.listen(engine, name, listener)
    try:
        yield
    finally:
        event.remove(engine, name, listener)


async def sqlite_file_database(path: Path, model: type[Any], monkeypatch: Any) -> Database:
    """A Database on the SQLite file ``path``, made ``model``'s for the test, with its table.

    The caller disposes of it.
    """
    database = Database(f"sqlite+aiosqlite:///{path}", default=False)
    monkeypatch.setattr(model, "__database__", database, raising=False)
    async with database.engine.begin() as connection:
        await connection.run_sync(model.metadata.create_all, tables=[model.__table__])
    return database
