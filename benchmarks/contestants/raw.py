"""The raw async driver (aiosqlite, asyncpg or aiomysql): hand-written SQL, driver rows."""

from __future__ import annotations

import functools
from importlib.metadata import version
from typing import Any, ClassVar

from ..schema import WIDE_FIELDS
from ..targets import Target
from ._drivers import Driver, open_driver
from .base import Contestant

__all__ = ["RawContestant"]

_TABLES = {"narrow": "bench_narrow", "wide": "bench_wide", "upsert": "bench_upsert"}
_FIELDS = {
    "narrow": ["timestamp", "level", "text"],
    "wide": [name for name, _type in WIDE_FIELDS],
    "upsert": ["key", "level", "text"],
}


def _names(fields: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in fields)


class RawContestant(Contestant):
    """Hand-written SQL on the driver's own pool; no objects, no statement builder."""

    name: ClassVar[str] = "raw"
    label: ClassVar[str] = "raw driver"
    not_available: ClassVar[dict[str, str]] = {"get_hit": "no identity map"}

    async def start(self, target: Target) -> None:
        """A driver pool of the shared size."""
        self.driver: Driver = await open_driver(target)
        self.dialect = target.name

    async def stop(self) -> None:
        """Close the pool."""
        await self.driver.close()

    def versions(self) -> dict[str, str]:
        """The driver's version."""
        return {self.driver.name: version(self.driver.name)}

    @functools.cache  # noqa: B019 - a handful of statements per contestant, kept for its life
    def _sql(self, statement: str) -> str:
        return self.driver.sql(statement)

    def _insert(self, model: str) -> str:
        fields = _FIELDS[model]
        marks = ", ".join("?" for _ in fields)
        return self._sql(f'INSERT INTO "{_TABLES[model]}" ({_names(fields)}) VALUES ({marks})')

    def _args(self, model: str, row: dict[str, Any]) -> tuple[Any, ...]:
        value = self.driver.value
        return tuple(value(row[name]) for name in _FIELDS[model])

    async def insert_one(self, model: str, row: dict[str, Any]) -> None:
        """A: one INSERT in autocommit."""
        async with self.driver.acquire() as connection:
            await self.driver.execute(connection, self._insert(model), self._args(model, row))

    async def insert_batch(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B: one INSERT per row between BEGIN and COMMIT."""
        sql, execute = self._insert(model), self.driver.execute
        async with self.driver.acquire() as connection:
            await execute(connection, "BEGIN")
            for row in rows:
                await execute(connection, sql, self._args(model, row))
            await execute(connection, "COMMIT")

    async def insert_each(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B-each: the same as B (one INSERT per row)."""
        await self.insert_batch(model, rows)

    async def bulk_insert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """C: executemany between BEGIN and COMMIT."""
        args = [self._args(model, row) for row in rows]
        async with self.driver.acquire() as connection:
            await self.driver.execute(connection, "BEGIN")
            await self.driver.executemany(connection, self._insert(model), args)
            await self.driver.execute(connection, "COMMIT")

    async def _fetch(self, statement: str, *args: Any) -> list[Any]:
        async with self.driver.acquire() as connection:
            return await self.driver.fetch(connection, self._sql(statement), args)

    async def filter_many(self, model: str, upto: int) -> int:
        """D: every column of rows with id <= upto."""
        return len(await self._fetch(f'SELECT * FROM "{_TABLES[model]}" WHERE "id" <= ?', upto))

    async def filter_page(self, model: str, item: tuple[int, int]) -> int:
        """E: 20 rows of one level, by offset."""
        level, offset = item
        sql = f'SELECT * FROM "{_TABLES[model]}" WHERE "level" = ? ORDER BY "id" LIMIT 20 OFFSET ?'
        return len(await self._fetch(sql, level, offset))

    async def get(self, model: str, pk: int) -> int:
        """F: SELECT by primary key."""
        return len(await self._fetch(f'SELECT * FROM "{_TABLES[model]}" WHERE "id" = ?', pk))

    async def values_dicts(self, model: str, upto: int) -> int:
        """G: three columns, each row made a dict."""
        fields = _FIELDS["narrow"]
        sql = f'SELECT {_names(fields)} FROM "{_TABLES[model]}" WHERE "id" <= ?'
        return len([dict(zip(fields, row, strict=True)) for row in await self._fetch(sql, upto)])

    async def values_tuples(self, model: str, upto: int) -> int:
        """H: three columns as the driver's rows."""
        sql = f'SELECT {_names(_FIELDS["narrow"])} FROM "{_TABLES[model]}" WHERE "id" <= ?'
        return len(await self._fetch(sql, upto))

    async def _write(self, statement: str, *args: Any) -> None:
        async with self.driver.acquire() as connection:
            await self.driver.execute(connection, self._sql(statement), args)

    async def update_whole(self, model: str, item: tuple[int, dict[str, Any]]) -> None:
        """I: UPDATE every column by primary key."""
        pk, row = item
        sets = ", ".join(f'"{name}" = ?' for name in _FIELDS[model])
        sql = f'UPDATE "{_TABLES[model]}" SET {sets} WHERE "id" = ?'
        await self._write(sql, *self._args(model, row), pk)

    async def update_field(self, model: str, item: tuple[int, int]) -> None:
        """J: UPDATE one column by primary key."""
        pk, level = item
        await self._write(f'UPDATE "{_TABLES[model]}" SET "level" = ? WHERE "id" = ?', level, pk)

    async def delete(self, model: str, pk: int) -> None:
        """K: DELETE by primary key."""
        await self._write(f'DELETE FROM "{_TABLES[model]}" WHERE "id" = ?', pk)

    async def update_by_key(self, model: str, item: tuple[int, int]) -> None:
        """J-query: the same UPDATE by primary key as J (a statement already)."""
        await self.update_field(model, item)

    async def delete_by_key(self, model: str, pk: int) -> None:
        """K-query: the same DELETE by primary key as K (a statement already)."""
        await self.delete(model, pk)

    async def eager(self, model: str, parents: int) -> int:
        """Parents, then their children by IN, grouped by parent id."""
        async with self.driver.acquire() as connection:
            found = await self.driver.fetch(connection, self._sql('SELECT * FROM "bench_parent"'))
            ids = [row[0] for row in found]
            marks = ", ".join("?" for _ in ids)
            sql = self.driver.sql(f'SELECT * FROM "bench_child" WHERE "parent_id" IN ({marks})')
            children = await self.driver.fetch(connection, sql, ids)
        grouped: dict[int, list[Any]] = {pk: [] for pk in ids}
        for child in children:
            grouped[child[1]].append(child)
        return len(found) + sum(len(group) for group in grouped.values())

    async def upsert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """INSERT … ON CONFLICT / ON DUPLICATE KEY UPDATE, executemany."""
        if self.dialect == "mysql":
            tail = 'ON DUPLICATE KEY UPDATE "level" = VALUES("level"), "text" = VALUES("text")'
        else:
            tail = (
                'ON CONFLICT ("key") DO UPDATE SET "level" = excluded."level", '
                '"text" = excluded."text"'
            )
        fields = _FIELDS[model]
        marks = ", ".join("?" for _ in fields)
        sql = self._sql(
            f'INSERT INTO "{_TABLES[model]}" ({_names(fields)}) VALUES ({marks}) {tail}'
        )
        args = [self._args(model, row) for row in rows]
        async with self.driver.acquire() as connection:
            await self.driver.execute(connection, "BEGIN")
            await self.driver.executemany(connection, sql, args)
            await self.driver.execute(connection, "COMMIT")

    async def count_exists(self, model: str, level: int) -> int:
        """A count and an EXISTS for one level, on one connection."""
        table = _TABLES[model]
        async with self.driver.acquire() as connection:
            count_sql = self._sql(f'SELECT count(*) FROM "{table}" WHERE "level" = ?')
            total = (await self.driver.fetch(connection, count_sql, (level,)))[0][0]
            exists_sql = self._sql(f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE "level" = ?)')
            await self.driver.fetch(connection, exists_sql, (level,))
        return int(total)

    async def page_offset(self, model: str, page: int) -> int:
        """A count plus one page of 20 by offset, on one connection."""
        table = _TABLES[model]
        async with self.driver.acquire() as connection:
            await self.driver.fetch(connection, self._sql(f'SELECT count(*) FROM "{table}"'))
            sql = self._sql(f'SELECT * FROM "{table}" ORDER BY "id" LIMIT 20 OFFSET ?')
            return len(await self.driver.fetch(connection, sql, ((page - 1) * 20,)))

    async def page_cursor(self, model: str, pages: int) -> int:
        """Walk keyset pages of 20 (id > last, one extra row), one checkout per page."""
        last, seen = 0, 0
        sql = f'SELECT * FROM "{_TABLES[model]}" WHERE "id" > ? ORDER BY "id" LIMIT 21'
        for _ in range(pages):
            rows = (await self._fetch(sql, last))[:20]
            seen += len(rows)
            last = rows[-1][0]
        return seen

    async def stream(self, model: str, upto: int) -> int:
        """A server-side cursor (SQLite: fetchmany), 1,000 rows at a time."""
        seen = 0
        sql = self._sql(f'SELECT * FROM "{_TABLES[model]}" WHERE "id" <= ?')
        async with self.driver.acquire() as connection:
            async for _row in self.driver.stream(connection, sql, (upto,), 1000):
                seen += 1
        return seen
