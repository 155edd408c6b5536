"""Where the floor is under a single-row call: sqlrecord next to the layers below it.

``python -m benchmarks.floor --db postgres [--calls 1000] [--rounds 5]`` (inside
``.venv-bench``) times, in one process and alternating round by round, one INSERT and one
get by primary key per call, one call at a time, through:

- the raw driver (the ``raw`` contestant: hand-written SQL, autocommit);
- SQLAlchemy Core on a connection of its own (``connect()``, one ``execute``, commit,
  close) on sqlrecord's engine: the statement under sqlrecord's own-session calls,
  without the ORM session around it;
- sqlrecord (``Model.create(**row)`` and ``Model.get(pk)``, own sessions, as the docs teach);
- Tortoise ORM (``Model.create`` and ``get_or_none``);
- sqlrecord on each other driver of the database (psycopg, asyncmy), as its driver row.

It prints the median microseconds per call and each line's ratio to the Core line: how much
of a call is sqlrecord's own, and how much is the floor it stands on.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqlrecord import Database

from .contestants import DRIVER_ROWS, available, load
from .schema import NARROW, narrow_row, reset_schema
from .targets import POOL_SIZE, Target, target

__all__ = ["main"]

Call = Callable[[int], Awaitable[Any]]
CORE = "SQLAlchemy Core on sqlrecord's engine"


def _core_calls(bind: AsyncEngine) -> dict[str, Call]:
    """INSERT and get by key with SQLAlchemy Core, each on a connection of its own, on the
    engine sqlrecord's own sessions run a one-statement write or a read on
    (the database's autocommit engine: autocommit on SQLite and PostgreSQL, a transaction
    and its COMMIT on MySQL)."""
    add = insert(NARROW).returning(NARROW.c.id)
    by_key = select(*NARROW.columns)

    async def insert_one(n: int) -> Any:
        async with bind.connect() as connection:
            key = (await connection.execute(add, narrow_row(n))).scalar_one()
            await connection.commit()
            return key

    async def get_one(pk: int) -> Any:
        async with bind.connect() as connection:
            return (await connection.execute(by_key.where(NARROW.c.id == pk))).first()

    return {"insert": insert_one, "get": get_one}


async def _contestant_calls(name: str, where: Target) -> tuple[Any, dict[str, Call]]:
    contestant = load(name)
    await contestant.start(where)

    async def insert_one(n: int) -> Any:
        return await contestant.insert_one("narrow", narrow_row(n))

    async def get_one(pk: int) -> Any:
        return await contestant.get("narrow", pk)

    return contestant, {"insert": insert_one, "get": get_one}


async def _time(call: Call, keys: list[int]) -> float:
    gc.collect()
    started = time.perf_counter()
    for key in keys:
        await call(key)
    return (time.perf_counter() - started) / len(keys) * 1e6


async def measure(database: str, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median µs per call, by operation and layer."""
    where = target(database)
    engine = create_async_engine(where.sqlalchemy_url, pool_size=POOL_SIZE, max_overflow=0)
    await reset_schema(engine)
    await engine.dispose()
    pool = {"pool_size": POOL_SIZE, "max_overflow": 0}
    core = Database(where.sqlalchemy_url, default=False, engine_options=pool)
    layers: dict[str, dict[str, Call]] = {CORE: _core_calls(core._autocommit_engine)}
    started = []
    chosen = [("raw", "raw driver"), ("sqlrecord", "sqlrecord"), ("tortoise", "Tortoise")]
    chosen += [
        (name, f"sqlrecord ({driver})")
        for name, driver in DRIVER_ROWS.items()
        if name.startswith("sqlrecord") and available(name, where)
    ]
    for name, label in chosen:
        contestant, layer_calls = await _contestant_calls(name, where)
        started.append(contestant)
        layers[label] = layer_calls
    order = list(layers)
    times: dict[str, dict[str, list[float]]] = {
        op: {layer: [] for layer in order} for op in ("insert", "get")
    }
    try:
        next_key = 0
        for number in range(rounds + 1):  # the first round warms up
            rotated = order[number % len(order) :] + order[: number % len(order)]
            for layer in rotated:
                keys = list(range(next_key, next_key + calls))
                next_key += calls
                spent = await _time(layers[layer]["insert"], keys)
                # The rows just inserted have ids 1..next_key in some order: read back a spread.
                looked_up = await _time(
                    layers[layer]["get"], [1 + (key * 7919) % next_key for key in keys]
                )
                if number:
                    times["insert"][layer].append(spent)
                    times["get"][layer].append(looked_up)
    finally:
        for contestant in started:
            await contestant.stop()
        await core.dispose()
    return {
        op: {layer: statistics.median(values) for layer, values in by_layer.items()}
        for op, by_layer in times.items()
    }


def report(database: str, medians: dict[str, dict[str, float]]) -> str:
    """The medians as a markdown table, with each layer's ratio to Core."""
    lines = [
        f"Single-row calls on {database}, one at a time: median µs per call (ratio to Core)",
        "",
        "| layer | insert | get by key |",
        "|---|---|---|",
    ]
    for layer in medians["insert"]:
        cells = [
            f"{medians[op][layer]:.0f} ({medians[op][layer] / medians[op][CORE]:.2f}x)"
            for op in ("insert", "get")
        ]
        lines.append(f"| {layer} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main() -> None:
    """Command line: ``python -m benchmarks.floor --db postgres``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgres")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    print(report(options.db, asyncio.run(measure(options.db, options.calls, options.rounds))))


if __name__ == "__main__":
    main()
