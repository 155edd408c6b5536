"""SQLAlchemy Core (async): statements on Table objects, rows without ORM objects."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy
from sqlalchemy import Table, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..schema import CHILD, NARROW, PARENT, UPSERT, WIDE
from ..targets import POOL_SIZE, Target
from ._dialect import upsert_statement
from .base import Contestant

__all__ = ["CoreContestant"]

TABLES: dict[str, Table] = {"narrow": NARROW, "wide": WIDE, "upsert": UPSERT}
_COLUMNS = ("timestamp", "level", "text")


class CoreContestant(Contestant):
    """SQLAlchemy Core over AsyncConnection."""

    name: ClassVar[str] = "core"
    label: ClassVar[str] = "SQLAlchemy Core"
    not_available: ClassVar[dict[str, str]] = {
        "get_hit": "Core has no identity map",
    }

    async def start(self, target: Target) -> None:
        """An engine with the shared pool size."""
        self.engine: AsyncEngine = create_async_engine(
            target.sqlalchemy_url, pool_size=POOL_SIZE, max_overflow=0
        )

    async def stop(self) -> None:
        """Dispose of the engine."""
        await self.engine.dispose()

    def versions(self) -> dict[str, str]:
        """SQLAlchemy's version."""
        return {"sqlalchemy": sqlalchemy.__version__}

    async def insert_one(self, model: str, row: dict[str, Any]) -> None:
        """A: one INSERT, committed."""
        async with self.engine.begin() as connection:
            await connection.execute(insert(TABLES[model]), row)

    async def insert_batch(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B: one INSERT per row in one transaction."""
        statement = insert(TABLES[model])
        async with self.engine.begin() as connection:
            for row in rows:
                await connection.execute(statement, row)

    async def insert_each(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B-each: the same as B (one INSERT per row)."""
        await self.insert_batch(model, rows)

    async def bulk_insert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """C: one executemany INSERT."""
        async with self.engine.begin() as connection:
            await connection.execute(insert(TABLES[model]), rows)

    async def filter_many(self, model: str, upto: int) -> int:
        """D: rows with id <= upto."""
        table = TABLES[model]
        async with self.engine.connect() as connection:
            return len((await connection.execute(select(table).where(table.c.id <= upto))).all())

    async def filter_page(self, model: str, item: tuple[int, int]) -> int:
        """E: 20 rows of one level, by offset."""
        table, (level, offset) = TABLES[model], item
        statement = (
            select(table).where(table.c.level == level).order_by(table.c.id).limit(20)
        ).offset(offset)
        async with self.engine.connect() as connection:
            return len((await connection.execute(statement)).all())

    async def get(self, model: str, pk: int) -> int:
        """F: SELECT by primary key."""
        table = TABLES[model]
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(table).where(table.c.id == pk))).first()
        return int(row is not None)

    async def values_dicts(self, model: str, upto: int) -> int:
        """G: three columns as mappings."""
        table = TABLES[model]
        statement = select(*(table.c[name] for name in _COLUMNS)).where(table.c.id <= upto)
        async with self.engine.connect() as connection:
            return len((await connection.execute(statement)).mappings().all())

    async def values_tuples(self, model: str, upto: int) -> int:
        """H: three columns as rows."""
        table = TABLES[model]
        statement = select(*(table.c[name] for name in _COLUMNS)).where(table.c.id <= upto)
        async with self.engine.connect() as connection:
            return len((await connection.execute(statement)).all())

    async def update_whole(self, model: str, item: tuple[int, dict[str, Any]]) -> None:
        """I: UPDATE every column by primary key."""
        table, (pk, row) = TABLES[model], item
        async with self.engine.begin() as connection:
            await connection.execute(update(table).where(table.c.id == pk).values(**row))

    async def update_field(self, model: str, item: tuple[int, int]) -> None:
        """J: UPDATE one column by primary key."""
        table, (pk, level) = TABLES[model], item
        async with self.engine.begin() as connection:
            await connection.execute(update(table).where(table.c.id == pk).values(level=level))

    async def delete(self, model: str, pk: int) -> None:
        """K: DELETE by primary key."""
        table = TABLES[model]
        async with self.engine.begin() as connection:
            await connection.execute(delete(table).where(table.c.id == pk))

    async def update_by_key(self, model: str, item: tuple[int, int]) -> None:
        """J-query: the same UPDATE by primary key as J (a statement already)."""
        await self.update_field(model, item)

    async def delete_by_key(self, model: str, pk: int) -> None:
        """K-query: the same DELETE by primary key as K (a statement already)."""
        await self.delete(model, pk)

    async def eager(self, model: str, parents: int) -> int:
        """Parents, then their children by IN, grouped by parent id."""
        async with self.engine.connect() as connection:
            found = (await connection.execute(select(PARENT))).all()
            children = (
                await connection.execute(
                    select(CHILD).where(CHILD.c.parent_id.in_([p.id for p in found]))
                )
            ).all()
        grouped: dict[int, list[Any]] = {p.id: [] for p in found}
        for child in children:
            grouped[child.parent_id].append(child)
        return len(found) + sum(len(group) for group in grouped.values())

    async def upsert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """INSERT … ON CONFLICT / ON DUPLICATE KEY UPDATE, executemany."""
        statement = upsert_statement(self.engine.dialect.name, TABLES[model], ["level", "text"])
        async with self.engine.begin() as connection:
            await connection.execute(statement, rows)

    async def count_exists(self, model: str, level: int) -> int:
        """A count and an EXISTS for one level."""
        table = TABLES[model]
        async with self.engine.connect() as connection:
            total = await connection.scalar(select(func.count()).where(table.c.level == level))
            await connection.scalar(select(exists().where(table.c.level == level)))
        return int(total or 0)

    async def page_offset(self, model: str, page: int) -> int:
        """A count plus one page of 20 by offset."""
        table = TABLES[model]
        async with self.engine.connect() as connection:
            await connection.scalar(select(func.count()).select_from(table))
            statement = select(table).order_by(table.c.id).limit(20).offset((page - 1) * 20)
            return len((await connection.execute(statement)).all())

    async def page_cursor(self, model: str, pages: int) -> int:
        """Walk keyset pages of 20, one connection checkout per page."""
        table, last, seen = TABLES[model], 0, 0
        for _ in range(pages):
            statement = select(table).where(table.c.id > last).order_by(table.c.id).limit(21)
            async with self.engine.connect() as connection:
                rows = (await connection.execute(statement)).all()[:20]
            seen += len(rows)
            last = rows[-1].id
        return seen

    async def stream(self, model: str, upto: int) -> int:
        """Server-side cursor, rows fetched 1,000 at a time."""
        table, seen = TABLES[model], 0
        statement = select(table).where(table.c.id <= upto).execution_options(yield_per=1000)
        async with self.engine.connect() as connection:
            result = await connection.stream(statement)
            async for _row in result:
                seen += 1
        return seen
