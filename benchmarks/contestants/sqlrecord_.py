"""sqlrecord through its public API, exactly as its docs teach it.

Calls that pass no session use their own (opened, committed, closed per call); batches run
inside ``async with db.transaction(savepoints=False):``. Objects for updates and deletes come
from a query, as they would from an earlier request.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from sqlalchemy.orm import DeclarativeBase

import sqlrecord
from sqlrecord import CRUDMixin, Database

from ..targets import POOL_SIZE, Target
from ._models import declare
from .base import Contestant, Handle

__all__ = ["SqlrecordContestant"]


class _Declarative(DeclarativeBase):  # "your own base", as docs/models.md shows
    pass


class _Base(CRUDMixin, _Declarative):
    __abstract__ = True


MODELS = declare(_Base)
_COLUMNS = ("timestamp", "level", "text")


def _models_on(database: Database) -> dict[str, Any]:
    """The models again, on a base that names its own database (``__database__``, as
    docs/sessions.md shows): a driver row shares the process with the main row, whose
    ``Database`` is the default."""

    class Declarative(DeclarativeBase):
        pass

    class Base(CRUDMixin, Declarative):
        __abstract__ = True
        __database__ = database

    return declare(Base)


class SqlrecordContestant(Contestant):
    """sqlrecord models on a ``Database`` with the shared pool size, or (the defaults row)
    with nothing set."""

    name: ClassVar[str] = "sqlrecord"
    label: ClassVar[str] = "sqlrecord"

    async def start(self, target: Target) -> None:
        """``Database(url)`` with sqlrecord's defaults, and the shared pool size; a driver
        row's on its driver, for models of its own. The defaults row is ``Database(url)``
        and nothing else, on a URL that names no driver (sqlrecord takes the one its docs
        recommend: asyncmy on MariaDB); its pool is SQLAlchemy's, 5 connections and 10
        more on demand."""
        url = target.url_for(self.other_driver)
        if self.at_defaults:
            self.db = Database(target.driverless_url)
        else:
            pool = {"pool_size": POOL_SIZE, "max_overflow": 0}
            self.db = Database(url, engine_options=pool, default=self.other_driver is None)
        self.models = MODELS if self.other_driver is None else _models_on(self.db)

    async def stop(self) -> None:
        """``await db.dispose()``."""
        await self.db.dispose()

    def versions(self) -> dict[str, str]:
        """sqlrecord's version."""
        return {"sqlrecord": sqlrecord.__version__}

    async def handles(self, model: str, ids: list[Handle]) -> list[Handle]:
        """The objects, loaded with one query."""
        found = await self.models[model].filter_by(id__in=ids).order_by("id").all()
        return list(found)

    async def insert_one(self, model: str, row: dict[str, Any]) -> None:
        """A: ``Model.create(**row)`` in its own session (committed)."""
        await self.models[model].create(**row)

    async def insert_batch(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B: ``Model.bulk_create(rows, return_objects=True)``, as docs/models.md teaches for
        many new objects at once: one transaction, the objects come back with their ids."""
        await self.models[model].bulk_create(rows, return_objects=True)

    async def insert_each(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B-each: ``Model.create`` per row inside ``db.transaction(savepoints=False)``, as
        docs/sessions.md teaches for rows that need each id before the next row."""
        cls = self.models[model]
        async with self.db.transaction(savepoints=False):
            for row in rows:
                await cls.create(**row)

    async def bulk_insert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """C: ``Model.bulk_create(rows)``."""
        await self.models[model].bulk_create(rows)

    async def filter_many(self, model: str, upto: int) -> int:
        """D: ``Model.filter_by(id__lte=upto).all()``."""
        return len(await self.models[model].filter_by(id__lte=upto).all())

    async def filter_page(self, model: str, item: tuple[int, int]) -> int:
        """E: ``filter_by(level=…).order_by("id").limit(20).offset(…)``."""
        level, offset = item
        query = self.models[model].filter_by(level=level).order_by("id").limit(20).offset(offset)
        return len(await query.all())

    async def get(self, model: str, pk: int) -> int:
        """F: ``Model.get(pk)``."""
        return int(await self.models[model].get(pk) is not None)

    async def get_hit(self, model: str, pks: list[int]) -> int:
        """``Model.get(pk)`` repeatedly inside one ``db.transaction()``."""
        cls, held = self.models[model], []
        async with self.db.transaction():
            for pk in pks:
                held.append(await cls.get(pk))  # held: the identity map's references are weak
        return sum(obj is not None for obj in held)

    async def values_dicts(self, model: str, upto: int) -> int:
        """G: ``.values(...)``."""
        return len(await self.models[model].filter_by(id__lte=upto).values(*_COLUMNS))

    async def values_tuples(self, model: str, upto: int) -> int:
        """H: ``.values_list(...)``."""
        return len(await self.models[model].filter_by(id__lte=upto).values_list(*_COLUMNS))

    async def update_whole(self, model: str, item: tuple[Any, dict[str, Any]]) -> None:
        """I: ``obj.update(**every_column)``."""
        obj, row = item
        await obj.update(**row)

    async def update_field(self, model: str, item: tuple[Any, int]) -> None:
        """J: ``obj.update(level=…)``."""
        obj, level = item
        await obj.update(level=level)

    async def update_by_key(self, model: str, item: tuple[int, int]) -> None:
        """J-query: ``Model.filter_by(id=pk).update(level=…)``, no object loaded."""
        pk, level = item
        await self.models[model].filter_by(id=pk).update(level=level)

    async def delete_by_key(self, model: str, pk: int) -> None:
        """K-query: ``Model.filter_by(id=pk).delete()``."""
        await self.models[model].filter_by(id=pk).delete()

    async def delete(self, model: str, obj: Any) -> None:
        """K: ``obj.delete()``."""
        await obj.delete()

    async def eager(self, model: str, parents: int) -> int:
        """``Parent.load("children").all()``."""
        loaded = await self.models["parent"].load("children").all()
        return len(loaded) + sum(len(p.children) for p in loaded)

    async def upsert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """``Model.upsert(rows, conflict=["key"], update=["level", "text"])``."""
        await self.models[model].upsert(rows, conflict=["key"], update=["level", "text"])

    async def count_exists(self, model: str, level: int) -> int:
        """``query.count()`` and ``query.exists()``."""
        query = self.models[model].filter_by(level=level)
        total = await query.count()
        await query.exists()
        return total

    async def page_offset(self, model: str, page: int) -> int:
        """``order_by("id").paginate(page=…, per_page=20)``."""
        found = await self.models[model].order_by("id").paginate(page=page, per_page=20)
        return len(found.items)

    async def page_cursor(self, model: str, pages: int) -> int:
        """Walk ``order_by("id").cursor(limit=20, after=…)``."""
        cls, after, seen = self.models[model], None, 0
        for _ in range(pages):
            found = await cls.order_by("id").cursor(limit=20, after=after)
            seen += len(found.items)
            after = found.next_cursor
        return seen

    async def stream(self, model: str, upto: int) -> int:
        """``filter_by(...).stream(batch_size=1000)`` under ``contextlib.aclosing``."""
        seen = 0
        query = self.models[model].filter_by(id__lte=upto)
        async with contextlib.aclosing(query.stream(batch_size=1000)) as rows:
            async for _row in rows:
                seen += 1
        return seen
