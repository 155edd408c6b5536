"""Small helpers that read the database behind the library's back."""

from __future__ import annotations

import asyncio
import faulthandler
import functools
import gc
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from greenlet import greenlet
from sqlalchemy import event, func, select, text
from sqlalchemy.pool import NullPool

from sqlrecord import Database


def unpooled(db: Database) -> Database:
    """Another Database on ``db``'s URL, with no pool (each connection new, closed after
    use) and not the models' default: for reading or acting behind the test's back.
    The caller disposes of it."""
    return Database(
        db.url.render_as_string(hide_password=False),
        default=False,
        engine_options={"poolclass": NullPool},
    )


async def count_rows(db: Database, model: type[Any], **where: Any) -> int:
    """Count rows in a fresh session (sees only committed data)."""
    async with db.sessionmaker() as session:
        statement = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(statement) or 0)


async def table_snapshot(db: Database, *models: type[Any]) -> list[tuple[Any, ...]]:
    """Every row of the models' tables, by id, tagged with the table name (compare before/after)."""
    rows: list[tuple[Any, ...]] = []
    async with db.engine.connect() as connection:
        for model in models:
            table = model.__table__  # type: ignore[attr-defined]
            result = await connection.execute(select(table).order_by(table.c.id))
            rows += [(table.name, *row) for row in result.all()]
    return rows


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


@contextmanager
def stall_report(db: Database, *, after: float) -> Iterator[None]:
    """If the block is still running ``after`` seconds in, print what everything waits on:
    the pool, every task's stack, every thread's stack (SQLite's workers), so a rare
    stall in CI explains itself in the log instead of only timing out."""
    loop = asyncio.get_running_loop()

    def report() -> None:
        pool = db.engine.pool
        print(
            f"\n--- stall report, {after} s in: the engine's pool {id(pool):#x}: {pool.status()}",
            file=sys.stderr,
        )
        for task in asyncio.all_tasks(loop):
            print(f"--- task {task.get_name()}: {_awaiting(task.get_coro())}", file=sys.stderr)
        for suspended in gc.get_objects():  # SQLAlchemy's sync code runs in greenlets
            if isinstance(suspended, greenlet) and suspended.gr_frame is not None:
                print(f"--- greenlet {_pool_waited_on(suspended.gr_frame)}", file=sys.stderr)
                traceback.print_stack(suspended.gr_frame, limit=8, file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        if db.engine.dialect.name != "sqlite":
            server_views.append(loop.create_task(_print_server_view(db)))

    server_views: list[asyncio.Task[None]] = []
    handle = loop.call_later(after, report)
    try:
        yield
    finally:
        handle.cancel()
        for view in server_views:
            view.cancel()


def _pool_waited_on(frame: Any) -> str:
    """Which pool a greenlet waits on for a connection, if it does (the engine may have
    been given a new pool since it started waiting)."""
    while frame is not None:
        if frame.f_code.co_name == "_do_get" and "self" in frame.f_locals:
            pool = frame.f_locals["self"]
            return f"waits on pool {id(pool):#x}: {pool.status()}"
        frame = frame.f_back
    return ""


def _awaiting(coroutine: Any) -> str:
    """The chain of coroutines a task is suspended in, outermost first."""
    frames = []
    while coroutine is not None and getattr(coroutine, "cr_frame", None) is not None:
        frame = coroutine.cr_frame
        frames.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coroutine = getattr(coroutine, "cr_await", None)
    return " > ".join(frames) + (f" > {coroutine!r:.80}" if coroutine is not None else "")


_SERVER_VIEWS = {
    "postgresql": "SELECT pid, state, wait_event_type, wait_event, xact_start, query "
    "FROM pg_stat_activity WHERE datname = current_database()",
    "mysql": "SELECT id, command, time, state, info, trx_state, trx_started "
    "FROM information_schema.processlist LEFT JOIN information_schema.innodb_trx "
    "ON trx_mysql_thread_id = id WHERE db = database()",
}


async def _print_server_view(db: Database) -> None:
    """The server's sessions and their transactions, read on a connection of its own."""
    viewer = unpooled(db)
    try:
        async with viewer.engine.connect() as connection:
            rows = await connection.execute(text(_SERVER_VIEWS[db.engine.dialect.name]))
            for row in rows:
                print(f"--- server session {tuple(row)}", file=sys.stderr)
    finally:
        await viewer.dispose()


def asgi_client(app: Any, **options: Any) -> httpx.AsyncClient:
    """An HTTP client that calls ``app`` in process (no server, no lifespan)."""
    transport = httpx.ASGITransport(app=app, **options)
    return httpx.AsyncClient(transport=transport, base_url="http://test")
