"""The benchmark tables, their rows, and the untimed setup that fills them.

Every contestant maps its own classes onto these same tables; the DDL is created once here
from SQLAlchemy Core, so all contestants read and write identical schemas.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    insert,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "CHILD",
    "NARROW",
    "PARENT",
    "UPSERT",
    "WIDE",
    "WIDE_FIELDS",
    "metadata",
    "narrow_row",
    "reset_schema",
    "seed",
    "seed_parents",
    "truncate",
    "upsert_row",
    "wide_row",
]

metadata = MetaData()

#: Narrow (4 columns), the orm-benchmarks "Journal" shape.
NARROW = Table(
    "bench_narrow",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timestamp", DateTime, nullable=False),
    Column("level", SmallInteger, nullable=False, index=True),
    Column("text", String(255), nullable=False, index=True),
)

#: (name, type) of the wide model's 30 data columns (31 with the primary key).
WIDE_FIELDS: list[tuple[str, Any]] = (
    [(f"int_{n}", Integer) for n in range(10)]
    + [(f"str_{n}", String(50)) for n in range(10)]
    + [(f"float_{n}", Float) for n in range(5)]
    + [(f"flag_{n}", Boolean) for n in range(3)]
    + [(f"moment_{n}", DateTime) for n in range(2)]
)

WIDE = Table(
    "bench_wide",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *(Column(name, type_, nullable=False) for name, type_ in WIDE_FIELDS),
)

PARENT = Table(
    "bench_parent",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False),
)

CHILD = Table(
    "bench_child",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("parent_id", Integer, ForeignKey("bench_parent.id"), nullable=False, index=True),
    Column("name", String(50), nullable=False),
)

UPSERT = Table(
    "bench_upsert",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("level", Integer, nullable=False),
    Column("text", String(255), nullable=False),
)

_MOMENT = dt.datetime(2024, 1, 2, 3, 4, 5)


def narrow_row(n: int) -> dict[str, Any]:
    """The n-th row of the narrow table (no primary key: the database assigns it)."""
    return {"timestamp": _MOMENT, "level": n % 10, "text": f"Insert from benchmark, item {n}"}


def wide_row(n: int) -> dict[str, Any]:
    """The n-th row of the wide table."""
    row: dict[str, Any] = {}
    for name, type_ in WIDE_FIELDS:
        if type_ is Integer:
            row[name] = n + len(row)
        elif type_ is Float:
            row[name] = n / 7 + len(row)
        elif type_ is Boolean:
            row[name] = (n + len(row)) % 2 == 0
        elif type_ is DateTime:
            row[name] = _MOMENT
        else:
            row[name] = f"{name} value {n}"
    return row


def upsert_row(n: int) -> dict[str, Any]:
    """The n-th row of the upsert table, keyed by ``key``."""
    return {"key": f"key-{n}", "level": n % 10, "text": f"upsert {n}"}


async def reset_schema(engine: AsyncEngine) -> None:
    """Drop and create the benchmark tables (a SQLite file's journal mode is left to the
    contestant: each runs at its library's own settings, ``targets.contestant_target``)."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)


async def truncate(engine: AsyncEngine, *tables: Table) -> None:
    """Empty tables and restart their id sequences at 1."""
    name = engine.dialect.name
    async with engine.begin() as connection:
        for table in tables:
            if name == "postgresql":
                await connection.execute(text(f"TRUNCATE {table.name} RESTART IDENTITY CASCADE"))
            elif name in ("mysql", "mariadb"):
                await connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
                await connection.exec_driver_sql(f"TRUNCATE TABLE {table.name}")
                await connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
            else:
                # No AUTOINCREMENT keyword: an empty table starts again at rowid 1.
                await connection.exec_driver_sql(f"DELETE FROM {table.name}")


async def seed(engine: AsyncEngine, table: Table, rows: list[dict[str, Any]]) -> None:
    """Empty ``table`` and insert ``rows`` (ids 1..len(rows)), in chunks."""
    await truncate(engine, table)
    async with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            await connection.execute(insert(table), rows[start : start + 5000])


async def seed_parents(engine: AsyncEngine, parents: int, children: int) -> None:
    """``parents`` parents with ``children`` children each."""
    await truncate(engine, CHILD, PARENT)
    async with engine.begin() as connection:
        await connection.execute(insert(PARENT), [{"name": f"parent {n}"} for n in range(parents)])
        await connection.execute(
            insert(CHILD),
            [
                {"parent_id": p + 1, "name": f"child {p}.{c}"}
                for p in range(parents)
                for c in range(children)
            ],
        )
