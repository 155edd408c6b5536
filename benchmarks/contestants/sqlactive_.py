"""sqlactive (async ActiveRecord on SQLAlchemy) as its docs show it.

Models mix ``ActiveRecordMixin`` into a declarative base (no timestamp columns, so the tables
stay the same as everyone else's); the session is an ``async_scoped_session`` per task, set on
the base with ``set_session``.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any, ClassVar

from sqlactive import ActiveRecordMixin
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, selectinload

from ..targets import POOL_SIZE, Target
from ._models import declare
from .base import Contestant, Handle

__all__ = ["SqlactiveContestant"]


class _Declarative(DeclarativeBase):
    pass


class _Base(ActiveRecordMixin, _Declarative):
    __abstract__ = True


MODELS = declare(_Base)
_COLUMNS = ("timestamp", "level", "text")


class SqlactiveContestant(Contestant):
    """sqlactive models over one scoped session factory."""

    name: ClassVar[str] = "sqlactive"
    label: ClassVar[str] = "sqlactive"
    not_available: ClassVar[dict[str, str]] = {
        "get_hit": "every call opens and closes its own session: no identity map to hit",
        "insert_each": "create() commits each row; several rows share a transaction only in "
        "insert_all(), which is B",
        "values_dicts": "no values-as-dicts API",
        "upsert": "no upsert API",
        "count_exists": "no exists() API",
        "update_by_key": "no UPDATE by query: update() is an object's",
        "stream": "no streaming API",
    }

    async def start(self, target: Target) -> None:
        """Engine with the shared pool size; a task-scoped session set on the base."""
        self.engine: AsyncEngine = create_async_engine(
            target.sqlalchemy_url, pool_size=POOL_SIZE, max_overflow=0
        )
        factory = async_sessionmaker(self.engine, expire_on_commit=False)
        _Base.set_session(async_scoped_session(factory, scopefunc=asyncio.current_task))

    async def stop(self) -> None:
        """Dispose of the engine."""
        await self.engine.dispose()

    def versions(self) -> dict[str, str]:
        """sqlactive's version."""
        return {"sqlactive": version("sqlactive")}

    async def handles(self, model: str, ids: list[Handle]) -> list[Handle]:
        """The objects, loaded with one query."""
        return list(await MODELS[model].filter(id__in=ids).order_by("id").all())

    async def insert_one(self, model: str, row: dict[str, Any]) -> None:
        """A: ``Model.insert(**row)`` (commit, then refresh)."""
        await MODELS[model].insert(**row)

    async def insert_batch(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B: ``Model.insert_all(objects)``: one transaction."""
        cls = MODELS[model]
        await cls.insert_all([cls(**row) for row in rows])

    async def bulk_insert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """C: ``Model.insert_all(objects)``, its only bulk API."""
        cls = MODELS[model]
        await cls.insert_all([cls(**row) for row in rows])

    async def filter_many(self, model: str, upto: int) -> int:
        """D: ``Model.filter(id__le=upto).all()``."""
        return len(await MODELS[model].filter(id__le=upto).all())

    async def filter_page(self, model: str, item: tuple[int, int]) -> int:
        """E: ``filter(level=…).order_by("id").limit(20).offset(…).all()``."""
        level, offset = item
        query = MODELS[model].filter(level=level).order_by("id").limit(20).offset(offset)
        return len(await query.all())

    async def get(self, model: str, pk: int) -> int:
        """F: ``Model.get(pk)``."""
        return int(await MODELS[model].get(pk) is not None)

    async def values_tuples(self, model: str, upto: int) -> int:
        """H: ``Model.select(columns).filter(...).all(scalars=False)``."""
        cls = MODELS[model]
        columns = [getattr(cls, name) for name in _COLUMNS]
        return len(await cls.select(*columns).filter(id__le=upto).all(scalars=False))

    async def update_whole(self, model: str, item: tuple[Any, dict[str, Any]]) -> None:
        """I: ``obj.update(**every_column)`` (commit, then refresh)."""
        obj, row = item
        await obj.update(**row)

    async def update_field(self, model: str, item: tuple[Any, int]) -> None:
        """J: ``obj.update(level=…)``."""
        obj, level = item
        await obj.update(level=level)

    async def delete_by_key(self, model: str, pk: int) -> None:
        """K-query: ``Model.destroy(pk)``, its delete by primary key."""
        await MODELS[model].destroy(pk)

    async def delete(self, model: str, obj: Any) -> None:
        """K: ``obj.delete()``."""
        await obj.delete()

    async def eager(self, model: str, parents: int) -> int:
        """``Parent.options(selectinload(Parent.children)).all()``."""
        parent = MODELS["parent"]
        loaded = await parent.options(selectinload(parent.children)).all()
        return len(loaded) + sum(len(p.children) for p in loaded)

    async def page_offset(self, model: str, page: int) -> int:
        """``count()`` plus ``order_by("id").offset(…).limit(20).all()``."""
        cls = MODELS[model]
        await cls.count()
        return len(await cls.order_by("id").offset((page - 1) * 20).limit(20).all())

    async def page_cursor(self, model: str, pages: int) -> int:
        """Walk keyset pages: ``filter(id__gt=last).order_by("id").limit(21).all()``."""
        cls, last, seen = MODELS[model], 0, 0
        for _ in range(pages):
            rows = list(await cls.filter(id__gt=last).order_by("id").limit(21).all())[:20]
            seen += len(rows)
            last = rows[-1].id
        return seen
