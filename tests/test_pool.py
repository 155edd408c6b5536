"""The pool keeps the connections a burst opened (``WatchfulQueuePool``'s spares).

SQLAlchemy's queue pool closes an overflow connection as soon as it is returned to a full
pool, so a burst of more than ``pool_size`` concurrent calls opens its overflow again
each time it recurs. sqlrecord's pool keeps such a connection for ``KEEP_SPARE_SECONDS``
and closes it when it has sat idle for longer; ``pool_size + max_overflow`` still bounds
what is open. Each test counts the connections the pool opens and closes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text

from sqlrecord import Database
from sqlrecord._internals import sqlalchemy_pool

from .models import Note
from .test_direct import backend_id, end_backend


@pytest.fixture
async def pooled(db: Database) -> AsyncIterator[tuple[Database, Counter[str]]]:
    """Another Database on ``db``'s URL, with a pool of 2 (+4 overflow), and the counts of
    the connections its pool opened (``connect``) and closed (``close``)."""
    url = db.url.render_as_string(hide_password=False)
    sizes = {"pool_size": 2, "max_overflow": 4, "pool_timeout": 30}
    small = Database(url, default=False, engine_options=sizes)
    counts: Counter[str] = Counter()
    for name in ("connect", "close"):
        event.listen(small.engine.sync_engine, name, _counter(counts, name))
    try:
        yield small, counts
    finally:
        await small.dispose()


def _counter(counts: Counter[str], name: str) -> Any:
    def count(*_args: Any) -> None:
        counts[name] += 1

    return count


async def _burst(database: Database, width: int, *, ids: bool = False) -> list[int]:
    """``width`` calls that each hold a connection until all of them hold one; with
    ``ids``, the server's ids of their connections (a server's only)."""
    holding = asyncio.Barrier(width)

    async def call() -> int:
        async with database.engine.connect() as connection:
            if ids:
                backend = await backend_id(database, connection)
            else:
                backend = (await connection.execute(text("SELECT 1"))).scalar_one()
            await holding.wait()
            return int(backend)

    async with asyncio.timeout(30):
        return list(await asyncio.gather(*(call() for _ in range(width))))


def _idle(database: Database) -> int:
    return int(database.engine.sync_engine.pool.checkedin())


async def test_a_burst_over_the_pool_size_keeps_its_connections_for_the_next(
    pooled: tuple[Database, Counter[str]],
) -> None:
    small, counts = pooled
    await _burst(small, 6)
    assert counts == {"connect": 6}  # SQLAlchemy's pool would have closed 4 of them
    assert (_idle(small), small.checked_out()) == (6, 0)
    await _burst(small, 6)
    await _burst(small, 3)
    assert counts == {"connect": 6}
    assert (_idle(small), small.checked_out()) == (6, 0)


async def test_own_calls_in_a_burst_reuse_the_kept_connections(
    db: Database, pooled: tuple[Database, Counter[str]]
) -> None:
    small, counts = pooled
    small.make_default()
    try:
        for round_ in range(3):
            codes = [f"r{round_}-{n}" for n in range(12)]
            await asyncio.gather(*(Note.create(text="burst", code=code) for code in codes))
            assert small.checked_out() == 0
        assert await Note.filter_by(text="burst").count() == 36
    finally:
        db.make_default()
    # The calls overlapped past the pool's size (on MySQL/MariaDB in the autocommit pool,
    # whose events reach the same listeners), and SQLAlchemy's pool would have closed the
    # overflow as it came back; here no connection was closed, and no more were opened
    # than the pool's bound.
    pools = 2 if db.engine.dialect.name == "mysql" else 1
    assert counts["close"] == 0 and 2 < counts["connect"] <= 6 * pools


async def test_connections_idle_past_their_time_are_closed(
    pooled: tuple[Database, Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    small, counts = pooled
    monkeypatch.setattr(sqlalchemy_pool, "KEEP_SPARE_SECONDS", 0.2)
    await _burst(small, 5)
    assert (_idle(small), counts["close"]) == (5, 0)
    await asyncio.sleep(0.3)
    async with small.engine.connect() as connection:  # a checkout closes the stale ones
        await connection.execute(text("SELECT 1"))
    assert counts == {"connect": 5, "close": 3}
    assert (_idle(small), small.checked_out()) == (2, 0)  # pool_size, as before the burst


async def test_kept_connections_count_toward_the_pool_bound(
    pooled: tuple[Database, Counter[str]],
) -> None:
    small, counts = pooled
    await _burst(small, 6)
    opened_at_most = 0

    async def call() -> None:
        nonlocal opened_at_most
        async with small.engine.connect() as connection:
            opened_at_most = max(opened_at_most, counts["connect"] - counts["close"])
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    async with asyncio.timeout(30):
        await asyncio.gather(*(call() for _ in range(20)))  # 14 wait for a place
    assert counts == {"connect": 6} and opened_at_most == 6
    assert (_idle(small), small.checked_out()) == (6, 0)


async def test_dispose_closes_the_kept_connections(
    pooled: tuple[Database, Counter[str]],
) -> None:
    small, counts = pooled
    await _burst(small, 6)
    await small.dispose()
    assert counts == {"connect": 6, "close": 6}
    assert (_idle(small), small.checked_out()) == (0, 0)
    await _burst(small, 3)  # the pool opens connections again after dispose()
    assert counts["connect"] == 9


async def test_kept_connections_the_server_ended_are_replaced(
    server_db: Database,
) -> None:
    url = server_db.url.render_as_string(hide_password=False)
    sizes = {"pool_size": 2, "max_overflow": 4, "pool_timeout": 30}
    small = Database(url, default=False, engine_options=sizes)
    try:
        backends = await _burst(small, 6, ids=True)  # 2 in the queue, 4 kept as spares
        for backend in backends:
            await end_backend(small, backend)
        await asyncio.sleep(1.1)  # idle past the ping's second (pool_pre_ping=True)
        # Each dead connection fails its ping at checkout and is replaced, unseen.
        replaced = await _burst(small, 6, ids=True)
        assert not set(replaced) & set(backends)
        assert small.checked_out() == 0
    finally:
        await small.dispose()
